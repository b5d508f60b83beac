package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// Users, tokens and import jobs are few and small: JSON records keyed by id,
// with a unique index where the service looks them up by something else.

// CreateUser stores a new staff account; a duplicate email is ErrConflict.
func (db *DB) CreateUser(ctx context.Context, u core.User) (core.User, error) {
	if u.Email == "" || len(u.Email) > maxIndexedLen {
		return core.User{}, core.FieldErr("email", "required, at most %d bytes", maxIndexedLen)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		users, byEmail := bucket(tx, bUsers), bucket(tx, bUserEmail)
		if v := byEmail.Get([]byte(u.Email)); v != nil {
			return core.Conflictf("a user with email %q exists", u.Email)
		}
		seq, err := users.NextSequence()
		if err != nil {
			return err
		}
		u.ID = core.ID(seq)
		rec, err := encodeUser(&u)
		if err != nil {
			return err
		}
		if err := byEmail.Put([]byte(u.Email), idKey(u.ID)); err != nil {
			return err
		}
		return users.Put(idKey(u.ID), rec)
	})
	if err != nil {
		return core.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

func getUser(tx *bolt.Tx, id core.ID) (core.User, error) {
	v := bucket(tx, bUsers).Get(idKey(id))
	if v == nil {
		return core.User{}, core.NotFoundf("user %d", id)
	}
	return decodeUser(id, v)
}

// GetUser returns one user.
func (db *DB) GetUser(ctx context.Context, id core.ID) (core.User, error) {
	var u core.User
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		u, err = getUser(tx, id)
		return err
	})
	return u, err
}

// GetUserByEmail returns the user with that (normalized) email.
func (db *DB) GetUserByEmail(ctx context.Context, email string) (core.User, error) {
	var u core.User
	err := db.view(ctx, func(tx *bolt.Tx) error {
		v := bucket(tx, bUserEmail).Get([]byte(email))
		if v == nil || email == "" {
			return core.NotFoundf("user with email %q", email)
		}
		var err error
		u, err = getUser(tx, keyID(v))
		return err
	})
	return u, err
}

// UpdateUser applies fn to a user in one transaction, keeping the email index.
func (db *DB) UpdateUser(ctx context.Context, id core.ID, fn func(*core.User) error) (core.User, error) {
	var u core.User
	err := db.update(ctx, func(tx *bolt.Tx) error {
		old, err := getUser(tx, id)
		if err != nil {
			return err
		}
		u, _ = getUser(tx, id)
		if err := fn(&u); err != nil {
			return err
		}
		u.ID, u.CreatedAt = old.ID, old.CreatedAt
		if u.Email == "" || len(u.Email) > maxIndexedLen {
			return core.FieldErr("email", "required, at most %d bytes", maxIndexedLen)
		}
		byEmail := bucket(tx, bUserEmail)
		if u.Email != old.Email {
			if v := byEmail.Get([]byte(u.Email)); v != nil {
				return core.Conflictf("a user with email %q exists", u.Email)
			}
			if err := byEmail.Delete([]byte(old.Email)); err != nil {
				return err
			}
			if err := byEmail.Put([]byte(u.Email), idKey(id)); err != nil {
				return err
			}
		}
		rec, err := encodeUser(&u)
		if err != nil {
			return err
		}
		return bucket(tx, bUsers).Put(idKey(id), rec)
	})
	if err != nil {
		return core.User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	return u, nil
}

// ListUsers returns every user in ID order.
func (db *DB) ListUsers(ctx context.Context) ([]core.User, error) {
	var out []core.User
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bUsers).ForEach(func(k, v []byte) error {
			u, err := decodeUser(keyID(k), v)
			out = append(out, u)
			return err
		})
	})
	return out, err
}

// CountUsers returns how many users exist.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.view(ctx, func(tx *bolt.Tx) error {
		n = bucket(tx, bUsers).Stats().KeyN
		return nil
	})
	return n, err
}

// CreateToken stores a token; its hash must be unique.
func (db *DB) CreateToken(ctx context.Context, t core.Token) (core.Token, error) {
	if len(t.Hash) == 0 || len(t.Hash) > maxIndexedLen {
		return core.Token{}, core.Invalidf("token hash required")
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		tokens, byHash := bucket(tx, bTokens), bucket(tx, bTokenHash)
		if byHash.Get(t.Hash) != nil {
			return core.Conflictf("a token with this secret exists")
		}
		seq, err := tokens.NextSequence()
		if err != nil {
			return err
		}
		t.ID = core.ID(seq)
		rec, err := encodeToken(&t)
		if err != nil {
			return err
		}
		if err := byHash.Put(bytes.Clone(t.Hash), idKey(t.ID)); err != nil {
			return err
		}
		return tokens.Put(idKey(t.ID), rec)
	})
	if err != nil {
		return core.Token{}, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}

