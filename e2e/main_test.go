package e2e_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/retain-crm/retain/plugins/builtin"
)

// TestMain lets the test binary stand in for the retain binary when the
// plugin host re-executes itself (`<exe> plugin serve NAME`), so the
// browser walk sends through a real built-in plugin subprocess.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		if err := builtin.Serve(os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	os.Exit(m.Run())
}
