package store

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// maxIndexedLen bounds a value that becomes part of an index key (bbolt keys
// are at most 32 KiB; the domain limits are far below this).
const maxIndexedLen = 1024

// checkIndexable refuses values the key layout cannot hold.
func checkIndexable(c *core.Customer) error {
	if len(c.ExternalID) > maxIndexedLen {
		return core.FieldErr("external_id", "at most %d bytes", maxIndexedLen)
	}
	for field, vs := range map[string][]string{"emails": c.Emails, "phones": c.Phones, "tags": c.Tags} {
		for i, v := range vs {
			if len(v) > maxIndexedLen {
				return core.FieldErr(fmt.Sprintf("%s[%d]", field, i), "at most %d bytes", maxIndexedLen)
			}
		}
	}
	return nil
}

// customerIndexes lists the (bucket, key) entries that point at c, except
// the unique external id.
func customerIndexes(c *core.Customer) []indexEntry {
	var out []indexEntry
	for _, x := range []struct {
		def bucketDef
		vs  []string
	}{{bCustEmail, c.Emails}, {bCustPhone, c.Phones}, {bCustTag, c.Tags}} {
		for _, v := range x.vs {
			if v != "" {
				out = append(out, indexEntry{x.def, valueKey(v, c.ID)})
			}
		}
	}
	return out
}

type indexEntry struct {
	def bucketDef
	key []byte
}

// putCustomer writes c (with its ID set) and its index entries; old is the
// stored record being replaced, nil for a new customer.
func putCustomer(tx *bolt.Tx, old, c *core.Customer, rec []byte) error {
	ext := bucket(tx, bCustExternal)
	if old != nil {
		if old.ExternalID != "" && old.ExternalID != c.ExternalID {
			if err := ext.Delete([]byte(old.ExternalID)); err != nil {
				return err
			}
		}
		for _, e := range customerIndexes(old) {
			if err := bucket(tx, e.def).Delete(e.key); err != nil {
				return err
			}
		}
	}
	if c.ExternalID != "" && (old == nil || old.ExternalID != c.ExternalID) {
		if v := ext.Get([]byte(c.ExternalID)); v != nil && keyID(v) != c.ID {
			return core.Conflictf("external id %q already belongs to customer %d", c.ExternalID, keyID(v))
		}
		if err := ext.Put([]byte(c.ExternalID), idKey(c.ID)); err != nil {
			return err
		}
	}
	for _, e := range customerIndexes(c) {
		if err := bucket(tx, e.def).Put(e.key, nil); err != nil {
			return err
		}
	}
	return bucket(tx, bCustomers).Put(idKey(c.ID), rec)
}

func getCustomer(tx *bolt.Tx, id core.ID) (core.Customer, error) {
	v := bucket(tx, bCustomers).Get(idKey(id))
	if v == nil {
		return core.Customer{}, core.NotFoundf("customer %d", id)
	}
	return readCustomer(tx, id, v)
}

// readCustomer decodes a stored customer and adds FirstSeen and LastSeen.
func readCustomer(tx *bolt.Tx, id core.ID, rec []byte) (core.Customer, error) {
	c, err := decodeCustomer(id, rec)
	if err != nil {
		return c, err
	}
	c.FirstSeen, c.LastSeen = customerSeen(bucket(tx, bTimeline).Cursor(), id)
	return c, nil
}

// customerSeen reads FirstSeen and LastSeen off the ends of the customer's
// timeline (two cursor seeks). They are derived rather than stored so that
// appending interactions never rewrites customer records — at 10,000
// interactions per batch that halves the pages a commit dirties — and so
// they cannot drift from the history.
func customerSeen(c *bolt.Cursor, id core.ID) (first, last time.Time) {
	last, ok := customerLastSeen(c, id)
	if !ok {
		return time.Time{}, time.Time{}
	}
	k, _ := c.Seek(idKey(id))
	return decodeTime(k[idLen:]), last
}

// customerLastSeen reads the newest timeline entry's time; ok is false
// when the customer has no interactions.
func customerLastSeen(c *bolt.Cursor, id core.ID) (last time.Time, ok bool) {
	var k []byte
	if id == math.MaxUint64 {
		k, _ = c.Last()
	} else if k, _ = c.Seek(idKey(id + 1)); k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if len(k) != idLen+timeLen+idLen || keyID(k[:idLen]) != id {
		return time.Time{}, false
	}
	return decodeTime(k[idLen:]), true
}

