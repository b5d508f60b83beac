package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// AppendInteractions stores a batch in one transaction. Records are encoded
// before the transaction (the ID is the key, not part of the record); inside
// it, IDs are taken from the bucket sequence so the primary bucket only ever
// appends, and each index's keys are put in sorted order.
func (db *DB) AppendInteractions(ctx context.Context, in []core.Interaction) ([]core.AppendResult, error) {
	if len(in) > core.MaxBatch {
		return nil, core.Invalidf("at most %d interactions per batch", core.MaxBatch)
	}
	if len(in) == 0 {
		return []core.AppendResult{}, nil
	}
	var res []core.AppendResult
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		res, err = appendInteractionsTx(tx, in)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("append interactions: %w", err)
	}
	return res, nil
}

// appendInteractionsTx is AppendInteractions inside tx (the outbox records
// message outcomes with the message's new state in one transaction).
func appendInteractionsTx(tx *bolt.Tx, in []core.Interaction) ([]core.AppendResult, error) {
	res := make([]core.AppendResult, len(in))
	recs := make([][]byte, len(in))
	var custIDs []core.ID
	for i := range in {
		x := &in[i]
		if x.CustomerID == 0 {
			return nil, core.FieldErr(fmt.Sprintf("interactions[%d].customer_id", i), "required")
		}
		if len(x.IdempotencyKey) > maxIndexedLen {
			return nil, core.FieldErr(fmt.Sprintf("interactions[%d].idempotency_key", i), "at most %d bytes", maxIndexedLen)
		}
		recs[i] = encodeInteraction(x)
		custIDs = append(custIDs, x.CustomerID)
	}
	slices.Sort(custIDs)
	custIDs = slices.Compact(custIDs)

	err := func() error {
		ib, idem, custs := bucket(tx, bInteractions), bucket(tx, bIdempotency), bucket(tx, bCustomers)
		for _, id := range custIDs {
			if custs.Get(idKey(id)) == nil {
				return core.NotFoundf("customer %d", id)
			}
		}

		// Assign IDs, skipping idempotency keys already stored or seen
		// earlier in this batch.
		seq := ib.Sequence()
		var batchKeys map[string]core.ID
		fresh := make([]int, 0, len(in))
		for i := range in {
			k := in[i].IdempotencyKey
			if k != "" {
				if id, ok := batchKeys[k]; ok {
					res[i] = core.AppendResult{ID: id, Duplicate: true}
					continue
				}
				if v := idem.Get([]byte(k)); v != nil {
					res[i] = core.AppendResult{ID: keyID(v), Duplicate: true}
					continue
				}
				if batchKeys == nil {
					batchKeys = make(map[string]core.ID)
				}
			}
			seq++
			res[i].ID = core.ID(seq)
			if k != "" {
				batchKeys[k] = res[i].ID
			}
			fresh = append(fresh, i)
		}
		if len(fresh) == 0 {
			return nil
		}

		// Primary records: ascending IDs, so bbolt appends to the last page.
		// Keys and values must stay untouched until commit, so they are
		// carved from arenas that live as long as the transaction.
		idArena := make([]byte, 0, len(fresh)*idLen*2)
		for _, i := range fresh {
			n := len(idArena)
			idArena = appendID(idArena, res[i].ID)
			if err := ib.Put(idArena[n:], recs[i]); err != nil {
				return err
			}
		}
		if err := ib.SetSequence(seq); err != nil {
			return err
		}

		// Indexes: keys built in arenas, sorted, then put in order.
		tlArena := make([]byte, 0, len(fresh)*(idLen+timeLen+idLen))
		tmArena := make([]byte, 0, len(fresh)*(timeIndexKeyLen+timeLen))
		type kv struct{ k, v []byte }
		tl := make([]kv, 0, len(fresh))
		tm := make([]kv, 0, len(fresh))
		var ik []kv
		typeVals := map[core.InteractionType][]byte{}
		for _, i := range fresh {
			x, id := &in[i], res[i].ID
			tv, ok := typeVals[x.Type]
			if !ok {
				tv = []byte(x.Type)
				typeVals[x.Type] = tv
			}
			n := len(tlArena)
			tlArena = appendID(tlArena, x.CustomerID)
			tlArena = appendTime(tlArena, x.Time)
			tlArena = appendID(tlArena, id)
			tl = append(tl, kv{tlArena[n:len(tlArena):len(tlArena)], tv})
			n = len(tmArena)
			tmArena = appendTimeBucket(tmArena, x.Time)
			tmArena = appendID(tmArena, id)
			m := len(tmArena)
			tmArena = appendTime(tmArena, x.Time)
			tm = append(tm, kv{tmArena[n:m:m], tmArena[m:len(tmArena):len(tmArena)]})
			if x.IdempotencyKey != "" {
				n = len(idArena)
				idArena = appendID(idArena, id)
				ik = append(ik, kv{[]byte(x.IdempotencyKey), idArena[n:len(idArena):len(idArena)]})
			}
		}
		slices.SortFunc(tl, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		slices.SortFunc(tm, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		slices.SortFunc(ik, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		tlb, tmb := bucket(tx, bTimeline), bucket(tx, bInterTime)

		// A customer changes (for the log) only when the batch moves their
		// FirstSeen or LastSeen, which are the ends of the timeline; read
		// them before the timeline grows. Nothing is rewritten.
		type span struct{ first, last time.Time }
		spans := make(map[core.ID]span, len(custIDs))
		for _, i := range fresh {
			x := &in[i]
			s, ok := spans[x.CustomerID]
			if !ok || x.Time.Before(s.first) {
				s.first = x.Time
			}
			if !ok || x.Time.After(s.last) {
				s.last = x.Time
			}
			spans[x.CustomerID] = s
		}
		changes := make([]core.Change, 0, len(fresh)+len(spans))
		for _, i := range fresh {
			changes = append(changes, core.Change{Kind: core.KindInteraction, ID: res[i].ID, CustomerID: in[i].CustomerID})
		}
		tlc := tlb.Cursor()
		for _, id := range custIDs {
			s, ok := spans[id]
			if !ok {
				continue
			}
			// Usually the batch is newer than the history, and one seek
			// (the last entry) settles it.
			if last, ok := customerLastSeen(tlc, id); !ok || s.last.After(last) {
				changes = append(changes, core.Change{Kind: core.KindCustomer, ID: id})
			} else if first, _ := customerSeen(tlc, id); s.first.Before(first) {
				changes = append(changes, core.Change{Kind: core.KindCustomer, ID: id})
			}
		}

		for _, e := range tl {
			if err := tlb.Put(e.k, e.v); err != nil {
				return err
			}
		}
		for _, e := range tm {
			if err := tmb.Put(e.k, e.v); err != nil {
				return err
			}
		}
		for _, e := range ik {
			if err := idem.Put(e.k, e.v); err != nil {
				return err
			}
		}

		if err := logChanges(tx, changes); err != nil {
			return err
		}
		return addUint(bucket(tx, bMeta), metaCountInteractions, int64(len(fresh)))
	}()
	if err != nil {
		return nil, err
	}
	return res, nil
}

func appendID(dst []byte, id core.ID) []byte {
	return append(dst, byte(id>>56), byte(id>>48), byte(id>>40), byte(id>>32), byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

func getInteraction(tx *bolt.Tx, id core.ID) (core.Interaction, error) {
	v := bucket(tx, bInteractions).Get(idKey(id))
	if v == nil {
		return core.Interaction{}, core.NotFoundf("interaction %d", id)
	}
	return decodeInteraction(id, v)
}

// GetInteraction returns one interaction.
func (db *DB) GetInteraction(ctx context.Context, id core.ID) (core.Interaction, error) {
	var in core.Interaction
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		in, err = getInteraction(tx, id)
		return err
	})
	return in, err
}

// GetInteractions returns the interactions among ids that exist.
func (db *DB) GetInteractions(ctx context.Context, ids []core.ID) ([]core.Interaction, error) {
	out := make([]core.Interaction, 0, len(ids))
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bInteractions)
		for _, id := range ids {
			v := b.Get(idKey(id))
			if v == nil {
				continue
			}
			in, err := decodeInteraction(id, v)
			if err != nil {
				return err
			}
			out = append(out, in)
		}
		return nil
	})
	return out, err
}

