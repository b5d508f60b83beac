package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/pluginconf"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/store"
)

// actionLog stands in for core/app's action applier (tested there): it
// counts each action id and appends the interactions packs ask for, with
// the key core/app gives them, so they land in the change log as they
// would in the CRM.
type actionLog struct {
	db *store.DB
	mu sync.Mutex
	n  map[string]int
	ac map[string]*sdk.Action
}

func (l *actionLog) apply(ctx context.Context, plugin string, actions []*sdk.Action) ([]bool, error) {
	out := make([]bool, len(actions))
	for i, a := range actions {
		if k, ok := a.GetKind().(*sdk.ActionAppendInteraction); ok {
			id, _ := core.ParseID(a.GetCustomerId())
			if _, err := l.db.AppendInteractions(ctx, []core.Interaction{{CustomerID: id, Time: time.Now().UTC(),
				Type: core.InteractionType(k.AppendInteraction.GetType()), Text: k.AppendInteraction.GetText(),
				IdempotencyKey: host.ActionInteractionKey(plugin, a.GetId())}}); err != nil {
				return nil, err
			}
		}
		l.mu.Lock()
		l.n[a.GetId()]++
		l.ac[a.GetId()] = a
		l.mu.Unlock()
		out[i] = true
	}
	return out, nil
}

func (l *actionLog) count(id string) int { l.mu.Lock(); defer l.mu.Unlock(); return l.n[id] }

func (l *actionLog) prefixed(p string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := 0
	for id := range l.n {
		if strings.HasPrefix(id, p) {
			c++
		}
	}
	return c
}

func (l *actionLog) waitFor(t *testing.T, id string) *sdk.Action {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.count(id) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no action %q; got %v", id, l.n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ac[id]
}

// A real pack process gets the interactions appended after it first
// started, in batches, with their bodies (it was granted the timeline);
// its actions are applied once each, its own interactions do not come
// back to it, its cursor survives a restart, its clock ticks, and an event
// it cannot handle is skipped after repeated failures instead of stopping
// everything after it.
func TestPackEvents(t *testing.T) {
	ctx := context.Background()
	db, ann := packStore(t, store.Options{})
	appendOne := func(typ string, amount int64, props map[string]string) core.ID {
		t.Helper()
		res, err := db.AppendInteractions(ctx, []core.Interaction{{CustomerID: ann.ID, Type: core.InteractionType(typ),
			Time: time.Now().UTC(), Amount: amount, Currency: "USD", Properties: props}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].ID
	}
	old := appendOne("purchase", 5, nil) // before the pack ever ran: history, not an event

	log := &actionLog{db: db, n: map[string]int{}, ac: map[string]*sdk.Action{}}
	cfg := testConfig()
	cfg.EventPollInterval, cfg.TickInterval = 20*time.Millisecond, 50*time.Millisecond
	h, hlog, st := startPack(t, db, ann, cfg, log.apply, grantsFunc(sdk.CapActions, sdk.CapTimeline))
	if st.PanelTitle != "Pack panel" {
		t.Errorf("panel title %q (control characters must go)", st.PanelTitle)
	}
	if html, err := h.CustomerPanel(ctx, "pack", ann.ID); err != nil || html != "<p>Customer "+ann.ID.String()+"</p>" {
		t.Errorf("panel: %q %v", html, err)
	}
	if _, err := h.CustomerPanel(ctx, "nope", ann.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown plugin's panel: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host log:\n%s", hlog.String())
		}
	})

	ids := []core.ID{appendOne("purchase", 250, nil), appendOne("visit", 0, nil), appendOne("purchase", 990, nil)}
	for _, id := range ids {
		log.waitFor(t, "tag:"+id.String())
	}
	if a := log.waitFor(t, "amount:"+ids[2].String()); a.GetSetAttribute().GetValueJson() != "990" {
		t.Errorf("the event lacked its interaction: %v", a)
	}
	if log.count("tag:"+old.String()) != 0 {
		t.Error("history from before the pack started was delivered as events")
	}
	log.waitFor(t, "tick")

	// A few more polls: the pack's own pack_seen interactions must not
	// come back as events (each would answer with another).
	time.Sleep(10 * cfg.EventPollInterval)
	if n := log.prefixed("echo:"); n != 3 {
		t.Errorf("%d echo actions, want 3 (one per outside interaction)", n)
	}

	// A restart resumes from the stored cursor: nothing delivered twice.
	before, _ := h.Status("pack")
	if err := h.Restart(ctx, "pack"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restart", h, "pack", func(st core.PluginStatus) bool { return running(st) && st.PID != before.PID })
	next := appendOne("purchase", 7, nil)
	log.waitFor(t, "tag:"+next.String())

	// A poison event is retried, then skipped; what follows still arrives.
	poison := appendOne("purchase", 1, map[string]string{"poison": "yes"})
	after := appendOne("purchase", 2, nil)
	log.waitFor(t, "tag:"+after.String())
	if log.count("tag:"+poison.String()) != 0 {
		t.Error("the poison event was applied")
	}
	if st, _ := h.Status("pack"); !strings.Contains(st.LastError, "cannot digest") {
		t.Errorf("last error %q does not say why events were skipped", st.LastError)
	}
	for _, id := range append(ids, next, after) {
		if n := log.count("tag:" + id.String()); n != 1 {
			t.Errorf("event %s applied %d times", id, n)
		}
	}
	last, _ := db.LastChange(ctx)
	for deadline := time.Now().Add(5 * time.Second); h.EventWatermark() != last; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("watermark %d, want the end of the log %d", h.EventWatermark(), last)
		}
		last, _ = db.LastChange(ctx)
	}
}