func getToken(tx *bolt.Tx, id core.ID) (core.Token, error) {
	v := bucket(tx, bTokens).Get(idKey(id))
	if v == nil {
		return core.Token{}, core.NotFoundf("token %d", id)
	}
	return decodeToken(id, v)
}

// GetTokenByHash returns the token whose secret hashes to hash.
func (db *DB) GetTokenByHash(ctx context.Context, hash []byte) (core.Token, error) {
	var t core.Token
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if len(hash) == 0 {
			return core.NotFoundf("token")
		}
		v := bucket(tx, bTokenHash).Get(hash)
		if v == nil {
			return core.NotFoundf("token")
		}
		var err error
		t, err = getToken(tx, keyID(v))
		return err
	})
	return t, err
}

// ListTokens returns every token in ID order.
func (db *DB) ListTokens(ctx context.Context) ([]core.Token, error) {
	var out []core.Token
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bTokens).ForEach(func(k, v []byte) error {
			t, err := decodeToken(keyID(k), v)
			out = append(out, t)
			return err
		})
	})
	return out, err
}

// UpdateToken applies fn to a token (last use, revocation); the secret hash
// cannot change.
func (db *DB) UpdateToken(ctx context.Context, id core.ID, fn func(*core.Token) error) (core.Token, error) {
	var t core.Token
	err := db.update(ctx, func(tx *bolt.Tx) error {
		old, err := getToken(tx, id)
		if err != nil {
			return err
		}
		t, _ = getToken(tx, id)
		if err := fn(&t); err != nil {
			return err
		}
		t.ID, t.Hash, t.CreatedAt = old.ID, old.Hash, old.CreatedAt
		rec, err := encodeToken(&t)
		if err != nil {
			return err
		}
		return bucket(tx, bTokens).Put(idKey(id), rec)
	})
	if err != nil {
		return core.Token{}, fmt.Errorf("update token %d: %w", id, err)
	}
	return t, nil
}

// CreateImportJob stores a new import job.
func (db *DB) CreateImportJob(ctx context.Context, j core.ImportJob) (core.ImportJob, error) {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bImportJobs)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		j.ID = core.ID(seq)
		rec, err := encodeImportJob(&j)
		if err != nil {
			return err
		}
		return b.Put(idKey(j.ID), rec)
	})
	if err != nil {
		return core.ImportJob{}, fmt.Errorf("create import job: %w", err)
	}
	return j, nil
}

func getImportJob(tx *bolt.Tx, id core.ID) (core.ImportJob, error) {
	v := bucket(tx, bImportJobs).Get(idKey(id))
	if v == nil {
		return core.ImportJob{}, core.NotFoundf("import job %d", id)
	}
	return decodeImportJob(id, v)
}

// GetImportJob returns one import job.
func (db *DB) GetImportJob(ctx context.Context, id core.ID) (core.ImportJob, error) {
	var j core.ImportJob
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		j, err = getImportJob(tx, id)
		return err
	})
	return j, err
}

// UpdateImportJob applies fn to a job in one transaction.
func (db *DB) UpdateImportJob(ctx context.Context, id core.ID, fn func(*core.ImportJob) error) (core.ImportJob, error) {
	var j core.ImportJob
	err := db.update(ctx, func(tx *bolt.Tx) error {
		old, err := getImportJob(tx, id)
		if err != nil {
			return err
		}
		j, _ = getImportJob(tx, id)
		if err := fn(&j); err != nil {
			return err
		}
		j.ID, j.CreatedAt = old.ID, old.CreatedAt
		rec, err := encodeImportJob(&j)
		if err != nil {
			return err
		}
		return bucket(tx, bImportJobs).Put(idKey(id), rec)
	})
	if err != nil {
		return core.ImportJob{}, fmt.Errorf("update import job %d: %w", id, err)
	}
	return j, nil
}

// ListImportJobs returns the newest jobs first; limit 0 means 50.
func (db *DB) ListImportJobs(ctx context.Context, limit int) ([]core.ImportJob, error) {
	l, err := pageLimit(limit)
	if err != nil {
		return nil, err
	}
	var out []core.ImportJob
	err = db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bImportJobs).Cursor()
		for k, v := c.Last(); k != nil && len(out) < l; k, v = c.Prev() {
			j, err := decodeImportJob(keyID(k), v)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	return out, err
}
