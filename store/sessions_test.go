package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

func sessionHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func newUser(t *testing.T, db *DB, email string) core.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), core.User{Email: email, Role: core.RoleAgent, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newSession(user core.ID, secret string, expires time.Time) core.Session {
	return core.Session{
		Hash: sessionHash(secret), UserID: user, CSRF: "csrf-" + secret,
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: expires, IP: "192.0.2.1", UserAgent: "test/1.0",
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	ann, bob := newUser(t, db, "ann@example.com"), newUser(t, db, "bob@example.com")
	before, _ := db.LastChange(ctx)

	for _, s := range []core.Session{
		newSession(ann.ID, "a1", t0.Add(time.Hour)),
		newSession(ann.ID, "a2", t0.Add(48*time.Hour)),
		newSession(ann.ID, "a3", t0.Add(-time.Second)), // already expired
		newSession(bob.ID, "b1", t0.Add(time.Hour)),
		newSession(bob.ID, "b2", t0.Add(-time.Hour)),
	} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, db)

	got, err := db.GetSession(ctx, sessionHash("a1"))
	want := newSession(ann.ID, "a1", t0.Add(time.Hour))
	if err != nil || !bytes.Equal(got.Hash, want.Hash) || got.UserID != ann.ID || got.CSRF != want.CSRF ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.LastSeenAt.Equal(t0) || got.IP != want.IP || got.UserAgent != want.UserAgent {
		t.Errorf("get = %+v %v", got, err)
	}
	if err := db.CreateSession(ctx, newSession(bob.ID, "a1", t0.Add(time.Hour))); !errors.Is(err, core.ErrConflict) {
		t.Errorf("duplicate hash: %v", err)
	}

	for _, h := range [][]byte{nil, {}, {1, 2, 3}, sessionHash("nobody"), bytes.Repeat([]byte{0xff}, 64)} {
		if _, err := db.GetSession(ctx, h); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("get %x: %v, want not found", h, err)
		}
		if err := db.TouchSession(ctx, h, t0); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("touch %x: %v, want not found", h, err)
		}
		if err := db.DeleteSession(ctx, h); err != nil {
			t.Errorf("delete %x: %v, want nil", h, err)
		}
	}

	seen := t0.Add(10 * time.Minute)
	if err := db.TouchSession(ctx, sessionHash("a1"), seen); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetSession(ctx, sessionHash("a1")); !got.LastSeenAt.Equal(seen) || !got.CreatedAt.Equal(t0) || got.CSRF != "csrf-a1" {
		t.Errorf("after touch: %+v", got)
	}

	if err := db.DeleteSession(ctx, sessionHash("a2")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSession(ctx, sessionHash("a2")); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("deleted session: %v", err)
	}
	mustCheck(t, db)

	n, err := db.DeleteExpiredSessions(ctx, t0)
	if err != nil || n != 2 {
		t.Errorf("expired = %d %v, want 2 (a3, b2)", n, err)
	}
	for s, alive := range map[string]bool{"a1": true, "a3": false, "b1": true, "b2": false} {
		if _, err := db.GetSession(ctx, sessionHash(s)); (err == nil) != alive {
			t.Errorf("%s after cleanup: %v, alive %v", s, err, alive)
		}
	}
	// ExpiresAt equal to now is not yet expired ("before now").
	if n, _ := db.DeleteExpiredSessions(ctx, t0.Add(time.Hour)); n != 0 {
		t.Errorf("cleanup at the exact expiry removed %d", n)
	}
	mustCheck(t, db)

	if err := db.CreateSession(ctx, newSession(bob.ID, "b3", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	n, err = db.DeleteUserSessions(ctx, bob.ID)
	if err != nil || n != 2 {
		t.Errorf("delete bob's = %d %v, want 2", n, err)
	}
	if _, err := db.GetSession(ctx, sessionHash("a1")); err != nil {
		t.Errorf("ann's session went with bob's: %v", err)
	}
	for _, s := range []string{"b1", "b3"} {
		if _, err := db.GetSession(ctx, sessionHash(s)); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("bob's %s survives: %v", s, err)
		}
	}
	if n, err := db.DeleteUserSessions(ctx, bob.ID); n != 0 || err != nil {
		t.Errorf("second delete = %d %v", n, err)
	}
	if n, err := db.DeleteUserSessions(ctx, 999); n != 0 || err != nil {
		t.Errorf("unknown user = %d %v", n, err)
	}
	mustCheck(t, db)

	if after, _ := db.LastChange(ctx); after != before {
		t.Errorf("sessions wrote to the change log: %d → %d", before, after)
	}
}

