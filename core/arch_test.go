package core_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/retain-crm/retain"

// TestImportDirection enforces the layering of DESIGN.md: core imports the
// standard library only, and nothing under core/ except the composition
// root (core/app) reaches the store, search or plugin host packages.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		if std != "true" && path != module+"/core" {
			t.Errorf("package core depends on %s; it may import the standard library only", path)
		}
	}

	out, err = exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Deps \" \"}}", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{module + "/store", module + "/search", module + "/plugins/host"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ": ")
		if !strings.HasPrefix(pkg, module+"/core") || strings.HasPrefix(pkg, module+"/core/app") {
			continue
		}
		for _, d := range strings.Fields(deps) {
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s imports %s; only core/app may wire storage, search and plugins", pkg, d)
				}
			}
		}
	}
	// store and search implement core's ports; they must not know HTTP.
	for _, pkg := range []string{"../store/...", "../search/..."} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			continue // package not there yet
		}
		for _, d := range strings.Fields(string(out)) {
			if strings.HasPrefix(d, module+"/core/web") || strings.HasPrefix(d, "github.com/labstack/echo") {
				t.Errorf("%s depends on %s; storage and search must not know HTTP", pkg, d)
			}
		}
	}
}
