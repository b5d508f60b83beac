package web

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
)

// TestPanicIsJSON500: a panicking handler answers the error shape with no
// internals, and the stack goes to the log once.
func TestPanicIsJSON500(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Deps{Config: config.Default(), Service: &core.Service{}, Store: stubStore{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// The stub store panics on any call (nil embedded interface): exactly
	// the kind of bug recover must contain. /readyz calls Store.Stats.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if body != `{"error":{"code":"internal","message":"internal error"}}`+"\n" {
		t.Errorf("body %q", body)
	}
	if strings.Count(logs.String(), "level=ERROR") != 1 || !strings.Contains(logs.String(), "panic while serving request") {
		t.Errorf("stack not logged exactly once:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "status=500") {
		t.Errorf("request not logged with its status:\n%s", logs.String())
	}
}
