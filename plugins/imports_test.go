package plugins_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/retain-crm/retain"

// TestPluginsImportOnlyTheSDK: the SDK, the built-in plugins and the
// examples are what a third party could write, so they import nothing of
// the CRM but plugins/sdk and plugins/proto (the built-in registry may also
// import its own plugin packages).
func TestPluginsImportOnlyTheSDK(t *testing.T) {
	args := []string{"list", "-f", "{{.ImportPath}}: {{join .Deps \" \"}}", "./sdk/...", "./builtin/..."}
	if _, err := os.Stat("examples"); err == nil {
		args = append(args, "./examples/...")
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{module + "/plugins/sdk", module + "/plugins/proto"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ": ")
		ok := allowed
		if pkg == module+"/plugins/builtin" {
			ok = append(ok, module+"/plugins/builtin")
		}
		for _, d := range strings.Fields(deps) {
			if !strings.HasPrefix(d, module+"/") {
				continue
			}
			fine := false
			for _, a := range ok {
				if d == a || strings.HasPrefix(d, a+"/") {
					fine = true
				}
			}
			if !fine {
				t.Errorf("%s imports %s; plugins may import only plugins/sdk and plugins/proto", pkg, d)
			}
		}
	}
}
