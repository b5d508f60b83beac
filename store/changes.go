package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// logChange appends c to the change log in the writing transaction.
func logChange(tx *bolt.Tx, c core.Change) error {
	b := bucket(tx, bChanges)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(idKey(core.ID(seq)), encodeChange(c))
}

// Changes returns up to limit change-log entries with Seq > after, in order.
func (db *DB) Changes(ctx context.Context, after uint64, limit int) ([]core.Change, error) {
	if limit <= 0 || limit > 100_000 {
		return nil, core.Invalidf("change limit must be between 1 and 100000")
	}
	var out []core.Change
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bChanges).Cursor()
		for k, v := c.Seek(idKey(core.ID(after + 1))); k != nil && len(out) < limit; k, v = c.Next() {
			ch, err := decodeChange(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			out = append(out, ch)
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

// TrimChanges drops entries with Seq <= upTo, in bounded transactions so a
// huge backlog does not make one huge commit.
func (db *DB) TrimChanges(ctx context.Context, upTo uint64) error {
	end := idKey(core.ID(upTo))
	for {
		var n int
		err := db.update(ctx, func(tx *bolt.Tx) error {
			b := bucket(tx, bChanges)
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, end) <= 0 && len(keys) < 50_000; k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
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
		if n < 50_000 {
			return nil
		}
	}
}
