package web_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/web"
)

func TestOperations(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "healthz", method: "GET", url: "/healthz", status: 200, has: []string{"ok"}},
		{name: "healthz HEAD", method: "HEAD", url: "/healthz", status: 200, hasNot: []string{"ok"}},
		{name: "readyz", method: "GET", url: "/readyz", status: 200, has: []string{`"status":"ready"`, `"index_lag":0`}},
		{name: "metrics off is no route", method: "GET", url: "/metrics", status: 404, errCode: "not_found"},
		{name: "openapi", method: "GET", url: "/api/v1/openapi.json", status: 200, has: []string{`"openapi": "3.1.0"`, "/api/v1/customers/{id}"}},
		{name: "unknown route", method: "GET", url: "/api/v1/nope", token: "admin", status: 404, errCode: "not_found"},
		{name: "unknown route without token", method: "GET", url: "/api/v1/nope/../../etc/passwd", status: 404, errCode: "not_found"},
		{name: "wrong method", method: "PUT", url: "/api/v1/customers", token: "admin", body: `{}`, status: 405, errCode: "method_not_allowed", unchanged: true},
	})
	t.Run("not ready when disk is short", func(t *testing.T) {
		a := newApp(t, func(c *config.Config) { c.Storage.MinFreeBytes = 1 << 62 })
		rec := a.do("GET", "/readyz", "", nil, nil)
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), "min_free_bytes") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		checkErrorShape(t, rec, "unavailable", "")
	})
	t.Run("not ready when data dir is gone", func(t *testing.T) {
		a := newApp(t, func(c *config.Config) { c.Storage.DataDir = "/nonexistent/retain" })
		rec := a.do("GET", "/readyz", "", nil, nil)
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), "data folder") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}

