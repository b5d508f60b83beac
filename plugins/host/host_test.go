package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/plugins/builtin"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/store"
)

// The tests run real plugin processes: the test binary itself re-executed
// as a built-in (TestMain serves the plugin named in servePluginEnv), and
// executables built from testdata/ into a temporary folder.

const servePluginEnv = "RETAIN_TEST_SERVE_PLUGIN"

var bins struct{ echo, hostile, pack string }

func TestMain(m *testing.M) {
	if name := os.Getenv(servePluginEnv); name != "" {
		if err := builtin.Serve(name); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "retain-plugins-")
	if err != nil {
		panic(err)
	}
	for name, out := range map[string]*string{"echo": &bins.echo, "hostile": &bins.hostile, "pack": &bins.pack} {
		*out = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", *out, "./testdata/"+name)
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, b)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testConfig() config.Plugins {
	c := config.Default().Plugins
	c.HealthInterval = 100 * time.Millisecond
	c.HealthTimeout = time.Second
	c.RestartBackoff = 20 * time.Millisecond
	c.MaxBackoff = 200 * time.Millisecond
	c.MaxCrashes = 3
	c.CrashWindow = time.Minute
	return c
}

// reexecSpec starts the test binary as built-in name.
func reexecSpec(t testing.TB, name string) host.Spec {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := host.BuiltinSpec(exe, name)
	s.Args = []string{"-test.run=^$"}
	s.Env = []string{servePluginEnv + "=" + name}
	return s
}

func pinnedSpec(t testing.TB, name, path string) host.Spec {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return host.Spec{Name: name, Path: path, SHA256: hex.EncodeToString(sum[:])}
}

// logBuf collects the host log.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func startHost(t testing.TB, opts host.Options) (*host.Host, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Config.MaxCrashes == 0 {
		opts.Config = testConfig()
	}
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Start(context.Background())
	t.Cleanup(h.Stop)
	return h, logs
}

// waitFor polls until cond holds or fails the test after 20s.
func waitFor(t testing.TB, what string, h *host.Host, name string, cond func(core.PluginStatus) bool) core.PluginStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := h.Status(name)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out; status %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func running(st core.PluginStatus) bool { return st.State == core.PluginRunning }

func msg(key, subject string) core.OutboundMessage {
	return core.OutboundMessage{IdempotencyKey: key, Subject: subject, Recipient: core.MessageContact{Email: "a@example.com"}}
}

func TestEchoRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec func(t *testing.T) host.Spec
	}{
		{"re-executed test binary", func(t *testing.T) host.Spec { return reexecSpec(t, "echo") }},
		{"pinned executable", func(t *testing.T) host.Spec { return pinnedSpec(t, "echo", bins.echo) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := startHost(t, host.Options{Specs: []host.Spec{tc.spec(t)},
				PluginConfig: func(string) json.RawMessage { return json.RawMessage(`{"prefix":"e-"}`) }})
			st := waitFor(t, "start", h, "echo", running)
			if st.Version != "1.0.0" || st.PID == 0 || len(st.Channels) != 1 || st.Channels[0] != "echo" {
				t.Fatalf("status %+v", st)
			}
			id, err := h.Send(context.Background(), "echo", msg("k1", "hi"))
			if err != nil || id != "e-k1" {
				t.Fatalf("Send = %q, %v", id, err)
			}
			m := msg("k2", "")
			m.Metadata = map[string]string{"echo.fail": "retryable"}
			// The plugin is alive and said "later": a real attempt.
			if _, err := h.Send(context.Background(), "echo", m); !core.IsRetryable(err) || errors.Is(err, core.ErrPluginDown) {
				t.Errorf("retryable failure: %v", err)
			}
			m.Metadata["echo.fail"] = "permanent"
			if _, err := h.Send(context.Background(), "echo", m); err == nil || core.IsRetryable(err) {
				t.Errorf("permanent failure: %v", err)
			}
			// No plugin serves it (maybe not yet): the outbox keeps the message.
			if _, err := h.Send(context.Background(), "nope", m); !core.IsRetryable(err) || !errors.Is(err, core.ErrPluginDown) {
				t.Errorf("unknown channel: %v", err)
			}
			// Inbound: the plugin parses, the host gets interactions.
			ch, err := h.Channel("echo")
			if err != nil {
				t.Fatal(err)
			}
			r, err := ch.ParseInbound(context.Background(), &pbInbound{Body: []byte(`{"email":"a@b.c","type":"reply"}`)})
			if err != nil || len(r.GetInteractions()) != 1 || r.GetStatusCode() != 202 {
				t.Fatalf("ParseInbound: %v %v", r, err)
			}
			if _, err := ch.ParseInbound(context.Background(), &pbInbound{Body: []byte(`not json`)}); !errors.Is(host.ToCore("echo", err), core.ErrInvalid) {
				t.Errorf("malformed inbound: %v", err)
			}
		})
	}
}

