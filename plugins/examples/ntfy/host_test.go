package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	retaincfg "github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/store"
)

// These tests do what an admin does with a third-party plugin: build the
// binary, put it in the plugins folder, pin its SHA-256, approve its grants
// and configure it — then the CRM's real plugin host starts it as a
// subprocess (go-plugin, AutoMTLS, allowlisted environment) and sends
// through it.

// buildPlugin builds this example into dir (go caches the build, so only
// the first run of the day takes long) and returns its path and SHA-256.
func buildPlugin(t *testing.T, dir string) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is not on PATH; cannot build the example plugin")
	}
	bin := filepath.Join(dir, "ntfy")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return bin, hex.EncodeToString(sum[:])
}

func hostConfig() retaincfg.Plugins {
	c := retaincfg.Default().Plugins
	c.HealthInterval = 50 * time.Millisecond
	c.RestartBackoff, c.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	return c
}

func startHost(t *testing.T, opts host.Options) *host.Host {
	t.Helper()
	opts.Config = hostConfig()
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	} else {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Start(context.Background())
	t.Cleanup(h.Stop)
	return h
}

func waitState(t *testing.T, h *host.Host, what string, ok func(core.PluginStatus) bool) core.PluginStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _ := h.Status(Name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out; status %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPinnedBinaryThroughHost(t *testing.T) {
	dir := t.TempDir()
	_, sum := buildPlugin(t, dir)
	// config.toml: [plugins] dir = DIR, pinned = { "ntfy" = SUM }
	specs, err := host.ThirdPartySpecs(dir, map[string]string{"ntfy": sum})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "retain.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	ann, err := db.CreateCustomer(context.Background(), core.Customer{Name: "Ann", Tags: []string{"vip"}, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	ntfy := newFakeNtfy(t)
	h := startHost(t, host.Options{Specs: specs, Data: db, KV: db,
		// What an admin approved on the plugins page.
		Approved: func(string) core.PluginGrants {
			return core.PluginGrants{CustomerFields: []string{"tags"}, Capabilities: []string{"kv"}}
		},
		PluginConfig: func(string) json.RawMessage { return configJSON(ntfy.URL, `,"urgent_tag":"vip"`) },
	})
	st := waitState(t, h, "start", func(s core.PluginStatus) bool { return s.State == core.PluginRunning })
	if st.Version != Version || st.SHA256 != sum || len(st.Channels) != 1 || st.Channels[0] != Name {
		t.Errorf("status %+v", st)
	}

	msg := core.OutboundMessage{IdempotencyKey: "manual:1", Subject: "Hello", Text: "Your order has shipped.",
		Recipient: core.MessageContact{CustomerID: ann.ID, Name: "Ann"},
		Metadata:  map[string]string{core.MetaHookURL: hook, core.MetaAttempt: "1", MetaReplies: "Thanks"}}
	id, err := h.Send(context.Background(), Name, msg)
	if err != nil || id != "msg1" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	got := ntfy.published()
	if len(got) != 1 || got[0].Topic != "retain-"+ann.ID.String() || got[0].Header.Get("Priority") != "5" {
		t.Fatalf("published %+v", got)
	}
	// The tap on the reply button comes back through the host.
	paths := buttonPaths(t, got[0].Header.Get("Actions"))
	parsed, err := h.ParseInbound(context.Background(), Name, core.InboundRequest{Method: "POST", Path: paths[0]})
	if err != nil || len(parsed.Interactions) != 1 || parsed.Interactions[0].MessageKey != "manual:1" {
		t.Fatalf("ParseInbound = %+v, %v", parsed, err)
	}
	forged := strings.Replace(paths[0], "t=Thanks", "t=Cancel", 1)
	if _, err := h.ParseInbound(context.Background(), Name, core.InboundRequest{Method: "POST", Path: forged}); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("forged tap: %v", err)
	}
	// Its duplicate record is in the CRM's store: a resend after a restart
	// of the plugin is still recognised.
	if err := h.Restart(context.Background(), Name); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "restart", func(s core.PluginStatus) bool { return s.State == core.PluginRunning && s.PID != st.PID && s.PID != 0 })
	if id2, err := h.Send(context.Background(), Name, msg); err != nil || id2 != id || len(ntfy.published()) != 1 {
		t.Errorf("resend after restart = %q, %v; %d published", id2, err, len(ntfy.published()))
	}
}

func TestUnapprovedGrantsShowAsDegraded(t *testing.T) {
	dir := t.TempDir()
	_, sum := buildPlugin(t, dir)
	specs, err := host.ThirdPartySpecs(dir, map[string]string{"ntfy": sum})
	if err != nil {
		t.Fatal(err)
	}
	ntfy := newFakeNtfy(t)
	h := startHost(t, host.Options{Specs: specs, // nothing approved
		PluginConfig: func(string) json.RawMessage { return configJSON(ntfy.URL, "") }})
	st := waitState(t, h, "degraded", func(s core.PluginStatus) bool { return s.State == core.PluginDegraded })
	if !strings.Contains(st.Health, `"kv" not approved`) || len(st.Grants.Capabilities) != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestTamperedBinaryRefused(t *testing.T) {
	dir := t.TempDir()
	bin, sum := buildPlugin(t, dir)
	// Someone changes the binary after it was pinned.
	f, err := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	specs, err := host.ThirdPartySpecs(dir, map[string]string{"ntfy": sum})
	if err != nil {
		t.Fatal(err)
	}
	h := startHost(t, host.Options{Specs: specs})
	st := waitState(t, h, "refused", func(s core.PluginStatus) bool { return s.State == core.PluginDisabled })
	b, _ := os.ReadFile(bin)
	actual := sha256.Sum256(b)
	for _, want := range []string{"refusing", sum, hex.EncodeToString(actual[:])} {
		if !strings.Contains(st.DisabledReason, want) {
			t.Errorf("reason %q does not name %q", st.DisabledReason, want)
		}
	}
	if st.PID != 0 || st.Restarts != 0 {
		t.Errorf("a refused binary ran: %+v", st)
	}
}

// The default plugins folder is relative ("./plugins"): the pinned binary
// must still start (the host runs it with its folder as working directory).
func TestRelativePluginsDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, sum := buildPlugin(t, filepath.Join(dir, "plugins"))
	t.Chdir(dir)
	specs, err := host.ThirdPartySpecs("./plugins", map[string]string{"ntfy": sum})
	if err != nil {
		t.Fatal(err)
	}
	h := startHost(t, host.Options{Specs: specs,
		PluginConfig: func(string) json.RawMessage { return configJSON("http://127.0.0.1:1", "") }})
	waitState(t, h, "start", func(s core.PluginStatus) bool {
		return s.State == core.PluginRunning || s.State == core.PluginDegraded
	})
}