// CreateCustomer stores c as a new customer with a fresh ID.
func (db *DB) CreateCustomer(ctx context.Context, c core.Customer) (core.Customer, error) {
	if err := checkIndexable(&c); err != nil {
		return core.Customer{}, err
	}
	rec, err := encodeCustomer(&c) // the ID is the key, so encoding needs no tx
	if err != nil {
		return core.Customer{}, err
	}
	err = db.update(ctx, func(tx *bolt.Tx) error {
		seq, err := bucket(tx, bCustomers).NextSequence()
		if err != nil {
			return err
		}
		c.ID = core.ID(seq)
		if err := putCustomer(tx, nil, &c, rec); err != nil {
			return err
		}
		if err := addUint(bucket(tx, bMeta), metaCountCustomers, 1); err != nil {
			return err
		}
		return logChange(tx, core.Change{Kind: core.KindCustomer, ID: c.ID})
	})
	if err != nil {
		return core.Customer{}, fmt.Errorf("create customer: %w", err)
	}
	return c, nil
}

// UpsertCustomers creates or merges each customer by external id in one
// transaction. A record the merge leaves unchanged is not rewritten and
// logs no change, so re-importing a file is cheap.
func (db *DB) UpsertCustomers(ctx context.Context, in []core.Customer, merge core.MergeFunc) ([]core.Customer, []bool, error) {
	if len(in) > core.MaxBatch {
		return nil, nil, core.Invalidf("at most %d customers per batch", core.MaxBatch)
	}
	if merge == nil {
		merge = core.MergeCustomer
	}
	for i := range in {
		if in[i].ExternalID == "" {
			return nil, nil, core.FieldErr(fmt.Sprintf("customers[%d].external_id", i), "required to upsert")
		}
		if err := checkIndexable(&in[i]); err != nil {
			return nil, nil, err
		}
	}
	out := make([]core.Customer, len(in))
	created := make([]bool, len(in))
	err := db.update(ctx, func(tx *bolt.Tx) error {
		custs, ext := bucket(tx, bCustomers), bucket(tx, bCustExternal)
		var added int64
		changes := make([]core.Change, 0, len(in))
		for i := range in {
			c := in[i]
			var old *core.Customer
			var oldRec []byte
			if v := ext.Get([]byte(c.ExternalID)); v != nil {
				id := keyID(v)
				oldRec = custs.Get(idKey(id))
				stored, err := readCustomer(tx, id, oldRec)
				if err != nil {
					return err
				}
				old = &stored
				c = merge(stored, c)
				c.ID, c.CreatedAt = stored.ID, stored.CreatedAt
				c.FirstSeen, c.LastSeen = stored.FirstSeen, stored.LastSeen
				if c.ExternalID != stored.ExternalID {
					return core.FieldErr(fmt.Sprintf("customers[%d].external_id", i), "the merge may not change the external id")
				}
			} else {
				seq, err := custs.NextSequence()
				if err != nil {
					return err
				}
				c.ID = core.ID(seq)
				created[i] = true
				added++
			}
			rec, err := encodeCustomer(&c)
			if err != nil {
				return err
			}
			out[i] = c
			if old != nil && bytes.Equal(rec, oldRec) {
				continue
			}
			if err := putCustomer(tx, old, &c, rec); err != nil {
				return err
			}
			changes = append(changes, core.Change{Kind: core.KindCustomer, ID: c.ID})
		}
		if err := logChanges(tx, changes); err != nil {
			return err
		}
		return addUint(bucket(tx, bMeta), metaCountCustomers, added)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("upsert customers: %w", err)
	}
	return out, created, nil
}

// GetCustomer returns one customer.
func (db *DB) GetCustomer(ctx context.Context, id core.ID) (core.Customer, error) {
	var c core.Customer
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		c, err = getCustomer(tx, id)
		return err
	})
	return c, err
}

// GetCustomerByExternalID returns the customer with that external id.
func (db *DB) GetCustomerByExternalID(ctx context.Context, externalID string) (core.Customer, error) {
	var c core.Customer
	err := db.view(ctx, func(tx *bolt.Tx) error {
		v := bucket(tx, bCustExternal).Get([]byte(externalID))
		if v == nil || externalID == "" {
			return core.NotFoundf("customer with external id %q", externalID)
		}
		var err error
		c, err = getCustomer(tx, keyID(v))
		return err
	})
	return c, err
}

// maxFound bounds FindCustomersBy*: a shared address used by thousands of
// records is a data problem, not something to page through here.
const maxFound = 1000

// FindCustomersByEmail returns the customers having that (normalized) email.
func (db *DB) FindCustomersByEmail(ctx context.Context, email string) ([]core.Customer, error) {
	return db.findBy(ctx, bCustEmail, strings.ToLower(strings.TrimSpace(email)))
}

