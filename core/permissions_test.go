package core

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPermissionsDocumented keeps docs/security.md's role table in step with
// Permissions: each row names (in backticks) the scopes the role adds to the
// one below it.
func TestPermissionsDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	tick := regexp.MustCompile("`([a-z:]+)`")
	var acc []Scope
	for i := len(Roles) - 1; i >= 0; i-- {
		role := Roles[i]
		var row string
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "| "+string(role)+" ") {
				row = line
			}
		}
		if row == "" {
			t.Fatalf("docs/security.md has no row for %s", role)
		}
		for _, m := range tick.FindAllStringSubmatch(row, -1) {
			acc = append(acc, Scope(m[1]))
		}
		want := Permissions[role]
		if role == RoleAdmin {
			acc = []Scope{ScopeAdmin}
		}
		for _, s := range want {
			if !slices.Contains(acc, s) {
				t.Errorf("%s: docs do not mention %s", role, s)
			}
		}
		for _, s := range acc {
			if !RoleAllows(role, s) {
				t.Errorf("%s: docs grant %s, Permissions do not", role, s)
			}
		}
	}
	for _, r := range Roles {
		if RoleAllows(r, ScopeSignedIn) != true {
			t.Errorf("%s is not allowed signed-in routes", r)
		}
	}
	if RoleAllows("", ScopeSignedIn) || RoleAllows("root", ScopeCustomersRead) {
		t.Error("an unknown role is allowed something")
	}
}