// TestSessionUserIndexIsExact checks that the user-index prefix scan stops
// at the user: neighbours whose ids differ only in the last byte (1 and 257)
// or sit next to each other keep their sessions.
func TestSessionUserIndexIsExact(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var users []core.User
	for i := range 300 {
		users = append(users, newUser(t, db, fmt.Sprintf("u%d@example.com", i)))
	}
	for _, u := range users {
		if err := db.CreateSession(ctx, newSession(u.ID, u.Email, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 255, 256, 299} {
		if n, err := db.DeleteUserSessions(ctx, users[i].ID); n != 1 || err != nil {
			t.Errorf("user %d: deleted %d %v, want 1", users[i].ID, n, err)
		}
	}
	n := 0
	_ = db.bolt.View(func(tx *bolt.Tx) error { n = tx.Bucket(bSessions.name).Stats().KeyN; return nil })
	if n != 296 {
		t.Errorf("%d sessions left, want 296", n)
	}
	mustCheck(t, db)
}

func TestCreateSessionRefusesHostileInput(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	u := newUser(t, db, "ann@example.com")
	ok := newSession(u.ID, "ok", t0.Add(time.Hour))
	tests := []struct {
		name  string
		field string
		edit  func(*core.Session)
	}{
		{"no hash", "hash", func(s *core.Session) { s.Hash = nil }},
		{"short hash", "hash", func(s *core.Session) { s.Hash = s.Hash[:16] }},
		{"long hash", "hash", func(s *core.Session) { s.Hash = append(s.Hash, 0) }},
		{"no user", "user_id", func(s *core.Session) { s.UserID = 0 }},
		{"no expiry", "expires_at", func(s *core.Session) { s.ExpiresAt = time.Time{} }},
		{"huge user agent", "user_agent", func(s *core.Session) { s.UserAgent = strings.Repeat("x", 1<<20) }},
		{"huge ip", "ip", func(s *core.Session) { s.IP = strings.Repeat("1", maxShortField+1) }},
		{"invalid UTF-8 user agent", "user_agent", func(s *core.Session) { s.UserAgent = "Mozilla\xff\xfe" }},
		{"invalid UTF-8 csrf", "csrf", func(s *core.Session) { s.CSRF = "\xc3" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			s.Hash = bytes.Clone(ok.Hash)
			tt.edit(&s)
			err := db.CreateSession(ctx, s)
			if !errors.Is(err, core.ErrInvalid) || core.ErrorField(err) != tt.field {
				t.Errorf("err = %v (field %q), want invalid %s", err, core.ErrorField(err), tt.field)
			}
		})
	}
	// Odd but valid text comes back byte for byte.
	s := ok
	s.UserAgent = strings.Repeat("é", maxShortField/2) // exactly the limit
	s.IP = "\x00<script>\"'\u2028"
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSession(ctx, s.Hash)
	if err != nil || got.UserAgent != s.UserAgent || got.IP != s.IP {
		t.Errorf("round trip: %q %q %v", got.UserAgent, got.IP, err)
	}
	mustCheck(t, db)
}

func TestCheckFindsBrokenSessionIndex(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	u := newUser(t, db, "ann@example.com")
	for _, s := range []string{"a", "b"} {
		if err := db.CreateSession(ctx, newSession(u.ID, s, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, db)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		byUser := tx.Bucket(bSessionUser.name)
		_ = byUser.Delete(sessionUserKey(u.ID, sessionHash("a")))        // session without entry
		_ = byUser.Put(sessionUserKey(u.ID, sessionHash("ghost")), nil)  // entry without session
		return byUser.Put(sessionUserKey(u.ID+1, sessionHash("b")), nil) // entry naming the wrong user
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs := db.Check(ctx); len(errs) != 3 {
		t.Errorf("check found %d problems, want 3: %v", len(errs), errs)
	}
	// A stale entry does not count as a session, and is cleared with the user's.
	if n, err := db.DeleteUserSessions(ctx, u.ID); n != 1 || err != nil {
		t.Errorf("delete = %d %v, want 1 (b; ghost is only an index entry)", n, err)
	}
}

// TestMigrateSessionsAudit makes a schema-2 database (as the previous binary
// left it: no session or audit buckets) and checks that Open adds them.
func TestMigrateSessionsAudit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	u := newUser(t, db, "ann@example.com")
	c := newCustomer(t, db, "c1")
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		for _, b := range []bucketDef{bSessions, bSessionUser, bAudit} {
			if err := tx.DeleteBucket(b.name); err != nil {
				return err
			}
		}
		return putUint(tx.Bucket(bMeta.name), metaSchemaVersion, 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	// A read-only open refuses the old schema rather than half-working.
	if _, err := Open(ctx, path, Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a schema-2 file succeeded")
	}
	db, err = Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if SchemaVersion() < 3 { // later migrations append to the list
		t.Errorf("SchemaVersion() = %d, want at least 3", SchemaVersion())
	}
	if st, _ := db.Stats(ctx); st.SchemaVersion != SchemaVersion() {
		t.Errorf("schema version %d after open, want %d", st.SchemaVersion, SchemaVersion())
	}
	mustCheck(t, db)
	if _, err := db.GetCustomer(ctx, c.ID); err != nil {
		t.Errorf("customer lost in migration: %v", err)
	}
	if err := db.CreateSession(ctx, newSession(u.ID, "s", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if e, err := db.AppendAudit(ctx, auditEntry("ann@example.com", "user add")); err != nil || e.ID != 1 {
		t.Errorf("first audit entry after migration: %+v %v", e, err)
	}
	mustCheck(t, db)
}

// TestSessionsConcurrent runs sign-ins, activity, sign-outs and cleanup of
// several users at once (for -race and for index consistency).
func TestSessionsConcurrent(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var users []core.User
	for i := range 4 {
		users = append(users, newUser(t, db, fmt.Sprintf("u%d@example.com", i)))
	}
	var wg sync.WaitGroup
	errc := make(chan error, 100)
	for _, u := range users {
		wg.Go(func() {
			for i := range 50 {
				h := fmt.Sprintf("%d-%d", u.ID, i)
				if err := db.CreateSession(ctx, newSession(u.ID, h, t0.Add(time.Duration(i%3-1)*time.Hour))); err != nil {
					errc <- err
					return
				}
				if err := db.TouchSession(ctx, sessionHash(h), t0); err != nil && !errors.Is(err, core.ErrNotFound) {
					errc <- err // the cleanup may have taken it already
					return
				}
				if _, err := db.GetSession(ctx, sessionHash(h)); err != nil && !errors.Is(err, core.ErrNotFound) {
					errc <- err
					return
				}
				if i%10 == 9 {
					if _, err := db.DeleteUserSessions(ctx, u.ID); err != nil {
						errc <- err
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := db.DeleteExpiredSessions(ctx, t0); err != nil {
				errc <- err
				return
			}
			if _, err := db.AppendAudit(ctx, auditEntry("system", "cleanup")); err != nil {
				errc <- err
				return
			}
		}
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	mustCheck(t, db)
}
