// Package store is retain's source of truth: the bbolt implementation of
// core.Store. It owns the bucket registry and migrations (schema.go), the key
// layout (keys.go), the record encodings (encoding.go), the change log that
// derived indexes tail, online backup, restore and a consistency check.
//
// It may import core and bbolt only; it knows nothing of HTTP, search or
// plugins.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/retain-crm/retain/core"
)

var _ core.Store = (*DB)(nil)

// Options tune Open. The zero value is the durable production setting.
type Options struct {
	// NoSync skips fsync after each commit. Only for tests and benchmarks: a
	// crash may then lose acknowledged writes or corrupt the file.
	NoSync bool
	// Timeout is how long Open waits for another process to release the
	// file lock; 0 means one second.
	Timeout time.Duration
	// ReadOnly opens the file with a shared lock and refuses writes.
	ReadOnly bool
	// PageSize sets the page size of a new file; 0 means the OS page size.
	// An existing file keeps the size it was created with.
	PageSize int
}

// DB is the bbolt-backed core.Store.
type DB struct {
	bolt *bolt.DB
	path string
}

// ErrLocked is returned (wrapping core.ErrUnavailable) when another process
// holds the database file.
var ErrLocked = fmt.Errorf("%w: database is locked by another retain process", core.ErrUnavailable)

// Open opens or creates the database at path and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data folder: %w", err)
		}
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.Timeout,
		NoSync:       opts.NoSync,
		ReadOnly:     opts.ReadOnly,
		FreelistType: bolt.FreelistMapType, // O(1) page allocation in a large, churned file
		PageSize:     opts.PageSize,
	})
	if err != nil {
		return nil, openError(path, err)
	}
	db := &DB{bolt: bdb, path: path}
	if opts.ReadOnly {
		err = bdb.View(func(tx *bolt.Tx) error {
			if v := schemaVersion(tx); v != len(migrations) {
				return fmt.Errorf("database schema version %d, this binary needs %d; open it read-write once to migrate", v, len(migrations))
			}
			return nil
		})
	} else {
		err = bdb.Update(func(tx *bolt.Tx) error {
			_, err := migrate(tx)
			return err
		})
	}
	if err == nil {
		// Every method assumes the registered buckets exist; make that true
		// here, once, so a damaged file fails to open instead of later.
		err = bdb.View(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if tx.Bucket(b.name) == nil {
					return fmt.Errorf("%w: bucket %s is missing; restore a backup", core.ErrInvalid, b.name)
				}
			}
			return nil
		})
	}
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open %s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return fmt.Errorf("open %s: %w: not a retain database (%v)", path, core.ErrInvalid, err)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// Close releases the file. Pending read transactions finish first.
func (db *DB) Close() error { return db.bolt.Close() }

// Path is the database file.
func (db *DB) Path() string { return db.path }

func (db *DB) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(fn)
}

func (db *DB) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.bolt.IsReadOnly() {
		return fmt.Errorf("%w: database is open read-only", core.ErrUnavailable)
	}
	return db.bolt.Update(fn)
}

// bucket returns a registered bucket, with its fill percent set for writes.
func bucket(tx *bolt.Tx, def bucketDef) *bolt.Bucket {
	b := tx.Bucket(def.name)
	if b == nil {
		// Migrations create every registered bucket; a missing one means a
		// damaged file, which Check reports. Panicking here would be worse.
		panic(fmt.Sprintf("store: bucket %s missing; run retain check", def.name))
	}
	b.FillPercent = def.fill
	return b
}

// Stats reports sizes for operators.
func (db *DB) Stats(ctx context.Context) (core.StoreStats, error) {
	st := core.StoreStats{Path: db.path, Writable: !db.bolt.IsReadOnly()}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		st.SizeBytes = tx.Size()
		st.SchemaVersion = schemaVersion(tx)
		st.LastChange = bucket(tx, bChanges).Sequence()
		return nil
	})
	return st, err
}

