package sdktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/retain-crm/retain/plugins/builtin/echo"
	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/plugins/sdk/sdktest"
)

func TestEchoInProcess(t *testing.T) {
	h := sdktest.Start(t, echo.New(), json.RawMessage(`{"prefix":"x-"}`))
	id, err := h.Channel.Send(context.Background(), &sdk.Message{IdempotencyKey: "k"})
	if err != nil || id != "x-k" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	_, err = h.Channel.Send(context.Background(), &sdk.Message{IdempotencyKey: "k", Metadata: map[string]string{"echo.fail": "retryable"}})
	if !sdk.IsRetryable(err) {
		t.Errorf("retryable: %v", err)
	}
	if _, _, err := h.Host.KVGet(context.Background(), "a"); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("echo has no kv grant: %v", err)
	}
	if err := h.Plugin.Configure(context.Background(), json.RawMessage(`{"prefix":1}`), nil); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("bad config: %v", err)
	}
	if err := h.Plugin.Configure(context.Background(), json.RawMessage(`[`), nil); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("malformed config: %v", err)
	}
}

// Connect leaves Configure to the test, so a refusal can be checked.
func TestConnectThenConfigure(t *testing.T) {
	h := sdktest.Connect(t, echo.New())
	if err := h.Configure(json.RawMessage(`{"nope":true}`)); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("unknown key: %v", err)
	}
	if err := h.Configure(nil); err != nil {
		t.Fatalf("empty configuration: %v", err)
	}
	if id, err := h.Channel.Send(context.Background(), &sdk.Message{IdempotencyKey: "k"}); err != nil || id != "echo-k" {
		t.Fatalf("Send = %q, %v", id, err)
	}
}
