package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/web"
)

// The users and audit API: what the admin pages do, a token can do.

func TestUsersAPI(t *testing.T) {
	seedUsers := func(t *testing.T, a *app) {
		a.ids["root"] = a.user("root@example.test", core.RoleAdmin).ID
		a.ids["ann"] = a.user("ann@example.test", core.RoleAgent).ID
	}
	noHash := []string{"argon2", "password_hash", `"PasswordHash"`}
	runScenarios(t, []scenario{
		{name: "list", method: "GET", url: "/api/v1/admin/users", token: "admin", setup: seedUsers, status: 200,
			has: []string{`"email":"root@example.test"`, `"role":"agent"`}, hasNot: noHash},
		{name: "get", method: "GET", url: "/api/v1/admin/users/{ann}", token: "admin", setup: seedUsers, status: 200,
			has: []string{`"email":"ann@example.test"`, `"disabled":false`}, hasNot: noHash},
		{name: "get unknown", method: "GET", url: "/api/v1/admin/users/999999", token: "admin", status: 404, errCode: "not_found"},
		{name: "list needs admin", method: "GET", url: "/api/v1/admin/users", token: "reader", status: 403, errCode: "forbidden"},
		{name: "create needs admin", method: "POST", url: "/api/v1/admin/users", token: "writer", body: `{"email":"x@example.test","role":"admin"}`,
			status: 403, errCode: "forbidden", unchanged: true},
		{name: "create typed", method: "POST", url: "/api/v1/admin/users", token: "admin",
			body: `{"email":"New@Example.test","name":" New  Person ","role":"manager","password":"a long password"}`, status: 201,
			has: []string{`"email":"new@example.test"`, `"name":"New Person"`, `"role":"manager"`}, hasNot: append(noHash, `"password"`),
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				r := decode[web.UserResult](t, rec)
				if rec.Header().Get("Location") != "/api/v1/admin/users/"+r.User.ID.String() {
					t.Errorf("Location %q", rec.Header().Get("Location"))
				}
				if b := a.browser(); b.signIn("new@example.test", "a long password").Code != 303 {
					t.Error("created user cannot sign in")
				}
				p, _ := a.db.ListAudit(context.Background(), core.AuditQuery{Action: "createUser", Limit: 1})
				if len(p.Items) != 1 || p.Items[0].ActorKind != "token" || !strings.Contains(p.Items[0].Detail, "new@example.test created as manager") {
					t.Errorf("audit %+v", p.Items)
				}
			}},
		{name: "create generated", method: "POST", url: "/api/v1/admin/users", token: "admin", body: `{"email":"gen@example.test","role":"viewer"}`, status: 201,
			hasNot: noHash,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				r := decode[web.UserResult](t, rec)
				if len(r.Password) < 20 {
					t.Fatalf("generated password %q", r.Password)
				}
				if b := a.browser(); b.signIn("gen@example.test", r.Password).Code != 303 {
					t.Error("generated password does not work")
				}
				if rec := a.do("GET", "/api/v1/admin/users", "admin", nil, nil); strings.Contains(rec.Body.String(), r.Password) {
					t.Error("password listed")
				}
				if strings.Contains(a.logs.String(), r.Password) {
					t.Error("password logged")
				}
				p, _ := a.db.ListAudit(context.Background(), core.AuditQuery{Limit: 50})
				for _, e := range p.Items {
					if strings.Contains(e.Detail, r.Password) {
						t.Error("password in the audit log")
					}
				}
			}},
		{name: "create duplicate", method: "POST", url: "/api/v1/admin/users", token: "admin", setup: seedUsers,
			body: `{"email":"ann@example.test","role":"viewer"}`, status: 409, errCode: "conflict"},
		{name: "create bad role", method: "POST", url: "/api/v1/admin/users", token: "admin", body: `{"email":"x@example.test","role":"root"}`,
			status: 400, errCode: "invalid", field: "role", unchanged: true},
		{name: "create bad email", method: "POST", url: "/api/v1/admin/users", token: "admin", body: `{"email":"nope","role":"agent"}`,
			status: 400, errCode: "invalid", field: "email", unchanged: true},
		{name: "create short password", method: "POST", url: "/api/v1/admin/users", token: "admin", body: `{"email":"x@example.test","role":"agent","password":"short"}`,
			status: 400, errCode: "invalid", field: "password", unchanged: true},
		{name: "create with hash", method: "POST", url: "/api/v1/admin/users", token: "admin",
			body: `{"email":"x@example.test","role":"agent","password_hash":"$argon2id$x"}`, status: 400, errCode: "invalid", field: "password_hash", unchanged: true},
		{name: "create invalid utf-8", method: "POST", url: "/api/v1/admin/users", token: "admin", body: "{\"email\":\"x@example.test\",\"role\":\"agent\",\"name\":\"\xff\"}",
			status: 400, errCode: "invalid", unchanged: true},
		{name: "patch role ends sessions", method: "PATCH", url: "/api/v1/admin/users/{ann}", token: "admin", setup: seedUsers,
			body: `{"role":"manager","name":"Ann M"}`, status: 200, has: []string{`"role":"manager"`, `"name":"Ann M"`}, hasNot: append(noHash, `"password"`)},
		{name: "patch disable ends sessions", method: "PATCH", url: "/api/v1/admin/users/{ann}", token: "admin",
			setup: func(t *testing.T, a *app) {
				seedUsers(t, a)
				b := a.browser()
				b.signIn("ann@example.test", testPassword)
				usersAPI_browser = b
			},
			body: `{"disabled":true}`, status: 200, has: []string{`"disabled":true`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if !adminUI_signedOut(usersAPI_browser) {
					t.Error("disabled user's session still works")
				}
				p, _ := a.db.ListAudit(context.Background(), core.AuditQuery{Action: "patchUser", Limit: 1})
				if len(p.Items) != 1 || p.Items[0].Target != "id="+a.ids["ann"].String() || !strings.Contains(p.Items[0].Detail, "disabled; 1 session(s) ended") {
					t.Errorf("audit %+v", p.Items)
				}
			}},
		{name: "patch generate password", method: "PATCH", url: "/api/v1/admin/users/{ann}", token: "admin", setup: seedUsers,
			body: `{"generate_password":true}`, status: 200, hasNot: noHash,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				r := decode[web.UserResult](t, rec)
				if b := a.browser(); r.Password == "" || b.signIn("ann@example.test", r.Password).Code != 303 {
					t.Error("generated password does not work")
				}
				if b := a.browser(); b.signIn("ann@example.test", testPassword).Code == 303 {
					t.Error("old password still works")
				}
			}},
		{name: "patch typed password", method: "PATCH", url: "/api/v1/admin/users/{ann}", token: "admin", setup: seedUsers,
			body: `{"password":"another long one"}`, status: 200, hasNot: []string{`"password"`}},
		{name: "patch empty password", method: "PATCH", url: "/api/v1/admin/users/{ann}", token: "admin", setup: seedUsers,
			body: `{"password":""}`, status: 400, errCode: "invalid", field: "password"},
		{name: "patch bad role", method: "PATCH", url: "/api/v1/admin/users/{ann}", token: "admin", setup: seedUsers,
			body: `{"role":"owner"}`, status: 400, errCode: "invalid", field: "role"},
		{name: "patch bad name", method: "PATCH", url: "/api/v1/admin/users/{ann}", token: "admin", setup: seedUsers,
			body: `{"name":"a\u0000b"}`, status: 400, errCode: "invalid", field: "name"},
		{name: "patch unknown", method: "PATCH", url: "/api/v1/admin/users/999999", token: "admin", body: `{"disabled":true}`, status: 404, errCode: "not_found"},
		{name: "patch bad id", method: "PATCH", url: "/api/v1/admin/users/abc", token: "admin", body: `{"disabled":true}`, status: 400, errCode: "invalid", field: "id"},
		{name: "last admin cannot be disabled", method: "PATCH", url: "/api/v1/admin/users/{root}", token: "admin", setup: seedUsers,
			body: `{"disabled":true}`, status: 409, errCode: "conflict",
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if u, _ := a.db.GetUser(context.Background(), a.ids["root"]); u.Disabled {
					t.Error("last admin disabled")
				}
			}},
		{name: "last admin cannot be demoted", method: "PATCH", url: "/api/v1/admin/users/{root}", token: "admin", setup: seedUsers,
			body: `{"role":"viewer"}`, status: 409, errCode: "conflict"},
		{name: "admin demoted when another exists", method: "PATCH", url: "/api/v1/admin/users/{root}", token: "admin",
			setup: func(t *testing.T, a *app) { seedUsers(t, a); a.user("second@example.test", core.RoleAdmin) },
			body:  `{"role":"viewer"}`, status: 200, has: []string{`"role":"viewer"`}},
	})
}

