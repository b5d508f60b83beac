package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/retain-crm/retain/core"
)

// The admin pages and the account page, black-box through the real
// handler on a real store: each page for each role, every action's effect
// and its audit entry, the guard rails, secrets shown once, hostile values.

// adminUI_signedIn opens an app with an admin (admin@example.test) signed
// in through the sign-in form.
func adminUI_signedIn(t testing.TB) (*app, *browser, core.User) {
	t.Helper()
	a := newApp(t)
	u := a.user("admin@example.test", core.RoleAdmin)
	b := a.browser()
	if rec := b.signIn(u.Email, testPassword); rec.Code != 303 {
		t.Fatalf("sign in: %d", rec.Code)
	}
	return a, b, u
}

// adminUI_as signs a new user of role in with their own browser.
func adminUI_as(t *testing.T, a *app, email string, role core.Role) (*browser, core.User) {
	t.Helper()
	u := a.user(email, role)
	b := a.browser()
	if rec := b.signIn(email, testPassword); rec.Code != 303 {
		t.Fatalf("sign in %s: %d", email, rec.Code)
	}
	return b, u
}

// adminUI_post submits a plain form with the session's CSRF token.
func adminUI_post(b *browser, path string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", b.csrf)
	return b.do("POST", path, form, nil)
}

