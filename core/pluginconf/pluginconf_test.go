package pluginconf_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/pluginconf"
	"github.com/retain-crm/retain/store"
)

// fakePlugins stands in for the plugin host (plugins/host): these tests are
// about what is checked and stored, and a scripted Configure makes a
// refusal reproducible. The real host, with real plugin processes, is
// exercised by the app-level tests in core/app.
type fakePlugins struct {
	mu       sync.Mutex
	st       []core.PluginStatus
	refuse   string // Configure refuses with this message when set
	got      []json.RawMessage
	calls    []string
	disabled map[string]string
}

func (f *fakePlugins) Statuses() []core.PluginStatus { return f.st }
func (f *fakePlugins) Enable(_ context.Context, n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "enable "+n)
	return nil
}
func (f *fakePlugins) Disable(_ context.Context, n, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "disable "+n+": "+reason)
	return nil
}
func (f *fakePlugins) Configure(_ context.Context, n string, c json.RawMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "configure "+n)
	if f.refuse != "" {
		return core.Invalidf("%s", f.refuse)
	}
	f.got = append(f.got, c)
	return nil
}
func (f *fakePlugins) CustomerPanel(context.Context, string, core.ID) (string, error) {
	return "", core.NotFoundf("no panels here")
}
func (f *fakePlugins) Restart(_ context.Context, n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "restart "+n)
	return nil
}

const schema = `{"type":"object","additionalProperties":false,"required":["url","secret"],"properties":{
  "url":{"type":"string"},"secret":{"type":"string","writeOnly":true},"token":{"type":"string","writeOnly":true},
  "timeout":{"type":"integer","minimum":1}}}`

func newSvc(t *testing.T) (*pluginconf.Service, *fakePlugins, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "retain.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fp := &fakePlugins{st: []core.PluginStatus{
		{Name: "hook", Builtin: true, State: core.PluginRunning, ConfigSchema: schema},
		{Name: "third", State: core.PluginRunning, Asked: core.PluginGrants{CustomerFields: []string{"email", "tags"}, Capabilities: []string{"kv"}}},
	}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &pluginconf.Service{Store: db, Plugins: fp, Now: func() time.Time { return now }}, fp, db
}