// FindCustomersByPhone returns the customers having that E.164 phone number.
func (db *DB) FindCustomersByPhone(ctx context.Context, phone string) ([]core.Customer, error) {
	return db.findBy(ctx, bCustPhone, strings.TrimSpace(phone))
}

func (db *DB) findBy(ctx context.Context, def bucketDef, v string) ([]core.Customer, error) {
	if v == "" || len(v) > maxIndexedLen {
		return nil, nil
	}
	var out []core.Customer
	err := db.view(ctx, func(tx *bolt.Tx) error {
		prefix := valuePrefix(v)
		c := bucket(tx, def).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < maxFound; k, _ = c.Next() {
			cust, err := getCustomer(tx, keyID(k))
			if err != nil {
				return err
			}
			out = append(out, cust)
		}
		return nil
	})
	return out, err
}

// UpdateCustomer reads the customer, applies fn and writes it back with its
// indexes in one transaction. fn may not change ID or CreatedAt.
func (db *DB) UpdateCustomer(ctx context.Context, id core.ID, fn func(*core.Customer) error) (core.Customer, error) {
	var c core.Customer
	err := db.update(ctx, func(tx *bolt.Tx) error {
		old, err := getCustomer(tx, id)
		if err != nil {
			return err
		}
		c, err = getCustomer(tx, id) // a second copy: fn may alias slices and maps
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		if err := checkIndexable(&c); err != nil {
			return err
		}
		rec, err := encodeCustomer(&c)
		if err != nil {
			return err
		}
		if err := putCustomer(tx, &old, &c, rec); err != nil {
			return err
		}
		return logChange(tx, core.Change{Kind: core.KindCustomer, ID: c.ID})
	})
	if err != nil {
		return core.Customer{}, fmt.Errorf("update customer %d: %w", id, err)
	}
	return c, nil
}

func pageLimit(l int) (int, error) {
	if l == 0 {
		return 50, nil
	}
	if l < 1 || l > 1000 {
		return 0, core.FieldErr("limit", "must be between 1 and 1000")
	}
	return l, nil
}

// ListCustomers returns customers in ID order, optionally those with a tag.
func (db *DB) ListCustomers(ctx context.Context, q core.CustomerQuery) (core.Page[core.Customer], error) {
	var page core.Page[core.Customer]
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return page, err
	}
	after, err := decodeCursor(q.Cursor, idLen)
	if err != nil {
		return page, err
	}
	err = db.view(ctx, func(tx *bolt.Tx) error {
		var c *bolt.Cursor
		var prefix []byte
		if q.Tag != "" {
			c, prefix = bucket(tx, bCustTag).Cursor(), valuePrefix(q.Tag)
		} else {
			c = bucket(tx, bCustomers).Cursor()
		}
		start := prefix
		if after != nil {
			start = append(bytes.Clone(prefix), after...)
		}
		k, _ := c.Seek(start)
		if after != nil && bytes.Equal(k, start) {
			k, _ = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(page.Items) == limit {
				page.Next = encodeCursor(idKey(page.Items[limit-1].ID))
				break
			}
			cust, err := getCustomer(tx, keyID(k))
			if err != nil {
				return err
			}
			page.Items = append(page.Items, cust)
		}
		return nil
	})
	return page, err
}

// CountCustomers returns how many customers are stored (a kept counter, not a scan).
func (db *DB) CountCustomers(ctx context.Context) (int, error) {
	var n int
	err := db.view(ctx, func(tx *bolt.Tx) error {
		n = int(getUint(bucket(tx, bMeta), metaCountCustomers))
		return nil
	})
	return n, err
}

// GetCustomers returns the customers among ids that exist.
func (db *DB) GetCustomers(ctx context.Context, ids []core.ID) ([]core.Customer, error) {
	out := make([]core.Customer, 0, len(ids))
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bCustomers)
		for _, id := range ids {
			v := b.Get(idKey(id))
			if v == nil {
				continue
			}
			c, err := readCustomer(tx, id, v)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// scanChunk is how many records a scan reads per read transaction. Short
// transactions keep the callback outside bbolt and let the writer remap.
const scanChunk = 1000

// ScanCustomers calls fn for every customer in ID order. fn runs outside any
// transaction; customers written meanwhile may or may not be seen.
func (db *DB) ScanCustomers(ctx context.Context, fn func(core.Customer) error) error {
	var after []byte
	for {
		var chunk []core.Customer
		err := db.view(ctx, func(tx *bolt.Tx) error {
			c := bucket(tx, bCustomers).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(chunk) < scanChunk; k, v = c.Next() {
				cust, err := readCustomer(tx, keyID(k), v)
				if err != nil {
					return err
				}
				chunk = append(chunk, cust)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range chunk {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
		after = idKey(chunk[len(chunk)-1].ID)
	}
}
