package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/outbox"
	"github.com/retain-crm/retain/core/pluginconf"
	"github.com/retain-crm/retain/core/web"
)

// msgFakeHost stands in for the plugin host (plugins/host) in these web
// tests: core.Plugins and core.Channels are the ports the pages and
// handlers use, and a scripted host makes refusals, crashes and inbound
// answers reproducible without starting plugin processes. The real host
// and real plugin subprocesses are exercised by plugins/host and core/app.
type msgFakeHost struct {
	mu       sync.Mutex
	st       []core.PluginStatus
	refuse   string
	calls    []string
	channels []string
	sent     []core.OutboundMessage
	inbound  func(plugin string, r core.InboundRequest) (core.InboundParsed, error)
	lastIn   core.InboundRequest
	panel    func(plugin string, id core.ID) (string, error)
}

const msgSchema = `{"type":"object","additionalProperties":false,"required":["url","secret"],"properties":{
  "url":{"type":"string","description":"where <b>messages</b> go"},
  "secret":{"type":"string","writeOnly":true,"description":"signing secret"},
  "mode":{"type":"string","enum":["fast","safe"],"default":"safe"},
  "retries":{"type":"integer","minimum":0,"maximum":10},
  "verbose":{"type":"boolean"},
  "words":{"type":"array","items":{"type":"string"}},
  "headers":{"type":"object","additionalProperties":{"type":"string"}}}}`

func newMsgFakeHost() *msgFakeHost {
	return &msgFakeHost{channels: []string{"hook"}, st: []core.PluginStatus{
		{Name: "hook", Version: "1.0.0", Builtin: true, State: core.PluginRunning, PID: 4242, Kinds: []string{"channel"},
			Channels: []string{"hook"}, ConfigSchema: msgSchema, Restarts: 2, LastError: "exit status 1 <script>alert(1)</script>",
			LastErrorAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Name: "third", Version: "0.1.0", State: core.PluginDisabled, DisabledReason: "crashed 5 times", Kinds: []string{"channel"},
			Asked: core.PluginGrants{CustomerFields: []string{"email", "tags"}, Capabilities: []string{"kv"}}},
	}}
}

func (f *msgFakeHost) Statuses() []core.PluginStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.PluginStatus(nil), f.st...)
}
func (f *msgFakeHost) call(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }
func (f *msgFakeHost) Enable(_ context.Context, n string) error {
	f.call("enable " + n)
	return nil
}
func (f *msgFakeHost) Disable(_ context.Context, n, r string) error {
	f.call("disable " + n + ": " + r)
	return nil
}
func (f *msgFakeHost) Configure(_ context.Context, n string, c json.RawMessage) error {
	f.call("configure " + n + " " + string(c))
	if f.refuse != "" {
		return core.Invalidf("%s", f.refuse)
	}
	return nil
}
func (f *msgFakeHost) CustomerPanel(_ context.Context, plugin string, id core.ID) (string, error) {
	f.mu.Lock()
	fn := f.panel
	f.mu.Unlock()
	if fn == nil {
		return "", core.NotFoundf("no panel")
	}
	return fn(plugin, id)
}
func (f *msgFakeHost) Restart(_ context.Context, n string) error {
	f.call("restart " + n)
	return nil
}
func (f *msgFakeHost) Send(_ context.Context, ch string, m core.OutboundMessage) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	return "prov-" + m.IdempotencyKey, nil
}
func (f *msgFakeHost) ChannelNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.channels...)
}
func (f *msgFakeHost) ParseInbound(_ context.Context, plugin string, r core.InboundRequest) (core.InboundParsed, error) {
	f.mu.Lock()
	f.lastIn = r
	fn := f.inbound
	f.mu.Unlock()
	if plugin != "hook" {
		return core.InboundParsed{}, core.NotFoundf("no plugin %q", plugin)
	}
	if fn != nil {
		return fn(plugin, r)
	}
	return core.InboundParsed{}, nil
}

// msgApp is the usual test app (real bbolt, bleve, core.Service) with the
// real outbox and pluginconf services over the fake host.
type msgApp struct {
	*app
	host *msgFakeHost
	box  *outbox.Service
}

