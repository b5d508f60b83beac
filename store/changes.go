package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// logChanges appends the changes of one write transaction to the log, as
// one record keyed by the first change's Seq.
func logChanges(tx *bolt.Tx, cs []core.Change) error {
	if len(cs) == 0 {
		return nil
	}
	b := bucket(tx, bChanges)
	first := b.Sequence() + 1
	if err := b.SetSequence(first + uint64(len(cs)) - 1); err != nil {
		return err
	}
	return b.Put(idKey(core.ID(first)), encodeChanges(cs))
}

func logChange(tx *bolt.Tx, c core.Change) error { return logChanges(tx, []core.Change{c}) }

// Changes returns up to limit change-log entries with Seq > after, in order.
func (db *DB) Changes(ctx context.Context, after uint64, limit int) ([]core.Change, error) {
	if limit <= 0 || limit > 100_000 {
		return nil, core.Invalidf("change limit must be between 1 and 100000")
	}
	var out []core.Change
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bChanges).Cursor()
		// The record holding after+1 starts at or before it.
		k, v := c.Seek(idKey(core.ID(after + 1)))
		if k == nil || binary.BigEndian.Uint64(k) > after+1 {
			if pk, pv := c.Prev(); pk != nil {
				k, v = pk, pv
			} else {
				k, v = c.First()
			}
		}
		var buf []core.Change
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var err error
			if buf, err = decodeChanges(binary.BigEndian.Uint64(k), v, buf[:0]); err != nil {
				return err
			}
			for _, ch := range buf {
				if ch.Seq > after && len(out) < limit {
					out = append(out, ch)
				}
			}
		}
		return nil
	})
	return out, err
}

// LastChange returns the newest change's Seq, 0 when the log is empty.
func (db *DB) LastChange(ctx context.Context) (uint64, error) {
	var seq uint64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		// The sequence, not the last key: after a trim of everything the
		// log is empty but consumers must still see where it stands.
		seq = bucket(tx, bChanges).Sequence()
		return nil
	})
	return seq, err
}

// TrimChanges drops the log records whose changes all have Seq <= upTo (a
// record straddling upTo stays; Changes skips what was asked past). It works
// in bounded transactions so a huge backlog is not one huge commit.
func (db *DB) TrimChanges(ctx context.Context, upTo uint64) error {
	const chunk = 10_000
	for {
		var n int
		err := db.update(ctx, func(tx *bolt.Tx) error {
			b := bucket(tx, bChanges)
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < chunk; {
				nk, _ := c.Next()
				last := b.Sequence()
				if nk != nil {
					last = binary.BigEndian.Uint64(nk) - 1
				}
				if last > upTo {
					break
				}
				keys = append(keys, bytes.Clone(k))
				k = nk
			}
			// Delete after walking: deleting under a bbolt cursor skips keys.
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return fmt.Errorf("trim changes: %w", err)
		}
		if n < chunk {
			return nil
		}
	}
}