// Timeline returns a page of one customer's interactions, newest first. The
// timeline index holds each interaction's type, so a type filter skips
// records without reading them.
func (db *DB) Timeline(ctx context.Context, customerID core.ID, q core.TimelineQuery) (core.Page[core.Interaction], error) {
	var page core.Page[core.Interaction]
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return page, err
	}
	after, err := decodeCursor(q.Cursor, timeLen+idLen)
	if err != nil {
		return page, err
	}
	types := make([][]byte, len(q.Types))
	for i, t := range q.Types {
		types[i] = []byte(t)
	}
	prefix := idKey(customerID)
	err = db.view(ctx, func(tx *bolt.Tx) error {
		ib := bucket(tx, bInteractions)
		c := bucket(tx, bTimeline).Cursor()
		// Position on the first key below the start (exclusive).
		var start []byte
		switch {
		case after != nil:
			start = append(slices.Clone(prefix), after...)
		case customerID < math.MaxUint64:
			start = idKey(customerID + 1)
		}
		var k, v []byte
		if start != nil {
			k, _ = c.Seek(start)
		}
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var last []byte
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(types) > 0 && !slices.ContainsFunc(types, func(t []byte) bool { return bytes.Equal(t, v) }) {
				continue
			}
			if len(page.Items) == limit {
				page.Next = encodeCursor(last[idLen:])
				break
			}
			id := keyID(k)
			rec := ib.Get(idKey(id))
			if rec == nil {
				return fmt.Errorf("timeline of customer %d names missing interaction %d; run check", customerID, id)
			}
			in, err := decodeInteraction(id, rec)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, in)
			last = k
		}
		return nil
	})
	if err != nil {
		return core.Page[core.Interaction]{}, err
	}
	return page, nil
}

