package web_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
	"github.com/retain-crm/retain/core/web"
)

// minRole is, for every route of the table, the least powerful role that may
// use it ("public": no sign-in; "signed-in": any role). It is written out by
// hand so that a route's permission is a decision someone made: a route
// missing here fails the test, and so does a route whose Scope in the route
// table gives a different answer under core.Permissions than this list.
var minRole = map[string]string{
	// operations and static files
	"GET /healthz":                          "public",
	"GET /readyz":                           "public",
	"GET /metrics":                          "public",
	"GET /api/v1/openapi.json":              "public",
	"GET /static/*":                         "public",
	"GET /signin":                           "public",
	"POST /signin":                          "public",
	"GET /setup":                            "public",
	"POST /setup":                           "public",
	"POST /signout":                         "signed-in",
	"GET /":                                 "signed-in",
	"GET /customers":                        "viewer",
	"GET /customers/:id":                    "viewer",
	"GET /customers/new":                    "agent",
	"POST /customers":                       "agent",
	"GET /customers/:id/edit":               "agent",
	"POST /customers/:id":                   "agent",
	"GET /customers/:id/timeline":           "viewer",
	"POST /customers/:id/interactions":      "agent",
	"GET /customers/:id/erase":              "manager",
	"POST /customers/:id/erase":             "manager",
	"GET /imports":                          "manager",
	"POST /imports/upload":                  "manager",
	"GET /imports/uploads/:upload":          "manager",
	"POST /imports/uploads/:upload/preview": "manager",
	"POST /imports/uploads/:upload/start":   "manager",
	"POST /imports/uploads/:upload/discard": "manager",
	"GET /imports/:id":                      "manager",
	"POST /imports/:id/cancel":              "manager",
	"GET /imports/:id/rejected":             "manager",
	"GET /admin":                            "admin",
	"GET /api/v1/customers":                 "viewer",
	"POST /api/v1/customers":                "agent",
	"GET /api/v1/customers/:id":             "viewer",
	"PATCH /api/v1/customers/:id":           "agent",
	"DELETE /api/v1/customers/:id":          "manager",
	"GET /api/v1/customers/by-external-id/:external_id": "viewer",
	"PUT /api/v1/customers/by-external-id/:external_id": "agent",
	"POST /api/v1/customers/:id/interactions":           "agent",
	"GET /api/v1/customers/:id/timeline":                "viewer",
	"POST /api/v1/interactions/batch":                   "agent",
	"GET /api/v1/search":                                "viewer",
	"POST /api/v1/imports":                              "manager",
	"GET /api/v1/imports":                               "manager",
	"GET /api/v1/imports/:id":                           "manager",
	"GET /api/v1/imports/:id/rejected":                  "manager",
	"DELETE /api/v1/imports/:id":                        "manager",
	"GET /api/v1/admin/status":                          "admin",
	"GET /api/v1/admin/backup":                          "admin",
	"GET /api/v1/admin/tokens":                          "admin",
	"POST /api/v1/admin/tokens":                         "admin",
	"DELETE /api/v1/admin/tokens/:id":                   "admin",
	// admin pages, account page and their API twins (ui_admin*.go, users.go, audit_api.go)
	"GET /admin/backup":              "admin",
	"GET /admin/users":               "admin",
	"POST /admin/users":              "admin",
	"GET /admin/users/:id":           "admin",
	"POST /admin/users/:id":          "admin",
	"POST /admin/users/:id/disable":  "admin",
	"POST /admin/users/:id/enable":   "admin",
	"POST /admin/users/:id/password": "admin",
	"GET /admin/tokens":              "admin",
	"POST /admin/tokens":             "admin",
	"POST /admin/tokens/:id/revoke":  "admin",
	"GET /admin/audit":               "admin",
	"GET /account":                   "signed-in",
	"POST /account/password":         "signed-in",
	"GET /api/v1/admin/users":        "admin",
	"POST /api/v1/admin/users":       "admin",
	"GET /api/v1/admin/users/:id":    "admin",
	"PATCH /api/v1/admin/users/:id":  "admin",
	"GET /api/v1/admin/audit":        "admin",
	// retention analytics (analytics.go, ui_home.go): reading the numbers is
	// reading customers; refitting the models is admin work
	"GET /dashboard":                        "viewer",
	"POST /dashboard/refit":                 "admin",
	"GET /api/v1/metrics":                   "viewer",
	"GET /api/v1/cohorts":                   "viewer",
	"GET /api/v1/cohorts/dayn":              "viewer",
	"GET /api/v1/rfm":                       "viewer",
	"GET /api/v1/analytics/model":           "viewer",
	"POST /api/v1/analytics/refit":          "admin",
	"GET /api/v1/analytics/at-risk":         "viewer",
	"GET /api/v1/customers/:id/predictions": "viewer",
	"GET /api/v1/dashboard":                 "viewer",
	// segments (segments.go, ui_segments.go): reading and counting segments is
	// reading customers; saving, changing and deleting them is customer work
	"GET /segments":                       "viewer",
	"GET /segments/new":                   "agent",
	"GET /segments/builder":               "viewer",
	"POST /segments":                      "agent",
	"GET /segments/:id":                   "viewer",
	"GET /segments/:id/edit":              "agent",
	"POST /segments/:id":                  "agent",
	"GET /segments/:id/delete":            "agent",
	"POST /segments/:id/delete":           "agent",
	"GET /segments/:id/export.csv":        "viewer",
	"GET /api/v1/segments":                "viewer",
	"POST /api/v1/segments":               "agent",
	"POST /api/v1/segments/preview":       "viewer",
	"GET /api/v1/segments/:id":            "viewer",
	"PUT /api/v1/segments/:id":            "agent",
	"DELETE /api/v1/segments/:id":         "agent",
	"GET /api/v1/segments/:id/members":    "viewer",
	"GET /api/v1/segments/:id/export.csv": "viewer",
	// plugins (plugins.go, ui_plugins.go): admin work; the outbox
	// (outbox.go, ui_outbox.go): agents send to a customer, managers see and
	// manage every message; inbound hooks are public (plugins check signatures)
	"GET /api/v1/plugins":                      "admin",
	"GET /api/v1/plugins/:name":                "admin",
	"PUT /api/v1/plugins/:name/config":         "admin",
	"PUT /api/v1/plugins/:name/grants":         "admin",
	"POST /api/v1/plugins/:name/enable":        "admin",
	"POST /api/v1/plugins/:name/disable":       "admin",
	"GET /api/v1/outbox":                       "manager",
	"POST /api/v1/outbox":                      "agent",
	"GET /api/v1/outbox/:id":                   "manager",
	"POST /api/v1/outbox/:id/retry":            "manager",
	"POST /api/v1/outbox/:id/cancel":           "manager",
	"POST /api/v1/customers/:id/messages":      "agent",
	"echo_route_any /hooks/:plugin":            "public",
	"echo_route_any /hooks/:plugin/*":          "public",
	"GET /admin/plugins":                       "admin",
	"GET /admin/plugins/:name":                 "admin",
	"POST /admin/plugins/:name/config":         "admin",
	"POST /admin/plugins/:name/grants":         "admin",
	"POST /admin/plugins/:name/enable":         "admin",
	"POST /admin/plugins/:name/disable":        "admin",
	"GET /admin/outbox":                        "manager",
	"POST /admin/outbox/:id/retry":             "manager",
	"POST /admin/outbox/:id/cancel":            "manager",
	"POST /customers/:id/messages":             "agent",
	"GET /customers/:id/panels/:plugin":        "viewer",
	"GET /api/v1/customers/:id/panels/:plugin": "viewer",
}