func TestMetrics(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.Metrics.Enabled = true })
	a.do("GET", "/api/v1/customers/{ann}", "reader", nil, nil)
	a.do("GET", a.expand("/api/v1/customers/{ann}"), "reader", nil, nil)
	a.do("GET", "/no/such/thing", "", nil, nil)

	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", rec.Code, truncate(body))
	}
	for _, want := range []string{
		`retain_http_requests_total{method="GET",route="/api/v1/customers/:id",status="200"} 1`,
		`retain_http_requests_total{method="GET",route="/api/v1/customers/:id",status="400"} 1`,
		`retain_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`retain_http_request_duration_seconds_bucket{method="GET",route="/api/v1/customers/:id",le=`,
		"retain_store_size_bytes ", "retain_index_lag 0", "retain_index_documents ", "process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for name, remote := range map[string]string{"remote": "192.0.2.7:5000", "remote behind spoofed XFF": "203.0.113.9:5000"} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", "127.0.0.1")
		req.Header.Set("X-Real-IP", "127.0.0.1")
		rec := httptest.NewRecorder()
		a.h.ServeHTTP(rec, req)
		if rec.Code != 403 {
			t.Errorf("%s: %d", name, rec.Code)
		}
		checkErrorShape(t, rec, "forbidden", "")
	}
	// A proxy on this machine forwarding an outside request: the peer is
	// loopback, the client is not.
	for _, tc := range []struct {
		name    string
		trusted []string
		xff     string
		want    int
	}{
		{"forwarded, no trusted proxies", nil, "203.0.113.9", 403},
		{"forwarded from loopback, no trusted proxies", nil, "127.0.0.1", 403},
		{"forwarded through a trusted proxy", []string{"127.0.0.1"}, "203.0.113.9", 403},
		{"local client through a trusted proxy", []string{"127.0.0.1"}, "127.0.0.1", 200},
	} {
		p := newApp(t, func(c *config.Config) { c.Metrics.Enabled = true; c.Server.TrustedProxies = tc.trusted })
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", tc.xff)
		rec := httptest.NewRecorder()
		p.h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
	b := newApp(t, func(c *config.Config) { c.Metrics.Enabled, c.Metrics.AllowRemote = true, true })
	req = httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "192.0.2.7:5000"
	rec = httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("allow_remote: %d", rec.Code)
	}
}

func TestAuth(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "no token", method: "GET", url: "/api/v1/customers", status: 401, errCode: "unauthorized",
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="retain"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
			}},
		{name: "unknown token", method: "GET", url: "/api/v1/customers", token: "Bearer rtn_nosuchtoken", status: 401, errCode: "unauthorized",
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
					t.Errorf("WWW-Authenticate %q", got)
				}
			}},
		{name: "basic auth", method: "GET", url: "/api/v1/customers", token: "Basic YWRtaW46YWRtaW4=", status: 401, errCode: "unauthorized"},
		{name: "bearer without secret", method: "GET", url: "/api/v1/customers", token: "Bearer  ", status: 401, errCode: "unauthorized"},
		{name: "huge token", method: "GET", url: "/api/v1/customers", token: "Bearer " + strings.Repeat("x", 10000), status: 401, errCode: "unauthorized"},
		{name: "revoked", method: "GET", url: "/api/v1/customers", token: "revoked", status: 401, errCode: "unauthorized", has: []string{"revoked"}},
		{name: "expired", method: "GET", url: "/api/v1/customers", token: "expired", status: 401, errCode: "unauthorized", has: []string{"expired"}},
		{name: "missing scope to write", method: "POST", url: "/api/v1/customers", token: "reader", body: `{"name":"Eve"}`, status: 403, errCode: "forbidden", has: []string{"customers:write"}, unchanged: true},
		{name: "missing scope to erase", method: "DELETE", url: "/api/v1/customers/{ann}", token: "search", status: 403, errCode: "forbidden", unchanged: true},
		{name: "missing admin scope", method: "GET", url: "/api/v1/admin/backup", token: "writer", status: 403, errCode: "forbidden"},
		{name: "admin implies every scope", method: "GET", url: "/api/v1/customers/{ann}", token: "admin", status: 200},
		{name: "auth before body checks", method: "POST", url: "/api/v1/customers", body: `garbage`, status: 401, errCode: "unauthorized", unchanged: true},
	})

	t.Run("every protected route refuses no token and a wrong scope", func(t *testing.T) {
		a := newApp(t)
		before, _ := a.db.CountCustomers(context.Background())
		for _, r := range a.srv.Routes() {
			if r.Scope == web.ScopePublic || !strings.HasPrefix(r.Path, web.APIPrefix+"/") {
				continue // UI routes: access_test.go walks them with every role
			}
			path := strings.NewReplacer(":external_id", "c-1", ":id", a.ids["ann"].String()).Replace(r.Path)
			if rec := a.do(r.Method, path, "", strings.NewReader("{}"), nil); rec.Code != 401 {
				t.Errorf("%s %s without token: %d", r.Method, r.Path, rec.Code)
			}
			// A token with every scope but the one needed (admin excluded).
			var others []core.Scope
			for _, s := range core.Scopes {
				if s != r.Scope && s != core.ScopeAdmin {
					others = append(others, s)
				}
			}
			a.token("all-but-"+r.Name, nil, others...)
			if rec := a.do(r.Method, path, "all-but-"+r.Name, strings.NewReader("{}"), nil); rec.Code != 403 {
				t.Errorf("%s %s without scope %s: %d", r.Method, r.Path, r.Scope, rec.Code)
			}
		}
		if after, _ := a.db.CountCustomers(context.Background()); after != before {
			t.Errorf("customers %d → %d", before, after)
		}
	})

	t.Run("last used is written at most once a minute", func(t *testing.T) {
		a := newApp(t)
		id := a.ids["token:reader"]
		get := func() time.Time {
			ts, _ := a.db.ListTokens(context.Background())
			for _, tk := range ts {
				if tk.ID == id {
					return tk.LastUsedAt
				}
			}
			t.Fatal("token gone")
			return time.Time{}
		}
		if !get().IsZero() {
			t.Fatal("fresh token already used")
		}
		a.do("GET", "/api/v1/customers", "reader", nil, nil)
		first := get()
		if first.IsZero() {
			t.Fatal("LastUsedAt not recorded")
		}
		for range 5 {
			a.do("GET", "/api/v1/customers", "reader", nil, nil)
		}
		if got := get(); !got.Equal(first) {
			t.Errorf("LastUsedAt rewritten within a minute: %v then %v", first, got)
		}
	})
}
