package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
)

func (a *msgApp) hookReq(method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

func TestHooks(t *testing.T) {
	a := newMsgApp(t, false)
	ctx := context.Background()
	ann := a.ids["ann"]
	a.host.inbound = func(_ string, r core.InboundRequest) (core.InboundParsed, error) {
		switch {
		case strings.HasPrefix(r.Path, "/receipt"):
			return core.InboundParsed{Body: []byte("ok <b>bold</b>"), Interactions: []core.InboundInteraction{{
				Customer:    core.CustomerRef{ID: ann},
				Interaction: core.Interaction{Type: core.TypeDelivered, Channel: "hook", IdempotencyKey: "r-1", Text: "delivered"},
			}}}, nil
		case strings.HasPrefix(r.Path, "/page"):
			return core.InboundParsed{Status: 200, ContentType: "text/html; charset=utf-8", Body: []byte("<p>Unsubscribe?</p>")}, nil
		case strings.HasPrefix(r.Path, "/forged"):
			return core.InboundParsed{}, core.ErrUnauthorized
		case strings.HasPrefix(r.Path, "/malformed"):
			return core.InboundParsed{}, core.Invalidf("not a receipt")
		case strings.HasPrefix(r.Path, "/down"):
			return core.InboundParsed{}, core.ErrUnavailable
		case strings.HasPrefix(r.Path, "/weird"):
			return core.InboundParsed{Status: 42, ContentType: "text/html\r\nX-Evil: 1", Body: []byte("<script>")}, nil
		}
		return core.InboundParsed{}, core.NotFoundf("no %s here", r.Path)
	}
	before := a.snapshot()

	// A cross-site POST without session or CSRF token is what a provider
	// sends: accepted, and handed on with its path, query and headers —
	// but not the cookie.
	rec := a.hookReq("POST", "/hooks/hook/receipt/a%2Fb?id=1&x=%3C", `{"id":"1"}`, map[string]string{
		"Origin": "https://provider.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/json",
		"Cookie": "retain_session=staff-secret", "X-Signature": "v1,abc"})
	if rec.Code != 200 || rec.Body.String() != "ok <b>bold</b>" {
		t.Fatalf("receipt: %d %q", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q: a plugin's body must not become HTML unless it says so", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	in := a.host.lastIn
	if in.Method != "POST" || in.Path != "/receipt/a%2Fb?id=1&x=%3C" || string(in.Body) != `{"id":"1"}` ||
		in.Headers["X-Signature"][0] != "v1,abc" || len(in.Headers["Cookie"]) != 0 || in.RemoteAddr == "" {
		t.Errorf("handed on %+v", in)
	}
	tl, _ := a.db.Timeline(ctx, ann, core.TimelineQuery{Types: []core.InteractionType{core.TypeDelivered}})
	if len(tl.Items) != 1 {
		t.Fatalf("delivered interactions: %d", len(tl.Items))
	}
	// Replayed: nothing new.
	a.hookReq("POST", "/hooks/hook/receipt/a%2Fb?id=1&x=%3C", `{"id":"1"}`, nil)
	if tl, _ = a.db.Timeline(ctx, ann, core.TimelineQuery{Types: []core.InteractionType{core.TypeDelivered}}); len(tl.Items) != 1 {
		t.Errorf("a replay stored again: %d", len(tl.Items))
	}
	before = a.snapshot()

	if rec := a.hookReq("GET", "/hooks/hook/page?c=1", "", nil); rec.Code != 200 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("page: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := a.hookReq("GET", "/hooks/hook", "", nil); rec.Code != 404 || a.host.lastIn.Path != "/" {
		t.Errorf("root: %d %q", rec.Code, a.host.lastIn.Path)
	}
	if rec := a.hookReq("GET", "/hooks/hook/weird", "", nil); rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") ||
		rec.Header().Get("X-Evil") != "" {
		t.Errorf("weird: %d %q", rec.Code, rec.Header())
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"unknown plugin", "POST", "/hooks/nope/x", "{}", 404},
		{"traversal", "POST", "/hooks/..%2F..%2Fetc/passwd", "{}", 404},
		{"dot dot", "GET", "/hooks/../admin", "", 404},
		{"upper case", "POST", "/hooks/HOOK/x", "{}", 404},
		{"NUL", "POST", "/hooks/ho%00ok/x", "{}", 404},
		{"long name", "POST", "/hooks/" + strings.Repeat("a", 65) + "/x", "{}", 404},
		{"bad method", "PROPFIND", "/hooks/hook/receipt", "", 405},
		{"trace", "TRACE", "/hooks/hook/receipt", "", 405},
		{"forged signature", "POST", "/hooks/hook/forged", "{}", 401},
		{"malformed", "POST", "/hooks/hook/malformed", "{{", 400},
		{"plugin down", "POST", "/hooks/hook/down", "{}", 503},
		{"unknown path", "POST", "/hooks/hook/else", "{}", 404},
		{"huge body", "POST", "/hooks/hook/receipt", strings.Repeat("x", 1<<20+1), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.host.lastIn = core.InboundRequest{}
			rec := a.hookReq(tc.method, tc.path, tc.body, map[string]string{"Content-Type": "application/json"})
			if rec.Code != tc.status {
				t.Fatalf("%d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 413 && a.host.lastIn.Method != "" {
				t.Error("a huge body reached the plugin")
			}
			if strings.Contains(rec.Header().Get("Content-Type"), "html") {
				t.Errorf("error as HTML: %q", rec.Header().Get("Content-Type"))
			}
		})
	}
	if after := a.snapshot(); after != before {
		t.Error("refused hook requests changed stored data")
	}
	// Hooks are not in the audit log (they are anonymous; what they change
	// is on the timeline).
	page, _ := a.db.ListAudit(ctx, core.AuditQuery{Limit: 100})
	for _, e := range page.Items {
		if strings.HasPrefix(e.Action, "hook") {
			t.Errorf("hook audited: %+v", e)
		}
	}
}

func TestHookRateLimit(t *testing.T) {
	a := newMsgApp(t, false, func(c *config.Config) { c.Server.HookRequestsPerMinute = 300 })
	limited := 0
	for i := range 400 {
		rec := a.hookReq("POST", "/hooks/hook/x", "{}", nil)
		if rec.Code == http.StatusTooManyRequests {
			limited++
			if rec.Header().Get("Retry-After") == "" {
				t.Fatal("no Retry-After")
			}
		} else if i >= 300 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	if limited != 100 {
		t.Errorf("limited %d, want 100", limited)
	}
}

func TestHooksOff(t *testing.T) {
	a := newApp(t)
	req := httptest.NewRequest("POST", "/hooks/email/unsubscribe", strings.NewReader("x"))
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("%d", rec.Code)
	}
}