func TestCrashedPluginIsRestarted(t *testing.T) {
	h, logs := startHost(t, host.Options{Specs: []host.Spec{reexecSpec(t, "echo")}})
	st := waitFor(t, "start", h, "echo", running)
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A send while it is down fails retryably, never hangs or panics, and
	// says the plugin was down (the outbox does not count it as an attempt).
	if _, err := h.Send(context.Background(), "echo", msg("k", "")); err != nil && (!core.IsRetryable(err) || !errors.Is(err, core.ErrPluginDown)) {
		t.Errorf("send to a killed plugin: %v, want retryable and plugin down", err)
	}
	st2 := waitFor(t, "restart", h, "echo", func(s core.PluginStatus) bool { return running(s) && s.PID != st.PID })
	if st2.Restarts < 1 || st2.LastError == "" {
		t.Errorf("status after restart %+v", st2)
	}
	if id, err := h.Send(context.Background(), "echo", msg("after", "")); err != nil || id != "echo-after" {
		t.Fatalf("Send after restart = %q, %v", id, err)
	}
	if processAlive(st.PID) {
		t.Errorf("old process %d still alive", st.PID)
	}
	// go-plugin's own exit line is information (the supervisor reports the
	// crash), with the executable under path=, not a second plugin=.
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `msg="plugin process exited"`) &&
			(!strings.Contains(line, "level=INFO") || !strings.Contains(line, " path=") || strings.Count(line, " plugin=") != 1) {
			t.Errorf("exit line: %s", line)
		}
	}
}

func TestHungPluginIsRestarted(t *testing.T) {
	h, _ := startHost(t, host.Options{Specs: []host.Spec{pinnedSpec(t, "hostile", bins.hostile)}})
	st := waitFor(t, "start", h, "hostile", running)
	if _, err := h.Send(context.Background(), "hostile", msg("h", "hang")); err != nil {
		t.Fatal(err)
	}
	st2 := waitFor(t, "restart after hang", h, "hostile", func(s core.PluginStatus) bool { return running(s) && s.PID != st.PID })
	if !strings.Contains(st2.LastError, "hung") {
		t.Errorf("last error %q does not say hung", st2.LastError)
	}
	if processAlive(st.PID) {
		t.Errorf("hung process %d still alive", st.PID)
	}
}

func TestRepeatedCrashesDisable(t *testing.T) {
	h, _ := startHost(t, host.Options{Specs: []host.Spec{pinnedSpec(t, "hostile", bins.hostile)},
		PluginConfig: func(string) json.RawMessage { return json.RawMessage(`{"crash_on_start":true}`) }})
	st := waitFor(t, "disabled", h, "hostile", func(s core.PluginStatus) bool { return s.State == core.PluginDisabled })
	if !strings.Contains(st.DisabledReason, "crashed 3 times") {
		t.Errorf("reason %q", st.DisabledReason)
	}
	if _, err := h.Send(context.Background(), "hostile", msg("x", "env")); !core.IsRetryable(err) && !errors.Is(err, core.ErrNotFound) {
		t.Errorf("send to a disabled plugin: %v", err)
	}
}

func TestTamperedBinaryRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "echo")
	b, err := os.ReadFile(bins.echo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := pinnedSpec(t, "echo", p)
	// Replace the binary after it was pinned.
	if err := os.WriteFile(p, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	h, _ := startHost(t, host.Options{Specs: []host.Spec{spec}})
	st := waitFor(t, "refused", h, "echo", func(s core.PluginStatus) bool { return s.State == core.PluginDisabled })
	if !strings.Contains(st.DisabledReason, "refusing") || !strings.Contains(st.DisabledReason, spec.SHA256) || st.PID != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestHostileIsolation(t *testing.T) {
	t.Setenv("RETAIN_TEST_SECRET", "s3cr3t-value")
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "retain.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.CreateCustomer(context.Background(), core.Customer{Name: "Ann", Emails: []string{"ann@example.com"},
		Attributes: map[string]any{"tier": "gold"}, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	h, _ := startHost(t, host.Options{Specs: []host.Spec{pinnedSpec(t, "hostile", bins.hostile)}, Data: db, KV: db,
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		Approved: func(string) core.PluginGrants { return core.PluginGrants{CustomerFields: []string{"name"}} }})
	st := waitFor(t, "start", h, "hostile", running)
	if len(st.Grants.CustomerFields) != 1 || len(st.Grants.Capabilities) != 0 {
		t.Errorf("effective grants %+v, want only what was approved", st.Grants)
	}
	send := func(subject string) (string, error) {
		return h.Send(context.Background(), "hostile", msg("k-"+subject, subject))
	}
	env, err := send("env")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(env, "s3cr3t") || strings.Contains(env, "RETAIN_TEST_SECRET") || strings.Contains(env, servePluginEnv) {
		t.Errorf("plugin sees the host's environment: %s", env)
	}
	id := c.ID.String()
	if got, err := send("customer " + id + " name"); err != nil || !strings.Contains(got, "Ann") || strings.Contains(got, "ann@") {
		t.Errorf("granted field: %q %v", got, err)
	}
	if got, err := send("customer " + id); err != nil || strings.Contains(got, "ann@") || strings.Contains(got, "gold") {
		t.Errorf("all granted fields: %q %v", got, err)
	}
	for _, cmd := range []string{"customer " + id + " emails", "customer " + id + " attributes.tier", "kvput k", "timeline " + id} {
		if got, err := send(cmd); !errors.Is(err, core.ErrForbidden) {
			t.Errorf("%s: %q %v, want forbidden", cmd, got, err)
		}
	}
	// Forged log lines arrive escaped and tagged.
	if _, err := send("log"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "host compromised") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\x07") {
		t.Errorf("raw control characters in the host log:\n%q", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "host compromised") && !strings.Contains(line, "plugin=hostile") {
			t.Errorf("plugin output not tagged: %q", line)
		}
		if strings.HasPrefix(line, "level=ERROR msg=\"host compromised\"") {
			t.Errorf("plugin forged a host log line: %q", line)
		}
	}
	// A panic in a handler is an error, not a dead plugin.
	if _, err := send("panic"); err == nil || core.IsRetryable(err) {
		t.Errorf("panic: %v", err)
	}
	if st2, _ := h.Status("hostile"); st2.PID != st.PID {
		t.Errorf("plugin restarted after a panic in a handler")
	}
}

func TestMalformedInputRefused(t *testing.T) {
	for _, conf := range []string{`{`, `[]`, `{"prefix": 1}`, `{"unknown": true}`} {
		t.Run(conf, func(t *testing.T) {
			h, _ := startHost(t, host.Options{Specs: []host.Spec{reexecSpec(t, "echo")},
				PluginConfig: func(string) json.RawMessage { return json.RawMessage(conf) }})
			st := waitFor(t, "refused", h, "echo", func(s core.PluginStatus) bool { return s.State == core.PluginDisabled })
			if !strings.Contains(st.DisabledReason, "configuration refused") {
				t.Errorf("reason %q", st.DisabledReason)
			}
		})
	}
	t.Run("oversized", func(t *testing.T) {
		h, _ := startHost(t, host.Options{Specs: []host.Spec{pinnedSpec(t, "hostile", bins.hostile)}})
		waitFor(t, "start", h, "hostile", running)
		big := msg("big", "env")
		big.Text = strings.Repeat("x", 17<<20)
		if _, err := h.Send(context.Background(), "hostile", big); !errors.Is(err, core.ErrTooLarge) {
			t.Errorf("oversized message: %v", err)
		}
		if _, err := h.Send(context.Background(), "hostile", msg("b2", "big")); !errors.Is(err, core.ErrTooLarge) {
			t.Errorf("oversized answer: %v", err)
		}
		if _, err := h.Send(context.Background(), "hostile", msg("", "env")); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("no idempotency key: %v", err)
		}
	})
}

