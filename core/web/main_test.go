package web_test

import (
	"os"
	"testing"

	"github.com/retain-crm/retain/core/auth"
)

// TestMain makes password hashing cheap: these tests create and sign in
// hundreds of accounts. The argon2id cost itself is tested in core/auth.
func TestMain(m *testing.M) {
	auth.UseTestCost()
	os.Exit(m.Run())
}
