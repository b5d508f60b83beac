package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/store"
)

// cliAccessHash is a fake session hash (32 bytes, as the store requires).
func cliAccessHash(n byte) []byte {
	h := make([]byte, 32)
	h[0] = n
	return h
}

// TestCLIAccessChangesAreAuditedAndEndSessions: `retain user disable` and
// `passwd` end the user's browser sessions, and every user/token command
// that changes something leaves an audit entry by "cli".
func TestCLIAccessChangesAreAuditedAndEndSessions(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctx := context.Background()
	withStore := func(fn func(st *store.DB)) {
		t.Helper()
		st, err := store.Open(ctx, filepath.Join(data, "retain.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		fn(st)
	}
	session := func(email string, n byte) {
		withStore(func(st *store.DB) {
			u, err := st.GetUserByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			if err := st.CreateSession(ctx, core.Session{Hash: cliAccessHash(n), UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		})
	}
	sessionExists := func(n byte) (ok bool) {
		withStore(func(st *store.DB) { _, err := st.GetSession(ctx, cliAccessHash(n)); ok = err == nil })
		return ok
	}
	run := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, stdin, append(args[:1:1], append(args[1:], "--data", data)...)...)
		if code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errOut)
		}
		return out
	}

	run("", "user", "add", "--email", "ann@example.com", "--role", "agent")
	session("ann@example.com", 1)
	run("", "user", "disable", "--email", "ann@example.com")
	if sessionExists(1) {
		t.Error("user disable left a session")
	}
	run("", "user", "enable", "--email", "ann@example.com")
	session("ann@example.com", 2)
	run("a new long password\n", "user", "passwd", "--email", "ann@example.com", "--password-stdin")
	if sessionExists(2) {
		t.Error("user passwd left a session")
	}
	secret := strings.TrimSpace(run("", "token", "create", "--name", "ci", "--scopes", "search"))
	run("", "token", "revoke", "--id", "1")

	withStore(func(st *store.DB) {
		p, err := st.ListAudit(ctx, core.AuditQuery{Actor: "cli"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range p.Items {
			if e.ActorKind != "system" {
				t.Errorf("actor kind %q", e.ActorKind)
			}
			if strings.Contains(e.Detail, secret) || strings.Contains(e.Detail, "a new long password") {
				t.Errorf("secret in the audit log: %+v", e)
			}
			got = append(got, e.Action+": "+e.Detail)
		}
		want := []string{
			"token revoke", "token create", "user passwd", "user enable", "user disable", "user add",
		}
		if len(got) != len(want) {
			t.Fatalf("audit %q", got)
		}
		for i, w := range want {
			if !strings.HasPrefix(got[i], w+": ") {
				t.Errorf("entry %d = %q, want %s", i, got[i], w)
			}
		}
		if !strings.Contains(got[4], "disabled; 1 session(s) ended") || !strings.Contains(got[2], "password reset; 1 session(s) ended") {
			t.Errorf("details %q", got)
		}
	})
}