func newMsgApp(t *testing.T, deliver bool, cfg ...func(*config.Config)) *msgApp {
	t.Helper()
	a := newApp(t, cfg...)
	h := newMsgFakeHost()
	box := outbox.New(outbox.Options{Config: a.cfg.Outbox, Service: a.svc, Channels: h, Plugins: h, BaseURL: "https://crm.example",
		Logger: slog.New(slog.DiscardHandler)})
	if deliver {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = box.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	srv, err := web.New(web.Deps{Config: a.cfg, Service: a.svc, Store: a.db, Imports: a.imp, Analytics: a.an, Version: "test",
		Logger: slog.New(slog.NewTextHandler(a.logs, nil)), Outbox: box, Plugins: h,
		PluginConf: &pluginconf.Service{Store: a.db, Plugins: h}})
	if err != nil {
		t.Fatal(err)
	}
	a.srv, a.h = srv, srv.Handler()
	a.token("sender", nil, core.ScopeMessagesSend)
	a.token("outbox", nil, core.ScopeOutbox)
	return &msgApp{app: a, host: h, box: box}
}

func TestPluginsAPI(t *testing.T) {
	a := newMsgApp(t, false)

	rec := a.do("GET", "/api/v1/plugins", "admin", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	var list struct {
		Plugins []struct {
			Name         string          `json:"name"`
			State        string          `json:"state"`
			ConfigSchema json.RawMessage `json:"config_schema"`
			Settings     struct {
				Config   json.RawMessage   `json:"config"`
				Approved core.PluginGrants `json:"approved"`
				Disabled bool              `json:"disabled"`
			} `json:"settings"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Plugins) != 2 || list.Plugins[0].Name != "hook" ||
		!strings.Contains(string(list.Plugins[0].ConfigSchema), `"writeOnly"`) {
		t.Fatalf("list: %v %s", err, rec.Body)
	}

	put := func(path, body string) *httptest.ResponseRecorder {
		return a.do("PUT", path, "admin", strings.NewReader(body), nil)
	}
	if r := put("/api/v1/plugins/hook/config", `{"url":"https://x.example","secret":"whsec_TOPSECRET","retries":3}`); r.Code != 200 {
		t.Fatalf("config: %d %s", r.Code, r.Body)
	} else if strings.Contains(r.Body.String(), "TOPSECRET") || !strings.Contains(r.Body.String(), `"secret":"[redacted]"`) {
		t.Fatalf("secret in the answer: %s", r.Body)
	}
	// Reading it back never shows the secret either; the GET answer put
	// back as it is keeps the secret.
	rec = a.do("GET", "/api/v1/plugins/hook", "admin", nil, nil)
	if strings.Contains(rec.Body.String(), "TOPSECRET") {
		t.Fatalf("secret shown: %s", rec.Body)
	}
	if r := put("/api/v1/plugins/hook/config", `{"url":"https://y.example","secret":"[redacted]"}`); r.Code != 200 {
		t.Fatalf("round trip: %d %s", r.Code, r.Body)
	}
	st, _ := a.db.GetPluginSettings(context.Background(), "hook")
	if !strings.Contains(string(st.Config), "whsec_TOPSECRET") || !strings.Contains(string(st.Config), "y.example") {
		t.Fatalf("stored %s", st.Config)
	}
	if !strings.HasSuffix(st.UpdatedBy, "admin") {
		t.Errorf("updated by %q", st.UpdatedBy)
	}

	before := string(st.Config)
	for _, tc := range []struct{ body, field string }{
		{`{"url":5,"secret":"s"}`, "url"},
		{`{"url":"u","secret":"s","mode":"turbo"}`, "mode"},
		{`{"url":"u","secret":"s","retries":11}`, "retries"},
		{`{"url":"u","secret":"s","nope":1}`, "nope"},
		{`{"url":"u","url":"v","secret":"s"}`, "url"},
		{`[]`, "config"},
	} {
		r := put("/api/v1/plugins/hook/config", tc.body)
		if r.Code != 400 || !strings.Contains(r.Body.String(), `"field":"`+tc.field+`"`) {
			t.Errorf("%s: %d %s", tc.body, r.Code, r.Body)
		}
	}
	if r := put("/api/v1/plugins/hook/config", `{"url":"u","secret":"`+strings.Repeat("x", 70<<10)+`"}`); r.Code != 413 {
		t.Errorf("huge config: %d", r.Code)
	}
	a.host.refuse = "url: must be https"
	if r := put("/api/v1/plugins/hook/config", `{"url":"http://plain"}`); r.Code != 400 || !strings.Contains(r.Body.String(), "must be https") {
		t.Errorf("refused: %d %s", r.Code, r.Body)
	}
	a.host.refuse = ""
	if st, _ := a.db.GetPluginSettings(context.Background(), "hook"); string(st.Config) != before {
		t.Errorf("a refused config was stored: %s", st.Config)
	}

	// Grants: only for third-party plugins, only what was asked for.
	if r := put("/api/v1/plugins/third/grants", `{"customer_fields":["email"],"capabilities":["kv"]}`); r.Code != 200 {
		t.Fatalf("grants: %d %s", r.Code, r.Body)
	}
	if r := put("/api/v1/plugins/third/grants", `{"customer_fields":["phones"]}`); r.Code != 400 {
		t.Errorf("grant not asked for: %d", r.Code)
	}
	if r := put("/api/v1/plugins/third/grants", `{"fields":["email"]}`); r.Code != 400 {
		t.Errorf("unknown key: %d", r.Code)
	}

	// Enable and disable, with and without a reason.
	if r := a.do("POST", "/api/v1/plugins/hook/disable", "admin", strings.NewReader(`{"reason":"maintenance"}`), nil); r.Code != 200 {
		t.Fatalf("disable: %d %s", r.Code, r.Body)
	}
	if r := a.do("POST", "/api/v1/plugins/hook/enable", "admin", nil, nil); r.Code != 200 {
		t.Fatalf("enable: %d %s", r.Code, r.Body)
	}
	if r := a.do("POST", "/api/v1/plugins/hook/disable", "admin", nil, nil); r.Code != 200 {
		t.Fatalf("disable without body: %d %s", r.Code, r.Body)
	}
	a.host.mu.Lock()
	calls := strings.Join(a.host.calls, "\n")
	a.host.mu.Unlock()
	for _, want := range []string{"disable hook: maintenance", "enable hook", "restart third"} {
		if !strings.Contains(calls, want) {
			t.Errorf("host calls lack %q:\n%s", want, calls)
		}
	}

	for _, path := range []string{"/api/v1/plugins/nope", "/api/v1/plugins/..%2Fetc", "/api/v1/plugins/%00"} {
		if r := a.do("GET", path, "admin", nil, nil); r.Code != 404 {
			t.Errorf("%s: %d", path, r.Code)
		}
	}
	if r := a.do("GET", "/api/v1/plugins", "writer", nil, nil); r.Code != 403 {
		t.Errorf("non-admin: %d", r.Code)
	}
	// Every change is in the audit log.
	page, _ := a.db.ListAudit(context.Background(), core.AuditQuery{Limit: 100})
	var actions []string
	for _, e := range page.Items {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"putPluginConfig", "putPluginGrants", "enablePlugin", "disablePlugin"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit lacks %s: %v", want, actions)
		}
	}
}

// Without a plugin host the routes answer 503, not 500.
func TestPluginsOff(t *testing.T) {
	a := newApp(t)
	for _, r := range []struct{ m, p, body string }{
		{"GET", "/api/v1/plugins", ""}, {"GET", "/api/v1/plugins/hook", ""}, {"PUT", "/api/v1/plugins/hook/config", "{}"},
		{"GET", "/api/v1/outbox", ""}, {"POST", "/api/v1/outbox", "{}"}, {"POST", "/api/v1/customers/{ann}/messages", "{}"},
		{"POST", "/api/v1/outbox/1/retry", ""},
	} {
		var body *strings.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		var rec *httptest.ResponseRecorder
		if body != nil {
			rec = a.do(r.m, a.expand(r.p), "admin", body, nil)
		} else {
			rec = a.do(r.m, a.expand(r.p), "admin", nil, nil)
		}
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s: %d %s", r.m, r.p, rec.Code, rec.Body)
		}
	}
}