// usersAPI_browser carries a browser from a scenario's setup to its check.
var usersAPI_browser *browser

func TestAuditAPI(t *testing.T) {
	seed := func(t *testing.T, a *app) {
		for i := range 30 {
			actor := "a@example.test"
			if i%3 == 0 {
				actor = "b@example.test"
			}
			if _, err := a.db.AppendAudit(context.Background(), core.AuditEntry{At: time.Now(), ActorKind: "user", Actor: actor,
				Action: "patchCustomer", Target: fmt.Sprintf("id=%d", i+1), Detail: "<script>x</script>"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	runScenarios(t, []scenario{
		{name: "newest first, paged", method: "GET", url: "/api/v1/admin/audit?limit=7", token: "admin", setup: seed, status: 200,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				p := decode[core.Page[core.AuditEntry]](t, rec)
				if len(p.Items) != 7 || p.Items[0].Target != "id=30" || p.Next == "" {
					t.Fatalf("page %+v", p)
				}
				seen := 7
				for p.Next != "" {
					rec := a.do("GET", "/api/v1/admin/audit?limit=7&before="+p.Next, "admin", nil, nil)
					p = decode[core.Page[core.AuditEntry]](t, rec)
					seen += len(p.Items)
				}
				if seen != 30 {
					t.Errorf("walked %d entries", seen)
				}
			}},
		{name: "filter", method: "GET", url: "/api/v1/admin/audit?actor=b%40example.test&action=patchCustomer", token: "admin", setup: seed, status: 200,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				p := decode[core.Page[core.AuditEntry]](t, rec)
				if len(p.Items) != 10 {
					t.Errorf("%d entries", len(p.Items))
				}
				for _, e := range p.Items {
					if e.Actor != "b@example.test" {
						t.Errorf("entry %+v", e)
					}
				}
			}},
		{name: "empty", method: "GET", url: "/api/v1/admin/audit?action=none", token: "admin", status: 200, has: []string{`"items":[]`}},
		{name: "bad before", method: "GET", url: "/api/v1/admin/audit?before=x", token: "admin", status: 400, errCode: "invalid", field: "before"},
		{name: "bad limit", method: "GET", url: "/api/v1/admin/audit?limit=0", token: "admin", status: 400, errCode: "invalid", field: "limit"},
		{name: "big limit", method: "GET", url: "/api/v1/admin/audit?limit=501", token: "admin", status: 400, errCode: "invalid", field: "limit"},
		{name: "needs admin", method: "GET", url: "/api/v1/admin/audit", token: "import", status: 403, errCode: "forbidden"},
		{name: "token create is audited with detail", method: "POST", url: "/api/v1/admin/tokens", token: "admin",
			body: `{"name":"ci","scopes":["search"]}`, status: 201,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				ct := decode[web.CreatedToken](t, rec)
				r := a.do("GET", "/api/v1/admin/audit?action=createToken", "admin", nil, nil)
				body := r.Body.String()
				if !strings.Contains(body, `scopes search`) || !strings.Contains(body, `"actor":"admin"`) || strings.Contains(body, ct.Secret) {
					t.Errorf("audit %s", body)
				}
			}},
	})
}
