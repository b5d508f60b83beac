package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// Sessions are keyed by the SHA-256 of the cookie secret, with an index by
// user so that ending a user's sessions reads only theirs. Like users and
// tokens they are not customer data and write nothing to the change log.

// sessionHashLen is the length of a session hash (SHA-256).
const sessionHashLen = 32

// maxShortField bounds the free-text fields of sessions and audit entries
// (IP, user agent, actor, target, ...). Callers that copy request headers
// should truncate to it; the store refuses rather than cut silently.
const maxShortField = 4096

// sessionUserKey is user id(8) | session hash.
func sessionUserKey(userID core.ID, hash []byte) []byte {
	return append(idKey(userID), hash...)
}

// checkText refuses a string the store would not return byte for byte:
// encoding/json replaces invalid UTF-8 with U+FFFD, so it is refused here
// instead of being altered silently.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return core.FieldErr(field, "at most %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return core.FieldErr(field, "not valid UTF-8")
	}
	return nil
}

func validateSession(s *core.Session) error {
	if len(s.Hash) != sessionHashLen {
		return core.FieldErr("hash", "must be %d bytes", sessionHashLen)
	}
	if s.UserID == 0 {
		return core.FieldErr("user_id", "required")
	}
	if s.ExpiresAt.IsZero() {
		return core.FieldErr("expires_at", "required")
	}
	for _, f := range []struct{ name, v string }{{"csrf", s.CSRF}, {"ip", s.IP}, {"user_agent", s.UserAgent}} {
		if err := checkText(f.name, f.v, maxShortField); err != nil {
			return err
		}
	}
	return nil
}

func encodeSession(s *core.Session) ([]byte, error) { return json.Marshal(s) }

func decodeSession(hash, b []byte) (core.Session, error) {
	var s core.Session
	if err := json.Unmarshal(b, &s); err != nil {
		return core.Session{}, fmt.Errorf("session %x…: %w", hash[:min(len(hash), 4)], errCorrupt)
	}
	s.Hash = bytes.Clone(hash)
	return s, nil
}

// CreateSession stores a new session; a hash already in use is ErrConflict.
func (db *DB) CreateSession(ctx context.Context, s core.Session) error {
	if err := validateSession(&s); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		sessions := bucket(tx, bSessions)
		if sessions.Get(s.Hash) != nil {
			return core.Conflictf("a session with this hash exists")
		}
		rec, err := encodeSession(&s)
		if err != nil {
			return err
		}
		if err := bucket(tx, bSessionUser).Put(sessionUserKey(s.UserID, s.Hash), []byte{}); err != nil {
			return err
		}
		return sessions.Put(bytes.Clone(s.Hash), rec)
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

func getSession(tx *bolt.Tx, hash []byte) (core.Session, error) {
	if len(hash) != sessionHashLen {
		return core.Session{}, core.NotFoundf("session")
	}
	v := bucket(tx, bSessions).Get(hash)
	if v == nil {
		return core.Session{}, core.NotFoundf("session")
	}
	return decodeSession(hash, v)
}

// GetSession returns the session with that hash.
func (db *DB) GetSession(ctx context.Context, hash []byte) (core.Session, error) {
	var s core.Session
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		s, err = getSession(tx, hash)
		return err
	})
	return s, err
}

// TouchSession sets LastSeenAt. It rewrites one small record; callers
// throttle it (e.g. once a minute per session) so reads do not become writes.
func (db *DB) TouchSession(ctx context.Context, hash []byte, at time.Time) error {
	return db.update(ctx, func(tx *bolt.Tx) error {
		s, err := getSession(tx, hash)
		if err != nil {
			return err
		}
		s.LastSeenAt = at
		rec, err := encodeSession(&s)
		if err != nil {
			return err
		}
		return bucket(tx, bSessions).Put(bytes.Clone(hash), rec)
	})
}

// deleteSession removes a session and its index entry; absent is not an
// error.
func deleteSession(tx *bolt.Tx, hash []byte) error {
	sessions := bucket(tx, bSessions)
	v := sessions.Get(hash)
	if v == nil {
		return nil
	}
	if s, err := decodeSession(hash, v); err == nil {
		if err := bucket(tx, bSessionUser).Delete(sessionUserKey(s.UserID, hash)); err != nil {
			return err
		}
	} // a corrupt record is still deleted; Check reports any index entry left
	return sessions.Delete(hash)
}

// DeleteSession ends one session (sign-out); an unknown hash is not an error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if len(hash) != sessionHashLen {
		return nil
	}
	return db.update(ctx, func(tx *bolt.Tx) error { return deleteSession(tx, hash) })
}

// DeleteUserSessions ends every session of a user, reading only that user's
// index range.
func (db *DB) DeleteUserSessions(ctx context.Context, userID core.ID) (int, error) {
	var n int
	err := db.update(ctx, func(tx *bolt.Tx) error {
		byUser, sessions := bucket(tx, bSessionUser), bucket(tx, bSessions)
		prefix := idKey(userID)
		var keys [][]byte
		c := byUser.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k)) // keys are only valid in the transaction; we delete after the walk
		}
		for _, k := range keys {
			hash := k[idLen:]
			if sessions.Get(hash) != nil {
				n++
				if err := sessions.Delete(hash); err != nil {
					return err
				}
			}
			if err := byUser.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return n, nil
}

// DeleteExpiredSessions removes sessions whose ExpiresAt is before now. It
// reads every session: there are a few per staff member, and it runs
// periodically, so an expiry index would cost more writes than it saves.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var expired [][]byte
		_ = bucket(tx, bSessions).ForEach(func(k, v []byte) error {
			// A record that does not decode cannot sign anyone in; it goes
			// too, rather than wedging the cleanup (Check reports any index
			// entry it leaves).
			if s, err := decodeSession(k, v); err != nil || s.ExpiresAt.Before(now) {
				expired = append(expired, bytes.Clone(k))
			}
			return nil
		})
		for _, h := range expired {
			if err := deleteSession(tx, h); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}
