package web_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/web"
)

func TestAdmin(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "status", method: "GET", url: "/api/v1/admin/status", token: "admin", status: 200,
			has: []string{`"version":"test-1.2.3"`, `"customers":2`, `"interactions":3`, `"writable":true`, `"lag":0`}},
		{name: "backup", method: "GET", url: "/api/v1/admin/backup", token: "admin", status: 200, unchanged: true,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if ct := rec.Header().Get("Content-Type"); ct != "application/octet-stream" {
					t.Errorf("Content-Type %q", ct)
				}
				cd := rec.Header().Get("Content-Disposition")
				if !regexp.MustCompile(`^attachment; filename="retain-backup-\d{8}T\d{6}Z\.db"$`).MatchString(cd) {
					t.Errorf("Content-Disposition %q", cd)
				}
				if rec.Body.Len() < 4096 {
					t.Errorf("backup is %d bytes", rec.Body.Len())
				}
			}},
		{name: "list tokens", method: "GET", url: "/api/v1/admin/tokens", token: "admin", status: 200, has: []string{`"name":"reader"`, `"prefix":"rtn_`, `"revoked_at":"`},
			hasNot: []string{`"hash"`, `"secret"`}},
		{name: "create token", method: "POST", url: "/api/v1/admin/tokens", token: "admin", body: `{"name":"shop sync","scopes":["interactions:write","interactions:write","customers:read"]}`, status: 201,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				ct := decode[web.CreatedToken](t, rec)
				if !strings.HasPrefix(ct.Secret, "rtn_") || ct.Token.ID == 0 || len(ct.Token.Scopes) != 2 || ct.Token.UserID != 42 {
					t.Fatalf("created %+v", ct)
				}
				a.tokens["new"] = ct.Secret
				if rec := a.do("GET", a.expand("/api/v1/customers/{ann}"), "new", nil, nil); rec.Code != 200 {
					t.Errorf("new token refused: %d", rec.Code)
				}
				if rec := a.do("GET", "/api/v1/admin/tokens", "admin", nil, nil); strings.Contains(rec.Body.String(), ct.Secret) {
					t.Error("secret listed")
				}
			}},
		{name: "create token bad scope", method: "POST", url: "/api/v1/admin/tokens", token: "admin", body: `{"name":"x","scopes":["search","root"]}`, status: 400, errCode: "invalid", field: "scopes[1]", unchanged: true},
		{name: "create token no scope", method: "POST", url: "/api/v1/admin/tokens", token: "admin", body: `{"name":"x","scopes":[]}`, status: 400, errCode: "invalid", field: "scopes", unchanged: true},
		{name: "create token no name", method: "POST", url: "/api/v1/admin/tokens", token: "admin", body: `{"scopes":["search"]}`, status: 400, errCode: "invalid", field: "name", unchanged: true},
		{name: "create token expired", method: "POST", url: "/api/v1/admin/tokens", token: "admin", body: `{"name":"x","scopes":["search"],"expires_at":"2001-01-01T00:00:00Z"}`, status: 400, errCode: "invalid", field: "expires_at", unchanged: true},
		{name: "create token with hash", method: "POST", url: "/api/v1/admin/tokens", token: "admin", body: `{"name":"x","scopes":["search"],"hash":"AAAA"}`, status: 400, errCode: "invalid", field: "hash", unchanged: true},
		{name: "revoke", method: "DELETE", url: "/api/v1/admin/tokens/{token:reader}", token: "admin", status: 204,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if rec := a.do("GET", "/api/v1/customers", "reader", nil, nil); rec.Code != 401 {
					t.Errorf("revoked token still works: %d", rec.Code)
				}
				first := revokedAt(t, a, "reader")
				time.Sleep(2 * time.Millisecond)
				if rec := a.do("DELETE", a.expand("/api/v1/admin/tokens/{token:reader}"), "admin", nil, nil); rec.Code != 204 {
					t.Errorf("second revoke %d", rec.Code)
				}
				if !revokedAt(t, a, "reader").Equal(first) {
					t.Error("second revoke moved RevokedAt")
				}
			}},
		{name: "revoke unknown", method: "DELETE", url: "/api/v1/admin/tokens/99999", token: "admin", status: 404, errCode: "not_found", unchanged: true},
	})
}

func revokedAt(t *testing.T, a *app, name string) time.Time {
	ts, err := a.db.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if tk.ID == a.ids["token:"+name] {
			return tk.RevokedAt
		}
	}
	t.Fatal("no token")
	return time.Time{}
}

// TestNoSecretsInLogs: request logs carry method, route and status, never
// a token, a body or a query string.
func TestNoSecretsInLogs(t *testing.T) {
	a := newApp(t)
	a.do("POST", "/api/v1/customers", "writer", strings.NewReader(`{"name":"Secret Sauce"}`), nil)
	a.do("GET", "/api/v1/search?q=confidential", "search", nil, nil)
	a.do("GET", "/api/v1/customers", "Bearer rtn_wrongwrongwrong", nil, nil)
	logs := a.logs.String()
	for _, secret := range []string{a.tokens["writer"], a.tokens["search"], "rtn_wrongwrongwrong", "Secret Sauce", "confidential"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs, `route=/api/v1/customers status=201`) {
		t.Errorf("request not logged: %s", logs)
	}
	_ = bytes.MinRead
	_ = core.ScopeAdmin
}
