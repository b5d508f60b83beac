package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/outbox"
	"github.com/retain-crm/retain/plugins/builtin/email/emailtest"
	"github.com/retain-crm/retain/store"
)

// The crash test of issue 4: 1,000 messages queued to the email channel
// (the real built-in plugin, started by the real binary), delivered to a
// real SMTP server on loopback while the plugin process is killed with
// SIGKILL three times and the CRM itself once. In the end the server has
// every message, by distinct Message-ID exactly 1,000, and the copies are
// no more than the messages that can be in flight at the kills.

const (
	crashMessages = 1000
	crashWorkers  = 4
)

// seedOutbox creates n customers with an email each and queues one
// message to each, and stores the email plugin's configuration.
func seedOutbox(t testing.TB, dir string, n int, emailConfig map[string]any) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "retain.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := core.NewService(st, nil, "")
	var cs []core.Customer
	for i := range n {
		cs = append(cs, core.Customer{ExternalID: fmt.Sprint("c", i), Name: fmt.Sprint("Customer ", i),
			Emails: []string{fmt.Sprintf("c%d@example.com", i)}})
	}
	for len(cs) > 0 {
		k := min(len(cs), 1000)
		if _, _, err := svc.UpsertCustomers(ctx, cs[:k], "test"); err != nil {
			t.Fatal(err)
		}
		cs = cs[k:]
	}
	box := outbox.New(outbox.Options{Config: config.Default().Outbox, Service: svc})
	var msgs []core.OutboxMessage
	for i := range n {
		c, err := st.GetCustomerByExternalID(ctx, fmt.Sprint("c", i))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, core.OutboxMessage{Channel: "email", CustomerID: c.ID, IdempotencyKey: fmt.Sprintf("crash:%d", i),
			Subject: fmt.Sprintf("Message %d", i), Text: "Thank you for shopping with us."})
		if len(msgs) == core.MaxEnqueueBatch || i == n-1 {
			if _, _, err := box.EnqueueBatch(ctx, msgs, "test"); err != nil {
				t.Fatal(err)
			}
			msgs = nil
		}
	}
	conf, _ := json.Marshal(emailConfig)
	if err := st.PutPluginSettings(ctx, core.PluginSettings{Name: "email", Config: conf}); err != nil {
		t.Fatal(err)
	}
}

// pluginPID finds the process serving built-in name for binary bin.
func pluginPID(bin, name string) int {
	ents, _ := os.ReadDir("/proc")
	want := bin + "\x00plugin\x00serve\x00" + name + "\x00"
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && string(b) == want {
			return pid
		}
	}
	return 0
}

// lockedBuffer collects a child's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestOutboxSurvivesCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds the binary and delivers 1,000 messages; skipped with -short")
	}
	bin := buildBinary(t)
	srv := emailtest.NewServer(t, emailtest.WithoutBodies())
	dir := t.TempDir()
	seedOutbox(t, dir, crashMessages, srv.Config("shop@example.com"))
	cfgPath := filepath.Join(dir, "retain.toml")
	// 100 messages/s: delivery takes ~10 s, so the kills land mid-way.
	cfg := fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
base_url = "http://127.0.0.1:9"
[storage]
data_dir = %q
[log]
level = "info"
[plugins]
builtin = ["email"]
restart_backoff = "100ms"
max_backoff = "500ms"
max_crashes = 50
health_interval = "200ms"
[outbox]
workers = %d
retry_backoff = "100ms"
max_retry_backoff = "500ms"
poll_interval = "20ms"
[outbox.rates]
email = 100
`, dir, crashWorkers)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	start := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(bin, "serve", "--config", cfgPath)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, done
	}
	var cmd *exec.Cmd
	var done chan error
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (server has %d messages, %d distinct)\n%s\n%s", what, srv.Count(), srv.Distinct(),
					logs.String(), unsent(t, cmd, done, dir))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	killPlugin := func() {
		t.Helper()
		var pid int
		waitFor("the email plugin process", func() bool { pid = pluginPID(bin, "email"); return pid != 0 })
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed plugin %d with %d messages delivered", pid, srv.Count())
	}

	cmd, done = start()
	waitFor("100 messages", func() bool { return srv.Count() >= 100 })
	killPlugin()
	waitFor("300 messages", func() bool { return srv.Count() >= 300 })
	killPlugin()
	waitFor("500 messages", func() bool { return srv.Count() >= 500 })
	// The CRM itself; its plugin dies with it (Pdeathsig).
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	t.Logf("killed the CRM with %d messages delivered", srv.Count())
	waitFor("the orphaned plugin to die", func() bool { return pluginPID(bin, "email") == 0 })
	cmd, done = start()
	waitFor("700 messages", func() bool { return srv.Count() >= 700 })
	killPlugin()
	waitFor("every message", func() bool { return srv.Distinct() >= crashMessages })
	// Let the last outcomes be committed, then stop cleanly.
	ctx := context.Background()
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve exited with %v\n%s", err, logs.String())
	}

	dups := srv.Count() - srv.Distinct()
	// In flight at a plugin kill: at most one Send per worker. At the CRM
	// kill: every claimed, uncommitted message (2 × workers).
	bound := 3*crashWorkers + 2*crashWorkers
	t.Logf("SMTP server: %d messages, %d distinct Message-IDs, %d copies (bound %d)", srv.Count(), srv.Distinct(), dups, bound)
	if srv.Distinct() != crashMessages {
		t.Fatalf("distinct Message-IDs %d, want %d", srv.Distinct(), crashMessages)
	}
	if dups > bound {
		t.Fatalf("%d copies, more than the %d messages that can be in flight at the kills", dups, bound)
	}
	for id, n := range srv.MessageIDs() {
		if !strings.HasPrefix(id, "<") || n < 1 {
			t.Fatalf("Message-ID %q seen %d times", id, n)
		}
	}

	st, err := store.Open(ctx, filepath.Join(dir, "retain.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, e := range st.Check(ctx) {
		t.Error(e)
	}
	counts, err := st.CountMessages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.ByState[core.MessageSent] != crashMessages {
		t.Fatalf("outbox states %v, want all %d sent", counts.ByState, crashMessages)
	}
	sent := 0
	if err := st.ScanAllInteractions(ctx, func(in core.Interaction) error {
		if in.Type == core.TypeMessageSent {
			sent++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if sent != crashMessages {
		t.Fatalf("%d message_sent interactions, want one per message (%d)", sent, crashMessages)
	}
}

// unsent stops the CRM and lists the messages that are not sent, for a
// failure message: which state each is stuck in, and why.
func unsent(t *testing.T, cmd *exec.Cmd, done chan error, dir string) string {
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "retain.db"), store.Options{})
	if err != nil {
		return fmt.Sprintf("(store: %v)", err)
	}
	defer st.Close()
	var b strings.Builder
	for _, state := range []core.MessageState{core.MessageQueued, core.MessageSending, core.MessageFailed} {
		p, err := st.ListMessages(context.Background(), core.OutboxQuery{State: state, Limit: 20})
		if err != nil {
			return err.Error()
		}
		for _, m := range p.Items {
			fmt.Fprintf(&b, "%s %s attempts=%d not_before=%s error=%q\n", m.IdempotencyKey, m.State, m.Attempts,
				m.NotBefore.Format(time.RFC3339Nano), m.LastError)
		}
	}
	return "not sent:\n" + b.String()
}
