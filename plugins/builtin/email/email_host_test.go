package email_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/plugins/builtin"
	"github.com/retain-crm/retain/plugins/builtin/email/emailtest"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/store"
)

// The test binary re-executed with this variable set serves the built-in
// it names, as `retain plugin serve email` does in production.
const serveEnv = "RETAIN_TEST_SERVE_EMAIL"

func TestMain(m *testing.M) {
	if name := os.Getenv(serveEnv); name != "" {
		if err := builtin.Serve(name); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestAsSubprocess runs the plugin as a real process under plugins/host
// with a real store as its key-value space: a Send arrives at the SMTP
// server with the Message-ID the host got back, the generated unsubscribe
// secret is kept across a restart, and the one-click POST comes back
// through the host as a withdrawn consent.
func TestAsSubprocess(t *testing.T) {
	srv := emailtest.NewServer(t)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "retain.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := host.BuiltinSpec(exe, "email")
	spec.Args = []string{"-test.run=^$"}
	spec.Env = []string{serveEnv + "=email"}
	pc := config.Default().Plugins
	pc.HealthInterval, pc.RestartBackoff, pc.MaxBackoff = 200*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond
	conf, _ := json.Marshal(srv.Config(from)) // no unsubscribe_secret: the plugin makes one and keeps it in the store
	h, err := host.New(host.Options{Config: pc, Specs: []host.Spec{spec}, KV: db,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PluginConfig: func(string) json.RawMessage { return conf }})
	if err != nil {
		t.Fatal(err)
	}
	h.Start(context.Background())
	defer h.Stop()
	waitRunning := func(notPID int) core.PluginStatus {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, _ := h.Status("email")
			if st.State == core.PluginRunning && st.PID != notPID {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("plugin did not start: %+v", st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	st := waitRunning(0)
	if len(st.Channels) != 1 || st.Channels[0] != "email" {
		t.Fatalf("status %+v", st)
	}

	ctx := context.Background()
	send := func(key string) (string, string) {
		t.Helper()
		id, err := h.Send(ctx, "email", core.OutboundMessage{IdempotencyKey: key, Subject: "Hi", Text: "Hello", HTML: "<p>Hello</p>",
			Recipient: core.MessageContact{CustomerID: 42, Email: "ann@example.org"},
			Metadata:  map[string]string{core.MetaHookURL: hookURL}})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		msgs := srv.Messages()
		last := msgs[len(msgs)-1]
		if last.MessageID != id {
			t.Fatalf("server got Message-ID %q, host got %q", last.MessageID, id)
		}
		return id, last.Header.Get("List-Unsubscribe")
	}
	id1, link1 := send("camp-1:step-1:42")

	// A restart (new process) keeps the secret: old links stay valid, and
	// the same key still gives the same Message-ID.
	if err := h.Restart(ctx, "email"); err != nil {
		t.Fatal(err)
	}
	waitRunning(st.PID)
	id2, link2 := send("camp-1:step-1:42")
	if id2 != id1 || link2 != link1 || link1 == "" {
		t.Errorf("after restart: id %s→%s, link %s→%s", id1, id2, link1, link2)
	}

	path := strings.TrimPrefix(strings.Trim(link1, "<>"), hookURL)
	r, err := h.ParseInbound(ctx, "email", core.InboundRequest{Method: "POST", Path: path,
		Headers: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:    []byte("List-Unsubscribe=One-Click")})
	if err != nil || len(r.Consent) != 1 || r.Consent[0].Customer.ID != 42 || r.Consent[0].Granted || r.Consent[0].Channel != "email" {
		t.Fatalf("unsubscribe: %+v %v", r, err)
	}
	_, err = h.ParseInbound(ctx, "email", core.InboundRequest{Method: "POST", Path: "/unsubscribe?c=42&t=forged",
		Body: []byte("List-Unsubscribe=One-Click")})
	if !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf("forged token: %v, want unauthorized", err)
	}
}