// adminUI_audit returns the newest audit entry of action.
func adminUI_audit(t *testing.T, a *app, action string) core.AuditEntry {
	t.Helper()
	p, err := a.db.ListAudit(context.Background(), core.AuditQuery{Action: action, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) == 0 {
		t.Fatalf("no audit entry for %s", action)
	}
	return p.Items[0]
}

// adminUI_signedOut reports whether the browser's session no longer works.
func adminUI_signedOut(b *browser) bool {
	rec := b.do("GET", "/account", nil, nil)
	return rec.Code == 303 && strings.HasPrefix(rec.Header().Get("Location"), "/signin")
}

func adminUI_getUser(t *testing.T, a *app, email string) core.User {
	t.Helper()
	u, err := a.db.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var argonHash = regexp.MustCompile(`\$argon2id\$`)

func TestAdminUIPagesByRole(t *testing.T) {
	a, admin, au := adminUI_signedIn(t)
	pages := []string{"/admin", "/admin/users", "/admin/users/" + au.ID.String(), "/admin/tokens", "/admin/audit", "/admin/backup"}
	for _, p := range pages {
		rec := admin.do("GET", p, nil, nil)
		if rec.Code != 200 {
			t.Errorf("admin GET %s: %d %s", p, rec.Code, truncate(rec.Body.String()))
		}
		if p != "/admin/backup" && argonHash.MatchString(rec.Body.String()) {
			t.Errorf("%s shows a password hash", p)
		}
	}
	if rec := admin.do("GET", "/admin", nil, nil); !strings.Contains(rec.Body.String(), "test-1.2.3") ||
		!strings.Contains(rec.Body.String(), "Download backup") || !strings.Contains(rec.Body.String(), "up to date") {
		t.Errorf("status page lacks version, backup button or index status: %s", truncate(rec.Body.String()))
	}
	if e := adminUI_audit(t, a, "uiBackup"); e.Actor != au.Email {
		t.Errorf("backup download audited as %+v", e)
	}
	for _, role := range []core.Role{core.RoleManager, core.RoleAgent, core.RoleViewer} {
		b, _ := adminUI_as(t, a, string(role)+"@example.test", role)
		for _, p := range pages {
			if rec := b.do("GET", p, nil, nil); rec.Code != 403 {
				t.Errorf("%s GET %s: %d, want 403", role, p, rec.Code)
			}
		}
		if rec := b.do("GET", "/account", nil, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), string(role)+"@example.test") {
			t.Errorf("%s GET /account: %d", role, rec.Code)
		}
		if rec := adminUI_post(b, "/admin/users", url.Values{"email": {"x@example.test"}, "role": {"admin"}}); rec.Code != 403 {
			t.Errorf("%s POST /admin/users: %d", role, rec.Code)
		}
	}
	if rec := a.browser().do("GET", "/admin/users", nil, nil); rec.Code != 303 {
		t.Errorf("signed out GET /admin/users: %d", rec.Code)
	}
}

func TestAdminUIUsers(t *testing.T) {
	a, admin, au := adminUI_signedIn(t)

	// Create with a typed password: redirect, the user can sign in.
	rec := adminUI_post(admin, "/admin/users", url.Values{"email": {" Ann@Example.test "}, "name": {"Ann  Agent"}, "role": {"agent"}, "password": {"ann's long password"}})
	if rec.Code != 303 || rec.Header().Get("Location") != "/admin/users?done=created" {
		t.Fatalf("create: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	ann := adminUI_getUser(t, a, "ann@example.test")
	if ann.Role != core.RoleAgent || ann.Name != "Ann Agent" {
		t.Errorf("created %+v", ann)
	}
	if e := adminUI_audit(t, a, "uiCreateUser"); e.Actor != au.Email || !strings.Contains(e.Detail, "ann@example.test created as agent") {
		t.Errorf("audit %+v", e)
	}
	annB := a.browser()
	if rec := annB.signIn("ann@example.test", "ann's long password"); rec.Code != 303 {
		t.Fatalf("ann signs in: %d", rec.Code)
	}

	// Create with a generated password: shown on the answer, once.
	rec = adminUI_post(admin, "/admin/users", url.Values{"email": {"gen@example.test"}, "role": {"viewer"}})
	if rec.Code != 201 {
		t.Fatalf("create generated: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	m := regexp.MustCompile(`<code>([A-Za-z0-9_-]{20})</code>`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no generated password on the page: %s", rec.Body.String())
	}
	pw := m[1]
	if rec := a.browser().signIn("gen@example.test", pw); rec.Code != 303 {
		t.Errorf("generated password does not work: %d", rec.Code)
	}
	for _, p := range []string{"/admin/users", "/admin/audit"} {
		if strings.Contains(admin.do("GET", p, nil, nil).Body.String(), pw) {
			t.Errorf("%s shows the generated password again", p)
		}
	}

	// Form errors come back in place.
	for name, form := range map[string]url.Values{
		"email":    {"email": {"not an email"}, "role": {"agent"}},
		"role":     {"email": {"r@example.test"}, "role": {"root"}},
		"password": {"email": {"p@example.test"}, "role": {"agent"}, "password": {"short"}},
	} {
		rec := adminUI_post(admin, "/admin/users", form)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `aria-describedby="`+name+`-error"`) &&
			!strings.Contains(rec.Body.String(), ` `+name+`-error"`) {
			t.Errorf("%s: %d %s", name, rec.Code, truncate(rec.Body.String()))
		}
	}
	if rec := adminUI_post(admin, "/admin/users", url.Values{"email": {"ann@example.test"}, "role": {"agent"}}); rec.Code != 400 ||
		!strings.Contains(rec.Body.String(), "an account with this email exists") {
		t.Errorf("duplicate: %d", rec.Code)
	}

	// Role change: the user's sessions end at once.
	uid := "/admin/users/" + ann.ID.String()
	rec = adminUI_post(admin, uid, url.Values{"name": {"Ann Manager"}, "role": {"manager"}})
	if rec.Code != 303 {
		t.Fatalf("role change: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if got := adminUI_getUser(t, a, "ann@example.test"); got.Role != core.RoleManager || got.Name != "Ann Manager" {
		t.Errorf("after role change %+v", got)
	}
	if !adminUI_signedOut(annB) {
		t.Error("a role change left the user's session working")
	}
	if e := adminUI_audit(t, a, "uiUpdateUser"); e.Target != "id="+ann.ID.String() || !strings.Contains(e.Detail, "role agent → manager") {
		t.Errorf("audit %+v", e)
	}

	// Disable: an existing session is refused at once; sign-in refused.
	annB = a.browser()
	annB.signIn("ann@example.test", "ann's long password")
	if rec := adminUI_post(admin, uid+"/disable", nil); rec.Code != 303 {
		t.Fatalf("disable: %d", rec.Code)
	}
	if !adminUI_signedOut(annB) {
		t.Error("a disabled user's session still works")
	}
	if rec := a.browser().signIn("ann@example.test", "ann's long password"); rec.Code == 303 {
		t.Error("a disabled user signed in")
	}
	if e := adminUI_audit(t, a, "uiDisableUser"); !strings.Contains(e.Detail, "disabled") {
		t.Errorf("audit %+v", e)
	}
	if rec := admin.do("GET", "/admin/users", nil, nil); !strings.Contains(rec.Body.String(), "disabled") {
		t.Error("list does not say disabled")
	}
	if rec := adminUI_post(admin, uid+"/enable", nil); rec.Code != 303 {
		t.Fatalf("enable: %d", rec.Code)
	}
	if rec := a.browser().signIn("ann@example.test", "ann's long password"); rec.Code != 303 {
		t.Errorf("enabled user cannot sign in: %d", rec.Code)
	}

	// Reset password (typed): old sessions end, the new password works.
	annB = a.browser()
	annB.signIn("ann@example.test", "ann's long password")
	if rec := adminUI_post(admin, uid+"/password", url.Values{"password": {"a brand new password"}}); rec.Code != 303 {
		t.Fatalf("reset: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if !adminUI_signedOut(annB) {
		t.Error("a password reset left the session working")
	}
	if rec := a.browser().signIn("ann@example.test", "a brand new password"); rec.Code != 303 {
		t.Errorf("new password: %d", rec.Code)
	}
	if e := adminUI_audit(t, a, "uiResetPassword"); !strings.Contains(e.Detail, "password reset") || strings.Contains(e.Detail, "brand new") {
		t.Errorf("audit %+v", e)
	}
	// Reset password (generated): shown once.
	rec = adminUI_post(admin, uid+"/password", url.Values{"password": {""}})
	m = regexp.MustCompile(`<code>([A-Za-z0-9_-]{20})</code>`).FindStringSubmatch(rec.Body.String())
	if rec.Code != 200 || m == nil {
		t.Fatalf("generated reset: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if rec := a.browser().signIn("ann@example.test", m[1]); rec.Code != 303 {
		t.Errorf("generated reset password: %d", rec.Code)
	}
	if rec := adminUI_post(admin, uid+"/password", url.Values{"password": {"short"}}); rec.Code != 400 || !strings.Contains(rec.Body.String(), "password-error") {
		t.Errorf("short reset: %d", rec.Code)
	}
	if rec := adminUI_post(admin, "/admin/users/999999/disable", nil); rec.Code != 404 {
		t.Errorf("unknown user: %d", rec.Code)
	}

	logs := a.logs.String()
	for _, secret := range []string{pw, m[1], "ann's long password", "a brand new password", testPassword, "$argon2id$"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	for _, p := range []string{"/admin/users", uid, "/admin/audit"} {
		if argonHash.MatchString(admin.do("GET", p, nil, nil).Body.String()) {
			t.Errorf("%s shows a password hash", p)
		}
	}
}

func TestAdminUILastAdmin(t *testing.T) {
	a, admin, au := adminUI_signedIn(t)
	me := "/admin/users/" + au.ID.String()
	for name, tc := range map[string]struct {
		path string
		form url.Values
	}{
		"disable self": {me + "/disable", nil},
		"demote self":  {me, url.Values{"name": {"Admin"}, "role": {"manager"}}},
	} {
		rec := adminUI_post(admin, tc.path, tc.form)
		if rec.Code != 409 || !strings.Contains(rec.Body.String(), "last enabled admin") {
			t.Errorf("%s: %d %s", name, rec.Code, truncate(rec.Body.String()))
		}
		if got := adminUI_getUser(t, a, au.Email); got.Role != core.RoleAdmin || got.Disabled {
			t.Errorf("%s changed the last admin: %+v", name, got)
		}
	}
	// A disabled admin does not count.
	other := a.user("other-admin@example.test", core.RoleAdmin)
	if _, err := a.db.UpdateUser(context.Background(), other.ID, func(u *core.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if rec := adminUI_post(admin, me+"/disable", nil); rec.Code != 409 {
		t.Errorf("disable self with only a disabled other admin: %d", rec.Code)
	}
	// With another enabled admin, demoting oneself works and ends one's session.
	if rec := adminUI_post(admin, "/admin/users/"+other.ID.String()+"/enable", nil); rec.Code != 303 {
		t.Fatalf("enable other: %d", rec.Code)
	}
	rec := adminUI_post(admin, me, url.Values{"name": {"Former Admin"}, "role": {"manager"}})
	if rec.Code != 303 || !strings.HasPrefix(rec.Header().Get("Location"), "/signin") {
		t.Fatalf("demote self: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	if !adminUI_signedOut(admin) {
		t.Error("demoted admin still signed in")
	}
	if e := adminUI_audit(t, a, "uiUpdateUser"); e.Actor != au.Email || !strings.Contains(e.Detail, "role admin → manager") {
		t.Errorf("audit %+v", e)
	}
}

func TestAdminUITokens(t *testing.T) {
	a, admin, au := adminUI_signedIn(t)
	rec := adminUI_post(admin, "/admin/tokens", url.Values{"name": {"shop sync"}, "scopes": {"customers:read", "interactions:write"}, "expires": {"2099-12-31"}})
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	m := regexp.MustCompile(`<code id="secret" tabindex="0">(rtn_[a-z0-9]+)</code>`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no secret on the page: %s", rec.Body.String())
	}
	secret := m[1]
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("secret page cacheable: %q", rec.Header().Get("Cache-Control"))
	}
	if rec := a.do("GET", "/api/v1/customers", "Bearer "+secret, nil, nil); rec.Code != 200 {
		t.Errorf("new token refused: %d", rec.Code)
	}
	if rec := a.do("GET", "/api/v1/search?q=ann", "Bearer "+secret, nil, nil); rec.Code != 403 {
		t.Errorf("new token beyond its scopes: %d", rec.Code)
	}
	list := admin.do("GET", "/admin/tokens", nil, nil).Body.String()
	if strings.Contains(list, secret) || !strings.Contains(list, "shop sync") || !strings.Contains(list, secret[:10]+"…") {
		t.Errorf("token list: secret shown or token missing")
	}
	if !strings.Contains(list, "by "+au.Email) {
		t.Error("token list does not say who created it")
	}
	e := adminUI_audit(t, a, "uiCreateToken")
	if e.Actor != au.Email || !strings.Contains(e.Detail, `"shop sync" scopes customers:read,interactions:write`) || strings.Contains(e.Detail, secret) {
		t.Errorf("audit %+v", e)
	}
	var tok core.Token
	ts, _ := a.db.ListTokens(context.Background())
	for _, x := range ts {
		if x.Name == "shop sync" {
			tok = x
		}
	}
	if tok.UserID != au.ID || tok.ExpiresAt.IsZero() || tok.ExpiresAt.Before(time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("stored token %+v", tok)
	}

	// Form errors in place.
	for field, form := range map[string]url.Values{
		"name":    {"scopes": {"search"}},
		"scopes":  {"name": {"x"}, "scopes": {"root"}},
		"expires": {"name": {"x"}, "scopes": {"search"}, "expires": {"2001-01-01"}},
	} {
		rec := adminUI_post(admin, "/admin/tokens", form)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `id="`+field+`-error"`) {
			t.Errorf("%s: %d %s", field, rec.Code, truncate(rec.Body.String()))
		}
	}
	if rec := adminUI_post(admin, "/admin/tokens", url.Values{"name": {"bad date"}, "scopes": {"search"}, "expires": {"31/12/2099"}}); rec.Code != 400 {
		t.Errorf("bad date: %d", rec.Code)
	}

	// Revoke.
	if rec := adminUI_post(admin, "/admin/tokens/"+tok.ID.String()+"/revoke", nil); rec.Code != 303 {
		t.Fatalf("revoke: %d", rec.Code)
	}
	if rec := a.do("GET", "/api/v1/customers", "Bearer "+secret, nil, nil); rec.Code != 401 {
		t.Errorf("revoked token works: %d", rec.Code)
	}
	if e := adminUI_audit(t, a, "uiRevokeToken"); e.Target != "id="+tok.ID.String() || !strings.Contains(e.Detail, "shop sync") {
		t.Errorf("audit %+v", e)
	}
	if rec := adminUI_post(admin, "/admin/tokens/999999/revoke", nil); rec.Code != 404 {
		t.Errorf("revoke unknown: %d", rec.Code)
	}
	if strings.Contains(admin.do("GET", "/admin/audit", nil, nil).Body.String(), secret) {
		t.Error("audit page shows the secret")
	}
	if strings.Contains(a.logs.String(), secret) {
		t.Error("logs contain the token secret")
	}
}

func TestAdminUIAudit(t *testing.T) {
	a, admin, _ := adminUI_signedIn(t)
	ctx := context.Background()
	for i := range 120 {
		actor := "a@example.test"
		if i%2 == 1 {
			actor = "b@example.test"
		}
		if _, err := a.db.AppendAudit(ctx, core.AuditEntry{At: time.Now(), ActorKind: "user", Actor: actor,
			Action: "patchCustomer", Target: fmt.Sprintf("id=%d", i), Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	rec := admin.do("GET", "/admin/audit?actor=b%40example.test", nil, nil)
	body := rec.Body.String()
	if rec.Code != 200 || strings.Count(body, "<tr>") != 51 || strings.Contains(body, ">a@example.test<") {
		t.Fatalf("filtered page: %d rows %d", rec.Code, strings.Count(body, "<tr>"))
	}
	if !strings.Contains(body, ">id=119<") {
		t.Error("newest entry not first")
	}
	next := regexp.MustCompile(`<a href="(/admin/audit\?[^"]+)" rel="next">`).FindStringSubmatch(body)
	if next == nil {
		t.Fatal("no next link")
	}
	page2 := admin.do("GET", strings.ReplaceAll(next[1], "&amp;", "&"), nil, nil).Body.String()
	if strings.Count(page2, "<tr>") != 11 || strings.Contains(page2, ">id=119<") || !strings.Contains(page2, ">id=1<") || strings.Contains(page2, `rel="next"`) {
		t.Errorf("second page rows %d", strings.Count(page2, "<tr>"))
	}
	if rec := admin.do("GET", "/admin/audit?before=zzz", nil, nil); rec.Code != 400 {
		t.Errorf("bad cursor: %d", rec.Code)
	}
	if rec := admin.do("GET", "/admin/audit?action=nothing", nil, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "No entries match") {
		t.Errorf("empty filter: %d", rec.Code)
	}
}

func TestAdminUIAccount(t *testing.T) {
	a := newApp(t)
	me, u := adminUI_as(t, a, "viewer@example.test", core.RoleViewer)
	other := a.browser()
	other.signIn(u.Email, testPassword)
	for name, tc := range map[string]struct {
		form  url.Values
		field string
	}{
		"wrong current": {url.Values{"current": {"wrong password!"}, "password": {"new password 123"}, "password2": {"new password 123"}}, "current"},
		"mismatch":      {url.Values{"current": {testPassword}, "password": {"new password 123"}, "password2": {"new password 124"}}, "password2"},
		"short":         {url.Values{"current": {testPassword}, "password": {"short"}, "password2": {"short"}}, "password"},
		"same":          {url.Values{"current": {testPassword}, "password": {testPassword}, "password2": {testPassword}}, "password"},
	} {
		rec := adminUI_post(me, "/account/password", tc.form)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `id="`+tc.field+`-error"`) {
			t.Errorf("%s: %d %s", name, rec.Code, truncate(rec.Body.String()))
		}
	}
	rec := adminUI_post(me, "/account/password", url.Values{"current": {testPassword}, "password": {"new password 123"}, "password2": {"new password 123"}})
	if rec.Code != 303 || rec.Header().Get("Location") != "/account?done=own-pw" {
		t.Fatalf("change: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if !adminUI_signedOut(other) {
		t.Error("the other session survived the password change")
	}
	if rec := me.do("GET", "/account?done=own-pw", nil, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Your password was changed") {
		t.Errorf("this browser was signed out: %d", rec.Code)
	}
	if rec := a.browser().signIn(u.Email, "new password 123"); rec.Code != 303 {
		t.Errorf("new password: %d", rec.Code)
	}
	if e := adminUI_audit(t, a, "uiChangeOwnPassword"); e.Actor != u.Email || strings.Contains(e.Detail, "123") {
		t.Errorf("audit %+v", e)
	}
	if strings.Contains(a.logs.String(), "new password 123") {
		t.Error("logs contain the password")
	}
}

// TestAdminUICSRF: every state-changing admin and account form is refused
// without the session's CSRF token, and nothing changes.
func TestAdminUICSRF(t *testing.T) {
	a, admin, au := adminUI_signedIn(t)
	other := a.user("csrf-target@example.test", core.RoleAgent)
	id := other.ID.String()
	tid := a.ids["token:reader"].String()
	before := a.snapshot()
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/admin/users", url.Values{"email": {"new@example.test"}, "role": {"admin"}, "password": {"a long password"}}},
		{"/admin/users/" + id, url.Values{"role": {"admin"}}},
		{"/admin/users/" + id + "/disable", nil},
		{"/admin/users/" + id + "/enable", nil},
		{"/admin/users/" + id + "/password", url.Values{"password": {"a long password"}}},
		{"/admin/tokens", url.Values{"name": {"evil"}, "scopes": {"admin"}}},
		{"/admin/tokens/" + tid + "/revoke", nil},
		{"/account/password", url.Values{"current": {testPassword}, "password": {"a long password"}, "password2": {"a long password"}}},
	} {
		for _, tok := range []string{"", "wrong"} {
			form := url.Values{}
			for k, v := range p.form {
				form[k] = v
			}
			if tok != "" {
				form.Set("csrf_token", tok)
			}
			if rec := admin.do("POST", p.path, form, nil); rec.Code != 403 {
				t.Errorf("POST %s with csrf %q: %d", p.path, tok, rec.Code)
			}
		}
	}
	if a.snapshot() != before {
		t.Error("a refused request changed data")
	}
	if got := adminUI_getUser(t, a, other.Email); got.Role != core.RoleAgent || got.Disabled {
		t.Errorf("user changed: %+v", got)
	}
	if _, err := a.db.GetUserByEmail(context.Background(), "new@example.test"); err == nil {
		t.Error("user created without CSRF token")
	}
	if adminUI_signedOut(admin) {
		t.Errorf("%s was signed out", au.Email)
	}
}

// hostileValues are shown as text wherever the admin pages show them.
var hostileValues = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`' hx-get="/admin" hx-trigger="load`,
	"evil\u202Egnp.exe",
	"bad\xff\xfebytes",
}

func TestAdminUIHostileValues(t *testing.T) {
	a, admin, _ := adminUI_signedIn(t)
	ctx := context.Background()
	for i, h := range hostileValues {
		// Stored directly, past the validation a form would apply: the
		// pages must be safe whatever the database holds.
		name := strings.ToValidUTF8(h, "?")
		if _, err := a.db.CreateUser(ctx, core.User{Email: fmt.Sprintf("h%d@example.test", i), Name: name, Role: core.RoleAgent, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		a.token(h, nil, core.ScopeSearch)
		// The store refuses invalid UTF-8 in the audit log (the writer,
		// audit.go, repairs it first); the rest goes in as it is.
		if _, err := a.db.AppendAudit(ctx, core.AuditEntry{At: time.Now(), ActorKind: "token", Actor: h, Action: h, Target: h, Detail: h, IP: h}); err != nil && utf8.ValidString(h) {
			t.Fatal(err)
		}
		// Through the forms too.
		adminUI_post(admin, "/admin/users", url.Values{"email": {fmt.Sprintf("f%d@example.test", i)}, "name": {h}, "role": {"agent"}, "password": {"a long password"}})
		rec := adminUI_post(admin, "/admin/tokens", url.Values{"name": {h}, "scopes": {"search"}})
		if rec.Code >= 500 {
			t.Errorf("token form with %q: %d", h, rec.Code)
		}
		adminUI_checkEscaped(t, "token form answer", rec.Body.String())
		rec = adminUI_post(admin, "/admin/users", url.Values{"email": {h}, "name": {h}, "role": {h}, "password": {h}})
		if rec.Code != 400 {
			t.Errorf("user form with %q: %d", h, rec.Code)
		}
		adminUI_checkEscaped(t, "user form answer", rec.Body.String())
	}
	us, _ := a.db.ListUsers(ctx)
	pages := []string{"/admin/users", "/admin/tokens", "/admin/audit", "/admin/audit?actor=" + url.QueryEscape(hostileValues[0])}
	for _, u := range us {
		pages = append(pages, "/admin/users/"+u.ID.String())
	}
	for _, p := range pages {
		rec := admin.do("GET", p, nil, nil)
		if rec.Code != 200 {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
		adminUI_checkEscaped(t, p, rec.Body.String())
	}
	if body := admin.do("GET", "/admin/audit", nil, nil).Body.String(); !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") ||
		!strings.Contains(body, "evil[U&#43;202E]gnp.exe") {
		t.Error("hostile audit values not shown as escaped text")
	}
}

func adminUI_checkEscaped(t *testing.T, where, body string) {
	t.Helper()
	for _, bad := range []string{"<script>alert", "<img src=x", ` hx-get="/admin"`, "\u202E", "onerror=alert(1)>"} {
		if strings.Contains(body, bad) {
			t.Errorf("%s: raw %q in the page", where, bad)
		}
	}
	if !utf8.ValidString(body) {
		t.Errorf("%s: the page is not valid UTF-8", where)
	}
	// Every attribute value is quoted and escaped by html/template, so
	// with the values taken out, what is left of each tag is its names.
	for _, tag := range adminUI_tag.FindAllString(body, -1) {
		names := adminUI_quoted.ReplaceAllString(tag, `""`)
		if adminUI_badAttr.MatchString(names) {
			t.Errorf("%s: a hostile attribute in %s", where, tag)
		}
	}
}

var (
	adminUI_tag     = regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	adminUI_quoted  = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	adminUI_badAttr = regexp.MustCompile(`(?i)\s(on[a-z]+|hx-get|hx-trigger)\s*=`)
)

// FuzzAdminUserForm: no input to the create-user form makes the server fail.
func FuzzAdminUserForm(f *testing.F) {
	f.Add("ann@example.test", "Ann", "agent", "")
	f.Add("ann@example.test", "Ann", "agent", "a long enough password")
	f.Add("", "", "", "")
	f.Add("x@y", "<script>", "admin\x00", "short")
	f.Add("\xff@example.test", "\u202E", "viewer", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6")
	f.Add(strings.Repeat("a", 400)+"@example.test", strings.Repeat("n", 500), "manager", strings.Repeat("p", 300))
	a, admin, _ := adminUI_signedIn(f)
	f.Fuzz(func(t *testing.T, email, name, role, pw string) {
		a.t = t // the fuzz runs one input at a time per process
		rec := adminUI_post(admin, "/admin/users", url.Values{"email": {email}, "name": {name}, "role": {role}, "password": {pw}})
		if rec.Code >= 500 {
			t.Fatalf("%q %q %q: %d %s", email, name, role, rec.Code, truncate(rec.Body.String()))
		}
		adminUI_checkEscaped(t, "user form", rec.Body.String())
	})
}