func TestSetConfig(t *testing.T) {
	ctx := context.Background()
	s, fp, _ := newSvc(t)

	if _, err := s.SetConfig(ctx, "hook", json.RawMessage(`{"url":"https://x.example","secret":"whsec_1","timeout":5}`), "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Settings(ctx, "hook")
	if !strings.Contains(string(st.Config), "whsec_1") || st.UpdatedBy != "ann@example.com" || st.UpdatedAt.IsZero() {
		t.Fatalf("stored %+v", st)
	}

	// The secret left empty, absent or redacted is kept; the rest changes.
	for _, in := range []string{`{"url":"https://y.example","secret":""}`, `{"url":"https://y.example"}`, `{"url":"https://y.example","secret":"[redacted]"}`} {
		if _, err := s.SetConfig(ctx, "hook", json.RawMessage(in), "ann@example.com"); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		st, _ = s.Settings(ctx, "hook")
		if !strings.Contains(string(st.Config), `"secret":"whsec_1"`) || !strings.Contains(string(st.Config), "y.example") {
			t.Fatalf("%s: stored %s", in, st.Config)
		}
	}
	// null clears an optional secret; a required one cannot be cleared.
	if _, err := s.SetConfig(ctx, "hook", json.RawMessage(`{"url":"u","token":"t1"}`), "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetConfig(ctx, "hook", json.RawMessage(`{"url":"u","token":null}`), "x"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Settings(ctx, "hook")
	if strings.Contains(string(st.Config), "t1") || strings.Contains(string(st.Config), "token") {
		t.Fatalf("token not cleared: %s", st.Config)
	}
	if _, err := s.SetConfig(ctx, "hook", json.RawMessage(`{"url":"u","secret":null}`), "x"); core.ErrorField(err) != "secret" {
		t.Fatalf("clearing a required secret: %v", err)
	}

	// Refusals store nothing: schema problems never reach the plugin, the
	// plugin's own refusal comes back with its message.
	before, _ := s.Settings(ctx, "hook")
	calls := len(fp.calls)
	for _, in := range []string{`{"url":5}`, `{"url":"u","extra":1}`, `[]`, `"x"`, `null`, `{"url":"u","timeout":0}`, "{\"url\":\"\xff\"}"} {
		_, err := s.SetConfig(ctx, "hook", json.RawMessage(in), "x")
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%s: %v", in, err)
		}
	}
	if len(fp.calls) != calls {
		t.Errorf("an invalid config reached the plugin: %v", fp.calls[calls:])
	}
	fp.refuse = "url: must be https"
	_, err := s.SetConfig(ctx, "hook", json.RawMessage(`{"url":"http://plain"}`), "x")
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "must be https") || core.ErrorField(err) != "url" {
		t.Fatalf("refusal: %v (field %q), want at url", err, core.ErrorField(err))
	}
	fp.refuse = "the server said no"
	if _, err := s.SetConfig(ctx, "hook", json.RawMessage(`{"url":"http://plain"}`), "x"); core.ErrorField(err) != "" ||
		!strings.Contains(err.Error(), "hook refused the configuration: the server said no") {
		t.Fatalf("refusal about the whole: %v", err)
	}
	fp.refuse = ""
	after, _ := s.Settings(ctx, "hook")
	if string(after.Config) != string(before.Config) {
		t.Errorf("a refused config was stored: %s", after.Config)
	}
	// What the plugin got has the kept secret, never the marker.
	for _, c := range fp.got {
		if strings.Contains(string(c), pluginconf.RedactedValue) {
			t.Errorf("the marker reached the plugin: %s", c)
		}
	}

	if _, err := s.SetConfig(ctx, "nope", json.RawMessage(`{}`), "x"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown plugin: %v", err)
	}
	// A plugin without a schema takes only an empty object.
	if _, err := s.SetConfig(ctx, "third", json.RawMessage(`{"a":1}`), "x"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("config for a plugin without schema: %v", err)
	}
	if _, err := s.SetConfig(ctx, "third", json.RawMessage(`{}`), "x"); err != nil {
		t.Errorf("empty config: %v", err)
	}

	// Disabled by an admin: stored, not checked, not handed to the plugin.
	fp.mu.Lock()
	fp.st[0].State = core.PluginDisabled
	fp.mu.Unlock()
	hookSet, _ := s.Settings(ctx, "hook")
	hookSet.Disabled = true
	if err := s.Store.PutPluginSettings(ctx, hookSet); err != nil {
		t.Fatal(err)
	}
	calls = len(fp.calls)
	checked, err := s.SetConfig(ctx, "hook", json.RawMessage(`{"url":"https://z.example"}`), "x")
	if err != nil || checked || len(fp.calls) != calls {
		t.Fatalf("disabled by an admin: checked %v, %v, calls %v", checked, err, fp.calls[calls:])
	}
	if st, _ := s.Settings(ctx, "hook"); !strings.Contains(string(st.Config), "z.example") || !st.Disabled {
		t.Errorf("stored %+v", st)
	}
}

func TestApproveAndEnable(t *testing.T) {
	ctx := context.Background()
	s, fp, _ := newSvc(t)
	if err := s.Approve(ctx, "third", core.PluginGrants{CustomerFields: []string{"tags", "email", "tags"}}, "ann"); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Settings(ctx, "third")
	if strings.Join(st.Approved.CustomerFields, ",") != "email,tags" || len(st.Approved.Capabilities) != 0 {
		t.Fatalf("approved %+v", st.Approved)
	}
	if fp.calls[len(fp.calls)-1] != "restart third" {
		t.Errorf("not restarted: %v", fp.calls)
	}
	for _, g := range []core.PluginGrants{{CustomerFields: []string{"phones"}}, {Capabilities: []string{"kv", "emit"}}} {
		if err := s.Approve(ctx, "third", g, "ann"); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%+v: %v", g, err)
		}
	}
	if err := s.Approve(ctx, "hook", core.PluginGrants{}, "ann"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("approving a built-in: %v", err)
	}

	if err := s.SetEnabled(ctx, "third", false, "  noisy  ", "ann"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Settings(ctx, "third")
	if !st.Disabled || st.DisabledReason != "noisy" || strings.Join(st.Approved.CustomerFields, ",") != "email,tags" {
		t.Fatalf("after disable %+v", st)
	}
	if fp.calls[len(fp.calls)-1] != "disable third: noisy" {
		t.Errorf("calls %v", fp.calls)
	}
	if err := s.SetEnabled(ctx, "third", true, "", "ann"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Settings(ctx, "third")
	if st.Disabled || st.DisabledReason != "" {
		t.Fatalf("after enable %+v", st)
	}
	for _, r := range []string{"two\nlines", strings.Repeat("x", 201), "\xff"} {
		if err := s.SetEnabled(ctx, "third", false, r, "ann"); core.ErrorField(err) != "reason" {
			t.Errorf("%.20q: %v", r, err)
		}
	}
	if err := s.SetEnabled(ctx, "../etc", false, "", "ann"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown plugin: %v", err)
	}
}
