package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
)

// stubStore satisfies core.Store so that New can build the route table
// without a database; no test here calls into it (a real store is used by
// the scenario tests in web_test).
type stubStore struct{ core.Store }

func tableServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Deps{Config: config.Default(), Service: &core.Service{}, Store: stubStore{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var echoParam = regexp.MustCompile(`:([a-z_]+)`)

// TestOpenAPIMatchesRoutes: every route of the table is in openapi.json
// with the same method, path and scope, and the document has nothing else.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Scope       string `json:"x-scope"`
			Security    []map[string][]string
			Responses   map[string]any
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	inTable := map[string]bool{}
	for _, r := range tableServer(t).Routes() {
		if !strings.HasPrefix(r.Path, APIPrefix+"/") && r.Path != "/healthz" && r.Path != "/readyz" && r.Path != "/metrics" {
			continue // the staff UI's pages are not part of the API
		}
		p := echoParam.ReplaceAllString(r.Path, "{$1}")
		key := r.Method + " " + p
		inTable[key] = true
		op, ok := doc.Paths[p][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		if op.OperationID != r.Name {
			t.Errorf("%s: operationId %q, route name %q", key, op.OperationID, r.Name)
		}
		if op.Scope != string(r.Scope) {
			t.Errorf("%s: x-scope %q, route scope %q", key, op.Scope, r.Scope)
		}
		if r.Scope != ScopePublic && (len(op.Security) != 1 || !slices.Contains(op.Security[0]["bearer"], string(r.Scope))) {
			t.Errorf("%s: security %v does not require scope %s", key, op.Security, r.Scope)
		}
		if len(op.Responses) == 0 {
			t.Errorf("%s: no responses", key)
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if key := strings.ToUpper(m) + " " + p; !inTable[key] {
				t.Errorf("openapi.json has %s, which is not in the route table", key)
			}
		}
	}
}

// TestRouteTable checks the table's own invariants: names unique, API
// routes under /api/v1 need a scope (except the document itself), every
// scope is a known one, and bodies are declared only where a method has one.
func TestRouteTable(t *testing.T) {
	names := map[string]bool{}
	for _, r := range tableServer(t).Routes() {
		if names[r.Name] {
			t.Errorf("duplicate route name %s", r.Name)
		}
		names[r.Name] = true
		if r.Handler == nil {
			t.Errorf("%s has no handler", r.Name)
		}
		if strings.HasPrefix(r.Path, APIPrefix) && r.Scope == ScopePublic && r.Name != "openapi" {
			t.Errorf("%s %s is public", r.Method, r.Path)
		}
		if r.Scope != ScopePublic && r.Scope != core.ScopeSignedIn && !slices.Contains(core.Scopes, r.Scope) {
			t.Errorf("%s: unknown scope %q", r.Name, r.Scope)
		}
		if r.Body != BodyNone && (r.Method == http.MethodGet || r.Method == http.MethodDelete) {
			t.Errorf("%s: %s with a body", r.Name, r.Method)
		}
	}
}