// The admin's path for a third-party plugin, with the real process: it
// refuses its first (empty) configuration and is stopped, yet its schema
// and the grants it asks for are known, so an admin can approve them and
// fix the configuration, which starts it.
func TestAdminFixesARefusedPlugin(t *testing.T) {
	ctx := context.Background()
	db, ann := packStore(t, store.Options{})
	settings := func(name string) core.PluginSettings { s, _ := db.GetPluginSettings(ctx, name); return s }
	h, _ := startHost(t, host.Options{Specs: []host.Spec{pinnedSpec(t, "pack", bins.pack)}, KV: db,
		Approved:     func(n string) core.PluginGrants { return settings(n).Approved },
		PluginConfig: func(n string) json.RawMessage { return settings(n).Config }})
	st := waitFor(t, "refused", h, "pack", func(st core.PluginStatus) bool { return st.State == core.PluginDisabled })
	if !strings.Contains(st.DisabledReason, "tick_customer") || st.ConfigSchema == "" ||
		!slices.Equal(st.Asked.Capabilities, []string{sdk.CapActions, sdk.CapTimeline}) || len(st.Grants.Capabilities) != 0 {
		t.Fatalf("a refused plugin must still show why, its schema and what it asks: %+v", st)
	}
	pc := &pluginconf.Service{Store: db, Plugins: h}
	if err := pc.Approve(ctx, "pack", core.PluginGrants{Capabilities: []string{sdk.CapActions}}, "ada"); err != nil {
		t.Fatalf("approving what it asked for: %v", err)
	}
	if err := pc.Approve(ctx, "pack", core.PluginGrants{Capabilities: []string{sdk.CapKV}}, "ada"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("approving what it did not ask for: %v", err)
	}
	if _, err := pc.SetConfig(ctx, "pack", json.RawMessage(`{}`), "ada"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("the schema still refuses an empty configuration: %v", err)
	}
	// One the schema allows but the plugin refuses: it was started to
	// check it, said no at the field, and nothing was kept.
	_, err := pc.SetConfig(ctx, "pack", json.RawMessage(`{"tick_customer":"nobody"}`), "ada")
	if core.ErrorField(err) != "tick_customer" || !strings.Contains(err.Error(), "no such customer") {
		t.Fatalf("refused by the plugin: %v (field %q)", err, core.ErrorField(err))
	}
	if s := settings("pack"); len(s.Config) != 0 {
		t.Errorf("a refused configuration was kept: %s", s.Config)
	}
	checked, err := pc.SetConfig(ctx, "pack", json.RawMessage(`{"tick_customer":"`+ann.ID.String()+`"}`), "ada")
	if err != nil || !checked {
		t.Fatalf("a good configuration: checked %v, %v", checked, err)
	}
	st = waitFor(t, "started with the fixed configuration", h, "pack", running)
	if !slices.Equal(st.Grants.Capabilities, []string{sdk.CapActions}) {
		t.Errorf("runs with %v, want what was approved", st.Grants)
	}
}

