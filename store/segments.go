package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// Segments are few JSON records keyed by id. Membership is one empty-valued
// key per member, segment id | customer id, so a segment's members are one
// contiguous, ID-ordered key range: paging, counting and deleting a segment
// are range scans, and adding a member touches one key. Membership is
// derived data (core/segments recomputes it from the rule); the store only
// keeps it so that a restart does not begin from nothing.

const memberKeyLen = 2 * idLen

func memberKey(seg, cust core.ID) []byte {
	k := make([]byte, 0, memberKeyLen)
	k = binary.BigEndian.AppendUint64(k, uint64(seg))
	return binary.BigEndian.AppendUint64(k, uint64(cust))
}

func getSegment(tx *bolt.Tx, id core.ID) (core.Segment, error) {
	v := bucket(tx, bSegments).Get(idKey(id))
	if v == nil {
		return core.Segment{}, core.NotFoundf("segment %d", id)
	}
	return decodeSegment(id, v)
}

func decodeSegment(id core.ID, v []byte) (core.Segment, error) {
	var s core.Segment
	if err := json.Unmarshal(v, &s); err != nil {
		return core.Segment{}, fmt.Errorf("segment %d: %w", id, errCorrupt)
	}
	s.ID = id
	return s, nil
}

// nameTaken reports whether another segment than self has name (case-insensitively).
func nameTaken(tx *bolt.Tx, name string, self core.ID) (bool, error) {
	taken := false
	err := bucket(tx, bSegments).ForEach(func(k, v []byte) error {
		s, err := decodeSegment(keyID(k), v)
		if err != nil {
			return err
		}
		if s.ID != self && strings.EqualFold(s.Name, name) {
			taken = true
		}
		return nil
	})
	return taken, err
}

func putSegment(tx *bolt.Tx, s *core.Segment) error {
	if err := s.Normalize(); err != nil {
		return err
	}
	if taken, err := nameTaken(tx, s.Name, s.ID); err != nil {
		return err
	} else if taken {
		return &core.FieldError{Kind: core.ErrConflict, Field: "name", Message: fmt.Sprintf("a segment named %q exists", s.Name)}
	}
	rec, err := json.Marshal(s)
	if err != nil {
		return err
	}
	b := bucket(tx, bSegments)
	b.FillPercent = bSegments.fill
	return b.Put(idKey(s.ID), rec)
}

// CreateSegment stores a new segment and assigns its ID.
func (db *DB) CreateSegment(ctx context.Context, s core.Segment) (core.Segment, error) {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		seq, err := bucket(tx, bSegments).NextSequence()
		if err != nil {
			return err
		}
		s.ID = core.ID(seq)
		return putSegment(tx, &s)
	})
	if err != nil {
		return core.Segment{}, fmt.Errorf("create segment: %w", err)
	}
	return s, nil
}

// GetSegment returns one segment.
func (db *DB) GetSegment(ctx context.Context, id core.ID) (core.Segment, error) {
	var s core.Segment
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		s, err = getSegment(tx, id)
		return err
	})
	return s, err
}

// UpdateSegment applies fn in one transaction; the ID and CreatedAt stay.
func (db *DB) UpdateSegment(ctx context.Context, id core.ID, fn func(*core.Segment) error) (core.Segment, error) {
	var s core.Segment
	err := db.update(ctx, func(tx *bolt.Tx) error {
		old, err := getSegment(tx, id)
		if err != nil {
			return err
		}
		s, _ = getSegment(tx, id)
		if err := fn(&s); err != nil {
			return err
		}
		s.ID, s.CreatedAt = old.ID, old.CreatedAt
		return putSegment(tx, &s)
	})
	if err != nil {
		return core.Segment{}, fmt.Errorf("update segment %d: %w", id, err)
	}
	return s, nil
}

// DeleteSegment removes the segment and all its membership keys.
func (db *DB) DeleteSegment(ctx context.Context, id core.ID) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getSegment(tx, id); err != nil {
			return err
		}
		if err := bucket(tx, bSegments).Delete(idKey(id)); err != nil {
			return err
		}
		return deleteRange(bucket(tx, bSegMembers), idKey(id))
	})
	if err != nil {
		return fmt.Errorf("delete segment %d: %w", id, err)
	}
	return nil
}

// deleteRange deletes every key with prefix. Keys are collected first:
// deleting under a moving cursor skips keys in bbolt.
func deleteRange(b *bolt.Bucket, prefix []byte) error {
	for {
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(keys) < 10_000; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		if len(keys) == 0 {
			return nil
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
}

// ListSegments returns every segment in ID order.
func (db *DB) ListSegments(ctx context.Context) ([]core.Segment, error) {
	var out []core.Segment
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bSegments).ForEach(func(k, v []byte) error {
			s, err := decodeSegment(keyID(k), v)
			out = append(out, s)
			return err
		})
	})
	return out, err
}

