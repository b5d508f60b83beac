package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
)

// msgHostile are what a plugin (a third-party one, or one reflecting
// what it was sent) could put in its status, and what a customer could
// have in their name or a message subject.
var msgHostile = []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `' hx-get="/admin" hx-trigger="load`, "\u202Eevil", "bad\xffutf8"}

func msgCheckEscaped(t *testing.T, body string) {
	t.Helper()
	for _, bad := range []string{"<script>alert(1)", "<img src=x", `hx-get="/admin"`, "\u202E", "\xff"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
}

func TestPluginPages(t *testing.T) {
	a := newMsgApp(t, false)
	h := a.host
	h.st[0].LastError = strings.Join(msgHostile, " ")
	h.st[0].Health = msgHostile[1]
	h.st[1].DisabledReason = msgHostile[2]
	h.st[1].Grants.CustomerFields = append(h.st[1].Grants.CustomerFields, msgHostile[0])
	admin := custUI_signIn(t, a.app, core.RoleAdmin)

	rec := admin.get(t, "/admin/plugins", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `href="/admin/plugins/hook"`) || !strings.Contains(body, "third-party") ||
		!strings.Contains(body, "4242") || !strings.Contains(body, "built-in") || !strings.Contains(body, `action="/admin/plugins/third/enable"`) {
		t.Fatalf("list: %d %s", rec.Code, body)
	}
	msgCheckEscaped(t, body)

	rec = admin.get(t, "/admin/plugins/hook", nil)
	body = rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("detail: %d %s", rec.Code, body)
	}
	for _, want := range []string{`name="f.url"`, `type="password"`, `<select id="cf-mode"`, `type="checkbox" id="cf-verbose"`,
		`step="1" min="0" max="10"`, `&lt;b&gt;messages&lt;/b&gt;`, "not set"} {
		if !strings.Contains(body, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	msgCheckEscaped(t, body)

	post := func(form url.Values) string {
		rec := admin.post(t, "/admin/plugins/hook/config", form, true, false)
		if rec.Code != 303 && rec.Code != 422 {
			t.Fatalf("config post: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	// Errors are shown at their fields, with 422, and nothing is saved.
	out := post(url.Values{"f.url": {"https://x.example"}, "f.retries": {"eleven"}, "f.headers": {"no equals sign"}})
	if !strings.Contains(out, `id="retries-error"`) || !strings.Contains(out, `id="headers-error"`) || !strings.Contains(out, `aria-invalid="true"`) {
		t.Errorf("field errors not shown: %s", out)
	}
	out = post(url.Values{"f.url": {"https://x.example"}, "f.retries": {"11"}})
	if !strings.Contains(out, `id="retries-error"`) || !strings.Contains(out, `id="secret-error"`) {
		t.Errorf("schema errors not at their fields: %s", out)
	}
	if st, err := a.db.GetPluginSettings(context.Background(), "hook"); err == nil {
		t.Fatalf("saved after errors: %s", st.Config)
	}
	// A good one is saved; the secret never comes back to the page.
	rec = admin.post(t, "/admin/plugins/hook/config", url.Values{"f.url": {"https://x.example"}, "f.secret": {"whsec_PAGESECRET"},
		"f.mode": {"fast"}, "f.retries": {"3"}, "f.verbose": {"true"}, "f.words": {"a\n\n b \n"}, "f.headers": {"X-Key = 1\nX-Other=two"}}, true, false)
	if rec.Code != 303 {
		t.Fatalf("save: %d %s", rec.Code, rec.Body)
	}
	st, _ := a.db.GetPluginSettings(context.Background(), "hook")
	for _, want := range []string{`"secret":"whsec_PAGESECRET"`, `"retries":3`, `"verbose":true`, `"words":["a","b"]`, `"X-Other":"two"`, `"mode":"fast"`} {
		if !strings.Contains(string(st.Config), want) {
			t.Errorf("stored %s lacks %s", st.Config, want)
		}
	}
	body = admin.get(t, "/admin/plugins/hook", nil).Body.String()
	if strings.Contains(body, "PAGESECRET") || !strings.Contains(body, `<span class="badge ok">set</span>`) || !strings.Contains(body, `value="3"`) {
		t.Errorf("after save: secret shown or values missing")
	}
	// Saving again with the secret left empty keeps it; the plugin's own
	// refusal is shown and nothing changes.
	if rec := admin.post(t, "/admin/plugins/hook/config", url.Values{"f.url": {"https://y.example"}}, true, false); rec.Code != 303 {
		t.Fatalf("resave: %d", rec.Code)
	}
	st, _ = a.db.GetPluginSettings(context.Background(), "hook")
	if !strings.Contains(string(st.Config), "PAGESECRET") || !strings.Contains(string(st.Config), "y.example") {
		t.Errorf("after resave %s", st.Config)
	}
	h.refuse = "url: must be https <script>alert(1)</script>"
	rec = admin.post(t, "/admin/plugins/hook/config", url.Values{"f.url": {"http://plain"}}, true, false)
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "must be https") {
		t.Errorf("refusal: %d", rec.Code)
	}
	msgCheckEscaped(t, rec.Body.String())
	h.refuse = ""
	if st2, _ := a.db.GetPluginSettings(context.Background(), "hook"); string(st2.Config) != string(st.Config) {
		t.Error("a refused config was saved")
	}
	// Without the CSRF token nothing happens.
	if rec := admin.post(t, "/admin/plugins/hook/config", url.Values{"f.url": {"https://z.example"}}, false, false); rec.Code != 403 {
		t.Errorf("without csrf: %d", rec.Code)
	}

	// Grants of the third-party plugin, and the switches.
	if rec := admin.post(t, "/admin/plugins/third/grants", url.Values{"field": {"email"}, "capability": {"kv"}}, true, false); rec.Code != 303 {
		t.Fatalf("grants: %d %s", rec.Code, rec.Body)
	}
	if rec := admin.post(t, "/admin/plugins/third/grants", url.Values{"field": {"phones"}}, true, false); rec.Code != 400 {
		t.Errorf("grant not asked for: %d", rec.Code)
	}
	body = admin.get(t, "/admin/plugins/third", nil).Body.String()
	if !strings.Contains(body, `name="field" value="email" checked`) || strings.Contains(body, `name="field" value="tags" checked`) {
		t.Errorf("grants form: %s", body)
	}
	msgCheckEscaped(t, body)
	if rec := admin.post(t, "/admin/plugins/hook/disable", url.Values{"reason": {"maintenance"}, "from": {"detail"}}, true, false); rec.Code != 303 ||
		rec.Header().Get("Location") != "/admin/plugins/hook?done=disabled" {
		t.Errorf("disable: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := admin.post(t, "/admin/plugins/hook/enable", nil, true, false); rec.Code != 303 {
		t.Errorf("enable: %d", rec.Code)
	}
	if rec := admin.get(t, "/admin/plugins/nope", nil); rec.Code != 404 {
		t.Errorf("unknown plugin page: %d", rec.Code)
	}
}

func TestPluginPagesOff(t *testing.T) {
	a := newApp(t)
	admin := custUI_signIn(t, a, core.RoleAdmin)
	rec := admin.get(t, "/admin/plugins", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Plugins are not running") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}
