package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core/app"
)

// runCLI runs one command in process and returns exit code, stdout, stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := app.Main(context.Background(), append([]string{"retain"}, args...),
		&app.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func TestCLIHelpAndUsage(t *testing.T) {
	// A command that fails on its arguments must not create a data folder.
	t.Chdir(t.TempDir())
	t.Cleanup(func() {
		if _, err := os.Stat("data"); err == nil {
			t.Error("a refused command created ./data")
		}
	})
	code, _, errOut := runCLI(t, "", "--help")
	if code != 0 || !strings.Contains(errOut, "serve") || !strings.Contains(errOut, "plugin") || strings.Contains(errOut, "serve NAME") {
		t.Fatalf("--help: %d %q", code, errOut)
	}
	for _, c := range []string{"serve", "import", "export", "backup", "restore", "reindex", "demo", "version"} {
		code, _, errOut := runCLI(t, "", c, "--help")
		if code != 0 || !strings.Contains(errOut, "usage: retain "+c) {
			t.Errorf("%s --help: exit %d, %q", c, code, errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"import"}, "expected one FILE"},
		{[]string{"import", "--kind", "orders", "x.csv"}, "--kind must be"},
		{[]string{"backup", "--nope"}, "flag provided but not defined"},
		{[]string{"demo", "--customers", "0"}, "--customers"},
		{[]string{"demo", "--industry", "farm"}, "--industry"},
		{[]string{"user"}, "expected add"},
		{[]string{"token", "explode"}, "unknown subcommand"},
	} {
		code, _, errOut := runCLI(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if code, out, _ := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "retain ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestCLIConfigErrorsNameTheKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte("[server]\nlisten_addr = \"x\"\n"), 0o600)
	code, _, errOut := runCLI(t, "", "backup", "--config", cfg, filepath.Join(t.TempDir(), "b"))
	if code != 1 || !strings.Contains(errOut, "server.listen_addr") {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}

func TestCLIUsersTokensBackupRestoreDemoExport(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")

	code, out, errOut := runCLI(t, "", "user", "add", "--data", data, "--email", "Boss@Example.com", "--name", "Boss", "--role", "admin")
	if code != 0 || !strings.Contains(out, "boss@example.com") || !strings.Contains(out, "password: ") {
		t.Fatalf("user add: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "", "user", "add", "--data", data, "--email", "boss@example.com"); code != 1 || !strings.Contains(errOut, "conflict") {
		t.Errorf("duplicate user: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "short\n", "user", "add", "--data", data, "--email", "x@example.com", "--password-stdin"); code != 1 || !strings.Contains(errOut, "password") {
		t.Errorf("short password: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "user", "add", "--data", data, "--email", "y@example.com", "--role", "god"); code != 1 || !strings.Contains(errOut, "role") {
		t.Errorf("bad role: %d %q", code, errOut)
	}
	code, out, _ = runCLI(t, "", "user", "list", "--data", data)
	if code != 0 || !strings.Contains(out, "boss@example.com") || strings.Contains(out, "argon2") {
		t.Fatalf("user list: %d %q", code, out)
	}

	code, secret, errOut := runCLI(t, "", "token", "create", "--data", data, "--name", "ci", "--scopes", "customers:read,search")
	if code != 0 || !strings.HasPrefix(secret, "rtn_") {
		t.Fatalf("token create: %d %q %q", code, secret, errOut)
	}
	if code, _, errOut := runCLI(t, "", "token", "create", "--data", data, "--name", "x", "--scopes", "everything"); code != 1 || !strings.Contains(errOut, "unknown scope") {
		t.Errorf("bad scope: %d %q", code, errOut)
	}
	code, out, _ = runCLI(t, "", "token", "list", "--data", data)
	if code != 0 || !strings.Contains(out, "ci") || strings.Contains(out, strings.TrimSpace(secret)) {
		t.Fatalf("token list shows the secret or misses the token: %q", out)
	}
	if code, out, errOut := runCLI(t, "", "token", "revoke", "--data", data, "--id", "1"); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %d %q %q", code, out, errOut)
	}

	if code, _, errOut := runCLI(t, "", "demo", "--data", data, "--customers", "40", "--industry", "d2c"); code != 0 {
		t.Fatalf("demo: %d %q", code, errOut)
	}
	exportCustomers := func() string {
		code, out, errOut := runCLI(t, "", "export", "--data", data, "--kind", "customers", "--format", "jsonl")
		if code != 0 {
			t.Fatalf("export: %d %q", code, errOut)
		}
		return out
	}
	before := exportCustomers()
	if n := strings.Count(before, "\n"); n != 40 {
		t.Fatalf("export has %d customers, want 40", n)
	}
	// Demo again: nothing is stored twice.
	if code, _, errOut := runCLI(t, "", "demo", "--data", data, "--customers", "40", "--industry", "d2c"); code != 0 {
		t.Fatalf("demo again: %d %q", code, errOut)
	}

	if again := exportCustomers(); strings.Count(again, "\n") != 40 {
		t.Fatalf("a second demo run changed the number of customers")
	}
	before = exportCustomers()
	backup := filepath.Join(dir, "backup.db")
	if code, _, errOut := runCLI(t, "", "backup", "--data", data, backup); code != 0 {
		t.Fatalf("backup: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "demo", "--data", data, "--customers", "10", "--industry", "bank"); code != 0 {
		t.Fatalf("demo bank: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "restore", "--data", data, backup); code != 0 || !strings.Contains(errOut, "restored") {
		t.Fatalf("restore: %d %q", code, errOut)
	}
	if after := exportCustomers(); after != before {
		t.Errorf("after restore the customers differ from the backup")
	}
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte("not a database at all"), 0o600)
	if code, _, _ := runCLI(t, "", "restore", "--data", data, garbage); code == 0 {
		t.Errorf("restore accepted a garbage file")
	}
	if after := exportCustomers(); after != before {
		t.Errorf("a refused restore changed the database")
	}
	if code, _, errOut := runCLI(t, "", "reindex", "--data", data); code != 0 || !strings.Contains(errOut, "index rebuilt") {
		t.Errorf("reindex: %d %q", code, errOut)
	}
}

// `retain plugin pin` prints the line config.toml needs, with the file's
// SHA-256 under its base name; a missing file is an error.
func TestPluginPin(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "push")
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "plugin", "pin", f)
	sum := sha256.Sum256([]byte("#!/bin/sh\n"))
	want := `pinned = { "push" = "` + hex.EncodeToString(sum[:]) + `" }`
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("pin: %d %q %q", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "", "plugin", "pin", filepath.Join(dir, "nope")); code == 0 {
		t.Error("pinning a missing file succeeded")
	}
}