// rank orders the roles; a route with minimum rank r is open to ranks ≤ r.
var rank = map[string]int{"public": 5, "signed-in": 4, "viewer": 3, "agent": 2, "manager": 1, "admin": 0}

func roleRank(r core.Role) int { return rank[string(r)] }

// TestRoleRouteMatrix walks every registered route with every role (and
// with no session) through real requests on a session cookie and checks the
// answer against minRole and core.Permissions.
func TestRoleRouteMatrix(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	routes := a.srv.Routes()

	seen := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		seen[key] = true
		want, ok := minRole[key]
		if !ok {
			t.Errorf("route %s (%s) has no entry in minRole: decide who may use it", key, r.Name)
			continue
		}
		// The route table's scope must say the same as the list.
		for _, role := range core.Roles {
			byScope := r.Scope == web.ScopePublic || core.RoleAllows(role, r.Scope)
			byList := roleRank(role) <= rank[want]
			if byScope != byList {
				t.Errorf("%s: scope %q allows %s: %v, minRole %q says %v", key, r.Scope, role, byScope, want, byList)
			}
		}
	}
	for key := range minRole {
		if !seen[key] {
			t.Errorf("minRole lists %s, which is not a route any more", key)
		}
	}
	if t.Failed() {
		return
	}

	users := map[core.Role]core.User{}
	for _, role := range core.Roles {
		u, err := a.db.CreateUser(ctx, core.User{Email: string(role) + "@matrix.test", Name: string(role), Role: role,
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
			CreatedAt:    time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		users[role] = u
	}
	// A victim user for admin routes that act on a user id.
	victim, err := a.db.CreateUser(ctx, core.User{Email: "victim@matrix.test", Role: core.RoleViewer, CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`:[a-z_]+|\*`)

	for _, r := range routes {
		key := r.Method + " " + r.Path
		want := minRole[key]
		if want == "public" {
			continue
		}
		for _, role := range append([]core.Role{""}, core.Roles...) {
			// A fresh customer per request, so erasing or editing one
			// cannot change what the next request sees.
			cust, err := a.svc.CreateCustomer(ctx, core.Customer{Name: "Matrix Person"})
			if err != nil {
				t.Fatal(err)
			}
			path := param.ReplaceAllStringFunc(r.Path, func(p string) string {
				switch {
				case p == ":external_id":
					return "matrix-ext"
				case p == "*":
					return "x"
				case strings.HasPrefix(r.Path, "/admin/users") || strings.HasPrefix(r.Path, "/api/v1/admin/users"):
					return victim.ID.String()
				case strings.Contains(r.Path, "/customers/"):
					return cust.ID.String()
				}
				return "999999"
			})
			req := httptest.NewRequest(r.Method, path, strings.NewReader(""))
			if unsafe(r.Method) {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if role != "" {
				secret, csrf := a.matrixSession(users[role])
				req.AddCookie(&http.Cookie{Name: "retain_session", Value: secret})
				req.Header.Set("X-CSRF-Token", csrf)
			}
			rec := httptest.NewRecorder()
			a.h.ServeHTTP(rec, req)
			got := rec.Code
			name := fmt.Sprintf("%s as %q", key, role)
			switch {
			case role == "":
				// No session: the API says 401, pages send the browser to sign in.
				if got != http.StatusUnauthorized && !(got == http.StatusSeeOther && strings.HasPrefix(rec.Header().Get("Location"), "/signin")) {
					t.Errorf("%s: %d, want 401 or a redirect to /signin", name, got)
				}
			case roleRank(role) <= rank[want]:
				if got == http.StatusUnauthorized || got == http.StatusForbidden {
					t.Errorf("%s: %d, want allowed; body %.200s", name, got, rec.Body.String())
				}
			default:
				if got != http.StatusForbidden {
					t.Errorf("%s: %d, want 403", name, got)
				}
			}
		}
	}
}

// matrixSession stores a session for u directly (no password hashing per
// request) and returns the cookie secret and its CSRF token.
func (a *app) matrixSession(u core.User) (secret, csrf string) {
	a.t.Helper()
	secret, err := auth.NewSecret(32)
	if err != nil {
		a.t.Fatal(err)
	}
	csrf, _ = auth.NewSecret(16)
	h := sha256.Sum256([]byte(secret))
	now := time.Now().UTC()
	err = a.db.CreateSession(context.Background(), core.Session{Hash: h[:], UserID: u.ID, CSRF: csrf,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		a.t.Fatal(err)
	}
	return secret, csrf
}

func unsafe(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}
