package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/plugins/builtin/webhook"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/store"
)

// The test binary re-executed with this variable set serves the plugin,
// as `retain plugin serve webhook` does in production.
const serveEnv = "RETAIN_TEST_SERVE_WEBHOOK"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		sdk.Serve(webhook.New())
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestAsSubprocess runs the plugin as a real process under plugins/host:
// a Send reaches a loopback receiver signed, and a signed receipt comes
// back through ParseInbound with replays refused (the KV is a real store).
func TestAsSubprocess(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	got := make(chan http.Header, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key, _ := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), body)
		if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			w.WriteHeader(401)
			return
		}
		got <- r.Header
		io.WriteString(w, `{"id":"r-1"}`)
	}))
	defer rcv.Close()

	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "retain.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := host.BuiltinSpec(exe, "webhook")
	spec.Args = []string{"-test.run=^$"}
	spec.Env = []string{serveEnv + "=1"}
	pc := config.Default().Plugins
	pc.HealthInterval, pc.RestartBackoff, pc.MaxBackoff = 200*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond
	conf := fmt.Sprintf(`{"url":%q,"secret":%q,"inbound_secret":%q}`, rcv.URL+"/hook", secret, secret)
	h, err := host.New(host.Options{Config: pc, Specs: []host.Spec{spec}, KV: db,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PluginConfig: func(string) json.RawMessage { return json.RawMessage(conf) }})
	if err != nil {
		t.Fatal(err)
	}
	h.Start(context.Background())
	defer h.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for st, _ := h.Status("webhook"); st.State != core.PluginRunning; st, _ = h.Status("webhook") {
		if time.Now().After(deadline) {
			t.Fatalf("plugin did not start: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx := context.Background()
	id, err := h.Send(ctx, "webhook", core.OutboundMessage{IdempotencyKey: "camp-1:step-1:42", Subject: "Hi", Text: "Hello",
		Recipient: core.MessageContact{Email: "ann@example.com"}})
	if err != nil || id != "r-1" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if hd := <-got; hd.Get("webhook-id") != "camp-1:step-1:42" {
		t.Errorf("webhook-id %q", hd.Get("webhook-id"))
	}

	ch, err := h.Channel("webhook")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"delivered","message_key":"camp-1:step-1:42","provider_id":"r-1"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	key, _ := webhook.DecodeSecret(secret)
	req := &sdk.InboundRequest{Method: "POST", Path: "/events", Body: body, Headers: []*sdk.Header{
		{Name: "webhook-id", Value: "evt-1"}, {Name: "webhook-timestamp", Value: ts},
		{Name: "webhook-signature", Value: webhook.Sign(key, "evt-1", ts, body)}}}
	r, err := ch.ParseInbound(ctx, req)
	if err != nil || len(r.GetInteractions()) != 1 || r.GetInteractions()[0].GetIdempotencyKey() != "webhook:evt-1:0" {
		t.Fatalf("ParseInbound: %v %v", r, err)
	}
	if _, err := ch.ParseInbound(ctx, req); !errors.Is(host.ToCore("webhook", err), core.ErrForbidden) {
		t.Errorf("replayed receipt: %v, want forbidden", err)
	}
	req.Headers[2].Value = "v1,Zm9yZ2Vk"
	req.Headers[0].Value = "evt-2"
	if _, err := ch.ParseInbound(ctx, req); !errors.Is(host.ToCore("webhook", err), core.ErrForbidden) {
		t.Errorf("forged receipt: %v, want forbidden", err)
	}
}