func processAlive(pid int) bool {
	// A zombie still answers signal 0; read its state instead.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

// What admins do on the plugins page: a plugin disabled before the restart
// waits for Enable; new configuration reaches the running process (and a
// refused one changes nothing); Restart starts a new process without
// counting a crash.
func TestAdminControls(t *testing.T) {
	var mu sync.Mutex
	conf := json.RawMessage(`{"prefix":"a-"}`)
	h, logs := startHost(t, host.Options{Specs: []host.Spec{reexecSpec(t, "echo")},
		StartDisabled: func(string) (string, bool) { return "disabled by an admin before the restart", true },
		PluginConfig:  func(string) json.RawMessage { mu.Lock(); defer mu.Unlock(); return conf }})
	st := waitFor(t, "disabled at start", h, "echo", func(s core.PluginStatus) bool { return s.State == core.PluginDisabled })
	if st.DisabledReason != "disabled by an admin before the restart" || st.PID != 0 {
		t.Fatalf("%+v", st)
	}
	if names := h.ChannelNames(); len(names) != 0 {
		t.Fatalf("a disabled plugin's channels are offered: %v", names)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.Enable(context.Background(), "echo"))
	first := waitFor(t, "running", h, "echo", func(s core.PluginStatus) bool { return s.State == core.PluginRunning })
	msg := core.OutboundMessage{IdempotencyKey: "k1", Text: "hi"}
	if id, err := h.Send(context.Background(), "echo", msg); err != nil || id != "a-k1" {
		t.Fatalf("send with the stored config: %q %v", id, err)
	}
	// Live reconfiguration, then a refused one (unknown key): the old stays.
	must(h.Configure(context.Background(), "echo", json.RawMessage(`{"prefix":"b-"}`)))
	if id, _ := h.Send(context.Background(), "echo", msg); id != "b-k1" {
		t.Fatalf("after Configure: %q", id)
	}
	if err := h.Configure(context.Background(), "echo", json.RawMessage(`{"nope":1}`)); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("refused config: %v", err)
	}
	if id, _ := h.Send(context.Background(), "echo", msg); id != "b-k1" {
		t.Fatalf("after a refused Configure: %q", id)
	}
	if err := h.Configure(context.Background(), "nope", nil); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown plugin: %v", err)
	}
	// Restart: a new process reading the stored configuration; no crash counted.
	mu.Lock()
	conf = json.RawMessage(`{"prefix":"c-"}`)
	mu.Unlock()
	must(h.Restart(context.Background(), "echo"))
	again := waitFor(t, "restarted", h, "echo", func(s core.PluginStatus) bool {
		return s.State == core.PluginRunning && s.PID != 0 && s.PID != first.PID
	})
	if again.Restarts != first.Restarts {
		t.Fatalf("a requested restart counted as a crash: %d → %d", first.Restarts, again.Restarts)
	}
	if id, err := h.Send(context.Background(), "echo", msg); err != nil || id != "c-k1" {
		t.Fatalf("after Restart: %q %v", id, err)
	}
	// An admin's disable is news, not an error.
	must(h.Disable(context.Background(), "echo", "maintenance"))
	waitFor(t, "disabled", h, "echo", func(s core.PluginStatus) bool { return s.State == core.PluginDisabled })
	if l := logs.String(); !strings.Contains(l, `level=INFO msg="plugin disabled"`) || strings.Contains(l, "level=ERROR") {
		t.Errorf("an admin's disable logged as an error:\n%s", l)
	}
}