// A pack answering with actions it was not granted holds its events (the
// reason on its status) instead of losing them; once approved, they come.
func TestPackEventsWaitForGrants(t *testing.T) {
	ctx := context.Background()
	db, ann := packStore(t, store.Options{})
	var mu sync.Mutex
	approved := core.PluginGrants{Capabilities: []string{sdk.CapTimeline}}
	log := &actionLog{db: db, n: map[string]int{}, ac: map[string]*sdk.Action{}}
	cfg := testConfig()
	cfg.EventPollInterval, cfg.TickInterval = 20*time.Millisecond, time.Hour
	h, hlog, _ := startPack(t, db, ann, cfg, log.apply,
		func(string) core.PluginGrants { mu.Lock(); defer mu.Unlock(); return approved })
	res, err := db.AppendInteractions(ctx, []core.Interaction{{CustomerID: ann.ID, Type: core.TypePurchase, Time: time.Now().UTC(), Amount: 9}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reason shown", h, "pack", func(st core.PluginStatus) bool { return strings.Contains(st.LastError, "not granted") })
	time.Sleep(10 * cfg.EventPollInterval) // well past 5 attempts
	if log.prefixed("") != 0 {
		t.Fatal("actions applied without the grant")
	}
	if n := strings.Count(hlog.String(), "delivering events failed"); n != 1 {
		t.Errorf("the held events were logged %d times, want once", n)
	}
	mu.Lock()
	approved.Capabilities = append(approved.Capabilities, sdk.CapActions)
	mu.Unlock()
	if err := h.Restart(ctx, "pack"); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, "tag:"+res[0].ID.String())
}

// Options built by hand (no config.Default) with a change log to follow:
// the intervals default instead of panicking the tickers.
func TestZeroIntervalsDefault(t *testing.T) {
	db, _ := packStore(t, store.Options{NoSync: true})
	h, err := host.New(host.Options{Specs: []host.Spec{reexecSpec(t, "echo")}, KV: db, Events: db,
		Config: config.Plugins{HealthTimeout: time.Second, RestartBackoff: time.Millisecond, MaxBackoff: time.Millisecond, MaxCrashes: 1, CrashWindow: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	h.Start(context.Background())
	defer h.Stop()
	waitFor(t, "start", h, "echo", running)
}

// packStore is a real store in a temp folder holding one customer, Ann;
// it closes after the test's host has stopped.
func packStore(tb testing.TB, opts store.Options) (*store.DB, core.Customer) {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "retain.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	ann, err := db.CreateCustomer(context.Background(), core.Customer{Name: "Ann", CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		tb.Fatal(err)
	}
	return db, ann
}

// startPack runs the test pack (configured to tick for ann) over db and
// waits until it has taken its place in the change log, so that what is
// appended next reaches it as an event.
func startPack(tb testing.TB, db *store.DB, ann core.Customer, cfg config.Plugins, actions host.ActionsFunc,
	approved func(string) core.PluginGrants) (*host.Host, *logBuf, core.PluginStatus) {
	tb.Helper()
	conf := json.RawMessage(`{"tick_customer":"` + ann.ID.String() + `"}`)
	h, logs := startHost(tb, host.Options{Config: cfg, Specs: []host.Spec{pinnedSpec(tb, "pack", bins.pack)}, KV: db, Events: db,
		Actions: actions, Approved: approved, PluginConfig: func(string) json.RawMessage { return conf }})
	st := waitFor(tb, "start", h, "pack", running)
	for deadline := time.Now().Add(20 * time.Second); h.EventWatermark() == math.MaxUint64; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("the pack never took its place in the change log")
		}
	}
	return h, logs, st
}

// grantsFunc approves caps for every plugin.
func grantsFunc(caps ...string) func(string) core.PluginGrants {
	return func(string) core.PluginGrants { return core.PluginGrants{Capabilities: caps} }
}