// Backup writes a consistent copy of the database to w from one read
// transaction; writers carry on meanwhile.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// ctxWriter stops a long backup when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Restore replaces the database at path with backupFile after checking that
// it is a sound retain database this binary can open. The replacement is
// atomic (temporary file, fsync, rename); a database held by a running
// process is refused with ErrLocked.
func Restore(ctx context.Context, backupFile, path string) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateBackup(ctx, backupFile); err != nil {
		return err
	}
	// Hold a shared lock on the current file (when there is one) until the
	// rename, so a running retain is detected and cannot start meanwhile.
	if _, statErr := os.Stat(path); statErr == nil {
		cur, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
		if err != nil {
			if errors.Is(err, berrors.ErrTimeout) {
				return fmt.Errorf("restore: %w (stop it first)", ErrLocked)
			}
			// A damaged current file is exactly what a restore is for.
		} else {
			defer cur.Close()
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".restore-*")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	src, err := os.Open(backupFile)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("restore: %w", err)
	}
	_, err = io.Copy(tmp, src)
	src.Close()
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore: copy: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // make the rename itself durable
		d.Close()
	}
	return nil
}

// validateBackup opens f read-only and checks it is a retain database of a
// schema version this binary knows, with every registered bucket and a
// clean bbolt check.
func validateBackup(ctx context.Context, f string) (err error) {
	fi, err := os.Stat(f)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("restore: %w: %s is not a regular file", core.ErrInvalid, f)
	}
	if err := checkBoltMeta(f, fi.Size()); err != nil {
		return fmt.Errorf("restore: %w: %s: %v", core.ErrInvalid, f, err)
	}
	// bbolt trusts the pages it maps. The size check above catches the
	// common damage (truncation); SetPanicOnFault turns a stray read of this
	// goroutine into a panic we recover instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("restore: %w: %s is damaged (%v)", core.ErrInvalid, f, r)
		}
	}()
	bdb, err := bolt.Open(f, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("restore: %w", openError(f, err))
	}
	defer bdb.Close()
	return bdb.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta.name) == nil {
			return fmt.Errorf("restore: %w: %s is a bbolt file but not a retain database", core.ErrInvalid, f)
		}
		v := schemaVersion(tx)
		if v < 1 || v > len(migrations) {
			return fmt.Errorf("restore: %w: %s has schema version %d, this binary knows 1..%d", core.ErrInvalid, f, v, len(migrations))
		}
		for _, b := range allBuckets {
			// Older versions may lack later buckets; Open's migrations add them.
			if v == len(migrations) && tx.Bucket(b.name) == nil {
				return fmt.Errorf("restore: %w: %s lacks bucket %s", core.ErrInvalid, f, b.name)
			}
		}
		for cerr := range tx.Check() {
			if err == nil {
				err = fmt.Errorf("restore: %w: %s is damaged: %v", core.ErrInvalid, f, cerr)
			}
		}
		if err == nil {
			err = ctx.Err()
		}
		return err
	})
}

// checkBoltMeta reads the two bbolt meta pages of file f without mapping it
// and checks that the file holds every page a valid meta claims. Mapping a
// truncated file would fault (SIGBUS) at the first read past its end. The
// layout is bbolt's internal/common.Meta, in native byte order.
func checkBoltMeta(f string, size int64) error {
	const hdr, magic, version = 16, 0xED0CDAED, 2
	file, err := os.Open(f)
	if err != nil {
		return err
	}
	defer file.Close()
	read := func(off int64) (pageSize uint32, pgid uint64, ok bool) {
		var m [64]byte
		if _, err := file.ReadAt(m[:], off+hdr); err != nil {
			return 0, 0, false
		}
		ne := binary.NativeEndian
		h := fnv.New64a()
		h.Write(m[:56])
		if ne.Uint32(m[0:]) != magic || ne.Uint32(m[4:]) != version || ne.Uint64(m[56:]) != h.Sum64() {
			return 0, 0, false
		}
		return ne.Uint32(m[8:]), ne.Uint64(m[40:]), true
	}
	valid := 0
	ps, pgid, ok := read(0)
	if ok {
		valid++
		if int64(pgid)*int64(ps) > size {
			return fmt.Errorf("truncated: %d bytes, the file claims %d", size, int64(pgid)*int64(ps))
		}
	}
	if !ok || ps < 512 || ps > 1<<20 {
		ps = uint32(os.Getpagesize())
	}
	if ps2, pgid2, ok2 := read(int64(ps)); ok2 {
		valid++
		if int64(pgid2)*int64(ps2) > size {
			return fmt.Errorf("truncated: %d bytes, the file claims %d", size, int64(pgid2)*int64(ps2))
		}
	}
	if valid == 0 {
		return errors.New("not a bbolt database")
	}
	return nil
}