// ScanInteractions calls fn for interactions with from <= Time < to in time
// order (ties by ID), reading in short transactions; fn runs outside them.
// The time index is keyed by day (see timeIndexKey), so it reads one day's
// entries at a time, sorts them by exact time and then fetches the records.
// Memory is one day's entries (24 bytes each) plus one chunk of records.
func (db *DB) ScanInteractions(ctx context.Context, from, to time.Time, fn func(core.Interaction) error) error {
	var lo, hi []byte // time bounds in appendTime form; nil is unbounded
	var next, last []byte
	if !from.IsZero() {
		lo = appendTime(nil, from)
		next = appendTimeBucket(nil, from)
	}
	if !to.IsZero() {
		hi = appendTime(nil, to)
		last = appendTimeBucket(nil, to)
	}
	type entry struct {
		t  [timeLen]byte
		id core.ID
	}
	var day []entry
	for {
		// One bucket's entries within [from, to), and where the next bucket starts.
		day = day[:0]
		done := false
		err := db.view(ctx, func(tx *bolt.Tx) error {
			c := bucket(tx, bInterTime).Cursor()
			var k, v []byte
			if next != nil {
				k, v = c.Seek(next)
			} else {
				k, v = c.First()
			}
			if k == nil || (last != nil && bytes.Compare(k[:timeBucketLen], last) > 0) {
				done = true
				return nil
			}
			if len(k) != timeIndexKeyLen || len(v) != timeLen {
				return fmt.Errorf("index %s: malformed entry %x; run check", bInterTime.name, k)
			}
			cur := slices.Clone(k[:timeBucketLen])
			for ; k != nil && bytes.HasPrefix(k, cur); k, v = c.Next() {
				if len(k) != timeIndexKeyLen || len(v) != timeLen {
					return fmt.Errorf("index %s: malformed entry %x; run check", bInterTime.name, k)
				}
				if (lo != nil && bytes.Compare(v, lo) < 0) || (hi != nil && bytes.Compare(v, hi) >= 0) {
					continue
				}
				day = append(day, entry{t: [timeLen]byte(v), id: keyID(k)})
			}
			if k == nil {
				done = true
			} else {
				next = slices.Clone(k[:timeBucketLen])
			}
			return nil
		})
		if err != nil {
			return err
		}
		slices.SortFunc(day, func(a, b entry) int {
			if c := bytes.Compare(a.t[:], b.t[:]); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		for i := 0; i < len(day); i += scanChunk {
			part := day[i:min(len(day), i+scanChunk)]
			chunk := make([]core.Interaction, 0, len(part))
			err := db.view(ctx, func(tx *bolt.Tx) error {
				ib, tm := bucket(tx, bInteractions), bucket(tx, bInterTime)
				for _, e := range part {
					rec := ib.Get(idKey(e.id))
					if rec == nil {
						if tm.Get(timeIndexKey(decodeTime(e.t[:]), e.id)) == nil {
							continue // erased since the index was read
						}
						return fmt.Errorf("index %s names missing interaction %d; run check", bInterTime.name, e.id)
					}
					in, err := decodeInteraction(e.id, rec)
					if err != nil {
						return err
					}
					chunk = append(chunk, in)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, in := range chunk {
				if err := fn(in); err != nil {
					return err
				}
			}
		}
		if done {
			return nil
		}
	}
}

// ScanAllInteractions calls fn for every interaction in ID order.
func (db *DB) ScanAllInteractions(ctx context.Context, fn func(core.Interaction) error) error {
	return db.scanInteractions(ctx, bInteractions, nil, nil, fn)
}

// scanInteractions walks def (the primary bucket or an index whose keys end
// in the interaction id) from start (inclusive) to end (exclusive).
func (db *DB) scanInteractions(ctx context.Context, def bucketDef, start, end []byte, fn func(core.Interaction) error) error {
	var after []byte
	for {
		chunk := make([]core.Interaction, 0, scanChunk)
		err := db.view(ctx, func(tx *bolt.Tx) error {
			ib := bucket(tx, bInteractions)
			c := bucket(tx, def).Cursor()
			var k, v []byte
			switch {
			case after != nil:
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			case start != nil:
				k, v = c.Seek(start)
			default:
				k, v = c.First()
			}
			for ; k != nil && len(chunk) < scanChunk; k, v = c.Next() {
				if end != nil && bytes.Compare(k, end) >= 0 {
					break
				}
				id := keyID(k)
				rec := v
				if !bytes.Equal(def.name, bInteractions.name) {
					rec = ib.Get(idKey(id))
					if rec == nil {
						return fmt.Errorf("index %s names missing interaction %d; run check", def.name, id)
					}
				}
				in, err := decodeInteraction(id, rec)
				if err != nil {
					return err
				}
				chunk = append(chunk, in)
				after = k
			}
			after = bytes.Clone(after) // k points into the mmap
			return nil
		})
		if err != nil {
			return err
		}
		for _, in := range chunk {
			if err := fn(in); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
	}
}

// CountInteractions returns how many interactions are stored (a kept counter).
func (db *DB) CountInteractions(ctx context.Context) (int, error) {
	var n int
	err := db.view(ctx, func(tx *bolt.Tx) error {
		n = int(getUint(bucket(tx, bMeta), metaCountInteractions))
		return nil
	})
	return n, err
}

// EraseCustomer removes the customer, all their interactions and every index
// entry naming either, logging each deletion, in one transaction.
func (db *DB) EraseCustomer(ctx context.Context, id core.ID) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		cust, err := getCustomer(tx, id)
		if err != nil {
			return err
		}
		ib, tlb, tmb, idem := bucket(tx, bInteractions), bucket(tx, bTimeline), bucket(tx, bInterTime), bucket(tx, bIdempotency)
		prefix := idKey(id)
		var keys [][]byte
		c := tlb.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		changes := make([]core.Change, 0, len(keys)+1)
		var erased int64
		for _, k := range keys {
			iid := keyID(k)
			if rec := ib.Get(idKey(iid)); rec != nil {
				in, err := decodeInteraction(iid, rec)
				if err != nil {
					return err
				}
				if in.IdempotencyKey != "" {
					if v := idem.Get([]byte(in.IdempotencyKey)); v != nil && keyID(v) == iid {
						if err := idem.Delete([]byte(in.IdempotencyKey)); err != nil {
							return err
						}
					}
				}
				if err := tmb.Delete(timeIndexKey(in.Time, iid)); err != nil {
					return err
				}
				if err := ib.Delete(idKey(iid)); err != nil {
					return err
				}
				erased++
			}
			if err := tlb.Delete(k); err != nil {
				return err
			}
			changes = append(changes, core.Change{Kind: core.KindInteraction, ID: iid, CustomerID: id, Deleted: true})
		}
		if cust.ExternalID != "" {
			ext := bucket(tx, bCustExternal)
			if v := ext.Get([]byte(cust.ExternalID)); v != nil && keyID(v) == id {
				if err := ext.Delete([]byte(cust.ExternalID)); err != nil {
					return err
				}
			}
		}
		for _, e := range customerIndexes(&cust) {
			if err := bucket(tx, e.def).Delete(e.key); err != nil {
				return err
			}
		}
		if err := eraseCustomerMessages(tx, id); err != nil {
			return err
		}
		if err := bucket(tx, bCustomers).Delete(prefix); err != nil {
			return err
		}
		changes = append(changes, core.Change{Kind: core.KindCustomer, ID: id, Deleted: true})
		if err := logChanges(tx, changes); err != nil {
			return err
		}
		meta := bucket(tx, bMeta)
		if err := addUint(meta, metaCountInteractions, -erased); err != nil {
			return err
		}
		return addUint(meta, metaCountCustomers, -1)
	})
	if err != nil {
		return fmt.Errorf("erase customer %d: %w", id, err)
	}
	return nil
}
