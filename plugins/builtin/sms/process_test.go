package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/plugins/builtin/sms"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/plugins/sdk"
)

// The test binary re-executed with this variable set serves the plugin,
// as `retain plugin serve sms` does in production.
const serveEnv = "RETAIN_TEST_SERVE_SMS"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		sdk.Serve(sms.New())
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestAsSubprocess runs the plugin as a real process under plugins/host:
// a Send reaches a loopback gateway through the configured form template
// with basic auth, and a receipt with the token comes back through
// ParseInbound.
func TestAsSubprocess(t *testing.T) {
	got := make(chan string, 1)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "acct" || p != "pw" {
			w.WriteHeader(401)
			return
		}
		r.ParseForm()
		got <- r.PostForm.Get("to") + " " + r.PostForm.Get("text")
		io.WriteString(w, `{"result":{"message_id":"gw-77"}}`)
	}))
	defer gw.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := host.BuiltinSpec(exe, "sms")
	spec.Args = []string{"-test.run=^$"}
	spec.Env = []string{serveEnv + "=1"}
	pc := config.Default().Plugins
	pc.HealthInterval, pc.RestartBackoff, pc.MaxBackoff = 200*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond
	conf := fmt.Sprintf(`{"url":%q,"body_template":"to={{urlquery .To}}&text={{urlquery .Text}}","content_type":"application/x-www-form-urlencoded",
		"auth":"basic","username":"acct","password":"pw","provider_id_json_path":"result.message_id","receipt_token":"receipt-token-0123456789"}`, gw.URL+"/send")
	h, err := host.New(host.Options{Config: pc, Specs: []host.Spec{spec},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PluginConfig: func(string) json.RawMessage { return json.RawMessage(conf) }})
	if err != nil {
		t.Fatal(err)
	}
	h.Start(context.Background())
	defer h.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for st, _ := h.Status("sms"); st.State != core.PluginRunning; st, _ = h.Status("sms") {
		if time.Now().After(deadline) {
			t.Fatalf("plugin did not start: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx := context.Background()
	id, err := h.Send(ctx, "sms", core.OutboundMessage{IdempotencyKey: "camp-1:42", Text: "Hi & bye",
		Recipient: core.MessageContact{Phone: "+4915112345678"}})
	if err != nil || id != "gw-77" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if g := <-got; g != "+4915112345678 Hi & bye" {
		t.Errorf("gateway got %q", g)
	}
	if _, err := h.Send(ctx, "sms", core.OutboundMessage{IdempotencyKey: "camp-1:43", Text: "Hi"}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("no phone: %v, want a permanent (invalid) error", err)
	}
	ch, err := h.Channel("sms")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ch.ParseInbound(ctx, &sdk.InboundRequest{Method: "GET", Path: "/receipt?token=receipt-token-0123456789&id=gw-77&status=DELIVRD"})
	if err != nil || len(r.GetInteractions()) != 1 || r.GetInteractions()[0].GetIdempotencyKey() != "sms:receipt:gw-77:delivered" {
		t.Fatalf("ParseInbound: %v %v", r, err)
	}
	if _, err := ch.ParseInbound(ctx, &sdk.InboundRequest{Method: "GET", Path: "/receipt?token=guess&id=gw-77&status=DELIVRD"}); !errors.Is(host.ToCore("sms", err), core.ErrForbidden) {
		t.Errorf("wrong token: %v, want forbidden", err)
	}
}