// AddSegmentMembers adds ids to the segment in one transaction.
func (db *DB) AddSegmentMembers(ctx context.Context, seg core.ID, ids []core.ID) error {
	return db.changeMembers(ctx, seg, ids, true)
}

// RemoveSegmentMembers removes ids from the segment in one transaction.
func (db *DB) RemoveSegmentMembers(ctx context.Context, seg core.ID, ids []core.ID) error {
	return db.changeMembers(ctx, seg, ids, false)
}

func (db *DB) changeMembers(ctx context.Context, seg core.ID, ids []core.ID, add bool) error {
	if len(ids) == 0 {
		return nil
	}
	// Sorted keys fill bbolt pages in order (fewer splits, fewer dirty pages).
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	err := db.update(ctx, func(tx *bolt.Tx) error {
		if bucket(tx, bSegments).Get(idKey(seg)) == nil {
			return core.NotFoundf("segment %d", seg)
		}
		b := bucket(tx, bSegMembers)
		b.FillPercent = bSegMembers.fill
		for i, id := range sorted {
			if i%10_000 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			var err error
			if add {
				err = b.Put(memberKey(seg, id), []byte{})
			} else {
				err = b.Delete(memberKey(seg, id))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("segment %d members: %w", seg, err)
	}
	return nil
}

// ListSegmentMembers pages the segment's members in ID order.
func (db *DB) ListSegmentMembers(ctx context.Context, seg core.ID, cursor string, limit int) (core.Page[core.ID], error) {
	var page core.Page[core.ID]
	limit, err := pageLimit(limit)
	if err != nil {
		return page, err
	}
	after, err := decodeCursor(cursor, idLen)
	if err != nil {
		return page, err
	}
	err = db.view(ctx, func(tx *bolt.Tx) error {
		if bucket(tx, bSegments).Get(idKey(seg)) == nil {
			return core.NotFoundf("segment %d", seg)
		}
		prefix := idKey(seg)
		start := prefix
		if after != nil {
			start = append(bytes.Clone(prefix), after...)
		}
		c := bucket(tx, bSegMembers).Cursor()
		k, _ := c.Seek(start)
		if after != nil && bytes.Equal(k, start) {
			k, _ = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(page.Items) == limit {
				page.Next = encodeCursor(idKey(page.Items[limit-1]))
				break
			}
			page.Items = append(page.Items, keyID(k))
		}
		return nil
	})
	return page, err
}

// ScanSegmentMembers calls fn for every member in ID order, in one read
// transaction (fn must not write to the store).
func (db *DB) ScanSegmentMembers(ctx context.Context, seg core.ID, fn func(core.ID) error) error {
	return db.view(ctx, func(tx *bolt.Tx) error {
		if bucket(tx, bSegments).Get(idKey(seg)) == nil {
			return core.NotFoundf("segment %d", seg)
		}
		prefix := idKey(seg)
		c := bucket(tx, bSegMembers).Cursor()
		n := 0
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if n++; n%10_000 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := fn(keyID(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountSegmentMembers counts the segment's membership keys.
func (db *DB) CountSegmentMembers(ctx context.Context, seg core.ID) (int, error) {
	n := 0
	err := db.ScanSegmentMembers(ctx, seg, func(core.ID) error { n++; return nil })
	return n, err
}

// segments checks every segment record and that every membership key is
// well formed and names an existing segment. Members that name erased
// customers are not errors: core/segments removes them when it sees the
// erasure in the change log, a moment later.
func (c *checker) segments() {
	segs := c.b(bSegments)
	_ = segs.ForEach(func(k, v []byte) error {
		if len(k) != idLen {
			c.report("%s: malformed key %x", bSegments.name, k)
		} else if _, err := decodeSegment(keyID(k), v); err != nil {
			c.report("%v", err)
		}
		return nil
	})
	var last core.ID
	var lastOK bool
	_ = c.b(bSegMembers).ForEach(func(k, _ []byte) error {
		if len(k) != memberKeyLen {
			c.report("%s: malformed key %x", bSegMembers.name, k)
			return nil
		}
		seg := keyID(k[:idLen])
		if seg != last {
			last, lastOK = seg, segs.Get(idKey(seg)) != nil
			if !lastOK {
				c.report("%s: members of segment %d, which does not exist", bSegMembers.name, seg)
			}
		}
		return nil
	})
}
