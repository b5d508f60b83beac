package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// maxCheckErrors bounds what Check reports; past it the database is broken
// enough that more lines help nobody.
const maxCheckErrors = 1000

// Check runs bbolt's page-level check and then verifies every secondary index
// against the entities in both directions (each entry names an existing
// entity that has the indexed value; each entity has all its entries), the
// kept counters and the change log's records. It reads in one transaction.
func (db *DB) Check(ctx context.Context) []error {
	var errs []error
	report := func(format string, args ...any) {
		if len(errs) < maxCheckErrors {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			report("bbolt: %v", err)
		}
		if v := schemaVersion(tx); v != len(migrations) {
			report("schema version %d, want %d", v, len(migrations))
		}
		missing := false
		for _, b := range allBuckets {
			if tx.Bucket(b.name) == nil {
				report("bucket %s missing", b.name)
				missing = true
			}
		}
		if missing {
			return nil
		}
		c := checker{tx: tx, ctx: ctx, report: report}
		c.customers()
		c.interactions()
		c.accounts()
		c.sessions()
		c.audit()
		c.segments()
		c.outbox()
		c.changes()
		return ctx.Err()
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errs
}

type checker struct {
	tx     *bolt.Tx
	ctx    context.Context
	report func(format string, args ...any)
}

func (c *checker) b(def bucketDef) *bolt.Bucket { return c.tx.Bucket(def.name) }

func has(b *bolt.Bucket, k []byte) bool {
	// A nil value means a nested bucket or nothing; index entries hold
	// empty values, which bbolt returns as non-nil empty slices.
	return b.Get(k) != nil
}

func (c *checker) customers() {
	custs, ext := c.b(bCustomers), c.b(bCustExternal)
	var n uint64
	_ = custs.ForEach(func(k, v []byte) error {
		n++
		id := keyID(k)
		cust, err := decodeCustomer(id, v)
		if err != nil {
			c.report("customer %d: %v", id, err)
			return nil
		}
		if cust.ExternalID != "" {
			if v := ext.Get([]byte(cust.ExternalID)); v == nil || keyID(v) != id {
				c.report("customer %d: external id %q not indexed to it", id, cust.ExternalID)
			}
		}
		for _, e := range customerIndexes(&cust) {
			if !has(c.b(e.def), e.key) {
				c.report("customer %d: %s entry missing", id, e.def.name)
			}
		}
		return nil
	})
	if want := getUint(c.b(bMeta), metaCountCustomers); want != n {
		c.report("customer counter is %d, %d customers stored", want, n)
	}
	_ = ext.ForEach(func(k, v []byte) error {
		cust, err := getCustomer(c.tx, keyID(v))
		if err != nil || cust.ExternalID != string(k) {
			c.report("%s: %q names customer %d, which does not have it", bCustExternal.name, k, keyID(v))
		}
		return nil
	})
	for _, x := range []struct {
		def bucketDef
		get func(*core.Customer) []string
	}{
		{bCustEmail, func(c *core.Customer) []string { return c.Emails }},
		{bCustPhone, func(c *core.Customer) []string { return c.Phones }},
		{bCustTag, func(c *core.Customer) []string { return c.Tags }},
	} {
		_ = c.b(x.def).ForEach(func(k, _ []byte) error {
			val, id, ok := splitValueKey(k)
			if !ok {
				c.report("%s: malformed key %x", x.def.name, k)
				return nil
			}
			cust, err := getCustomer(c.tx, id)
			if err != nil || !slices.Contains(x.get(&cust), val) {
				c.report("%s: %q names customer %d, which does not have it", x.def.name, val, id)
			}
			return nil
		})
	}
}

func (c *checker) interactions() {
	ib, custs := c.b(bInteractions), c.b(bCustomers)
	tl, tm, idem := c.b(bTimeline), c.b(bInterTime), c.b(bIdempotency)
	var n uint64
	_ = ib.ForEach(func(k, v []byte) error {
		n++
		if n%10_000 == 0 && c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		id := keyID(k)
		in, err := decodeInteraction(id, v)
		if err != nil {
			c.report("%v", err)
			return nil
		}
		if !has(custs, idKey(in.CustomerID)) {
			c.report("interaction %d: customer %d does not exist", id, in.CustomerID)
		}
		if t := tl.Get(timelineKey(in.CustomerID, in.Time, id)); t == nil || string(t) != string(in.Type) {
			c.report("interaction %d: timeline entry missing or wrong", id)
		}
		if t := tm.Get(timeIndexKey(in.Time, id)); t == nil || !bytes.Equal(t, appendTime(nil, in.Time)) {
			c.report("interaction %d: time index entry missing or wrong", id)
		}
		if in.IdempotencyKey != "" {
			if v := idem.Get([]byte(in.IdempotencyKey)); v == nil || keyID(v) != id {
				c.report("interaction %d: idempotency key %q not indexed to it", id, in.IdempotencyKey)
			}
		}
		return nil
	})
	if want := getUint(c.b(bMeta), metaCountInteractions); want != n {
		c.report("interaction counter is %d, %d interactions stored", want, n)
	}
	_ = tl.ForEach(func(k, _ []byte) error {
		if len(k) != idLen+timeLen+idLen {
			c.report("%s: malformed key %x", bTimeline.name, k)
			return nil
		}
		id := keyID(k)
		in, err := getInteraction(c.tx, id)
		if err != nil || in.CustomerID != keyID(k[:idLen]) || !in.Time.Equal(decodeTime(k[idLen:])) {
			c.report("%s: entry for interaction %d does not match it", bTimeline.name, id)
		}
		return nil
	})
	_ = tm.ForEach(func(k, v []byte) error {
		if len(k) != timeIndexKeyLen || len(v) != timeLen {
			c.report("%s: malformed entry %x", bInterTime.name, k)
			return nil
		}
		id := keyID(k)
		in, err := getInteraction(c.tx, id)
		if err != nil || !in.Time.Equal(decodeTime(v)) || !bytes.Equal(k[:timeBucketLen], appendTimeBucket(nil, in.Time)) {
			c.report("%s: entry for interaction %d does not match it", bInterTime.name, id)
		}
		return nil
	})
	_ = idem.ForEach(func(k, v []byte) error {
		id := keyID(v)
		in, err := getInteraction(c.tx, id)
		if err != nil || in.IdempotencyKey != string(k) {
			c.report("%s: %q names interaction %d, which does not have it", bIdempotency.name, k, id)
		}
		return nil
	})
}

func (c *checker) accounts() {
	users, byEmail := c.b(bUsers), c.b(bUserEmail)
	_ = users.ForEach(func(k, v []byte) error {
		u, err := decodeUser(keyID(k), v)
		if err != nil {
			c.report("%v", err)
		} else if iv := byEmail.Get([]byte(u.Email)); iv == nil || keyID(iv) != u.ID {
			c.report("user %d: email %q not indexed to it", u.ID, u.Email)
		}
		return nil
	})
	_ = byEmail.ForEach(func(k, v []byte) error {
		u, err := getUser(c.tx, keyID(v))
		if err != nil || u.Email != string(k) {
			c.report("%s: %q names user %d, which does not have it", bUserEmail.name, k, keyID(v))
		}
		return nil
	})
	tokens, byHash := c.b(bTokens), c.b(bTokenHash)
	_ = tokens.ForEach(func(k, v []byte) error {
		t, err := decodeToken(keyID(k), v)
		if err != nil {
			c.report("%v", err)
		} else if iv := byHash.Get(t.Hash); len(t.Hash) == 0 || iv == nil || keyID(iv) != t.ID {
			c.report("token %d: hash not indexed to it", t.ID)
		}
		return nil
	})
	_ = byHash.ForEach(func(k, v []byte) error {
		t, err := getToken(c.tx, keyID(v))
		if err != nil || !bytes.Equal(t.Hash, k) {
			c.report("%s: entry names token %d, which does not have it", bTokenHash.name, keyID(v))
		}
		return nil
	})
	_ = c.b(bImportJobs).ForEach(func(k, v []byte) error {
		if _, err := decodeImportJob(keyID(k), v); err != nil {
			c.report("%v", err)
		}
		return nil
	})
}

// sessions checks the user index of sessions both ways.
func (c *checker) sessions() {
	sessions, byUser, users := c.b(bSessions), c.b(bSessionUser), c.b(bUsers)
	_ = sessions.ForEach(func(k, v []byte) error {
		s, err := decodeSession(k, v)
		switch {
		case err != nil:
			c.report("%v", err)
		case len(k) != sessionHashLen:
			c.report("%s: malformed key %x", bSessions.name, k)
		case !has(byUser, sessionUserKey(s.UserID, k)):
			c.report("session %x…: not indexed to user %d", k[:4], s.UserID)
		case !has(users, idKey(s.UserID)):
			c.report("session %x…: user %d does not exist", k[:4], s.UserID)
		}
		return nil
	})
	_ = byUser.ForEach(func(k, _ []byte) error {
		if len(k) != idLen+sessionHashLen {
			c.report("%s: malformed key %x", bSessionUser.name, k)
			return nil
		}
		user, hash := keyID(k[:idLen]), k[idLen:]
		if s, err := getSession(c.tx, hash); err != nil || s.UserID != user {
			c.report("%s: entry names a session %x… of user %d, which does not exist or is another's", bSessionUser.name, hash[:4], user)
		}
		return nil
	})
}

// audit checks that every entry decodes under a well-formed key.
func (c *checker) audit() {
	b := c.b(bAudit)
	var n int
	_ = b.ForEach(func(k, v []byte) error {
		if n++; n%10_000 == 0 && c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		if len(k) != idLen {
			c.report("%s: malformed key %x", bAudit.name, k)
		} else if _, err := decodeAudit(keyID(k), v); err != nil {
			c.report("%v", err)
		} else if uint64(keyID(k)) > b.Sequence() {
			c.report("audit entry %d is past the sequence %d", keyID(k), b.Sequence())
		}
		return nil
	})
}

func (c *checker) changes() {
	b := c.b(bChanges)
	seq := b.Sequence()
	var next uint64 // first Seq the next record must have; 0 before the first
	var buf []core.Change
	_ = b.ForEach(func(k, v []byte) error {
		if len(k) != idLen {
			c.report("change record %x: malformed key", k)
			return nil
		}
		first := uint64(keyID(k))
		if next != 0 && first != next {
			c.report("change record %d: expected to start at %d", first, next)
		}
		var err error
		if buf, err = decodeChanges(first, v, buf[:0]); err != nil {
			c.report("%v", err)
			return nil
		}
		next = first + uint64(len(buf))
		for _, ch := range buf {
			if ch.Kind != core.KindCustomer && ch.Kind != core.KindInteraction {
				c.report("change %d: unknown kind %d", ch.Seq, ch.Kind)
			}
		}
		return nil
	})
	if next != 0 && next-1 != seq {
		c.report("change log ends at %d, its sequence is %d", next-1, seq)
	}
}

// outbox checks every message against its index entries and back: a
// message is in the due index exactly when it is queued.
func (c *checker) outbox() {
	n := map[string]int{}
	_ = c.b(bOutbox).ForEach(func(k, v []byte) error {
		m, err := getMessage(c.tx, keyID(k))
		if err != nil {
			c.report("%v", err)
			return nil
		}
		if c.b(bCustomers).Get(idKey(m.CustomerID)) == nil {
			c.report("message %d: customer %d does not exist", m.ID, m.CustomerID)
		}
		if !has(c.b(bOutboxState), stateKey(m.State, m.ID)) {
			c.report("message %d: state index entry (%s) missing", m.ID, m.State)
		}
		if !has(c.b(bOutboxCustomer), custMsgKey(m.CustomerID, m.ID)) {
			c.report("message %d: customer index entry missing", m.ID)
		}
		if v := c.b(bOutboxKey).Get([]byte(m.IdempotencyKey)); v == nil || keyID(v) != m.ID {
			c.report("message %d: idempotency key %q not indexed to it", m.ID, m.IdempotencyKey)
		}
		if queued := has(c.b(bOutboxDue), dueKey(&m)); queued != (m.State == core.MessageQueued) {
			c.report("message %d (%s): due index entry present=%v", m.ID, m.State, queued)
		}
		n["messages"]++
		if m.State == core.MessageQueued {
			n["queued"]++
		}
		return nil
	})
	count := func(def bucketDef) int {
		i := 0
		_ = c.b(def).ForEach(func(_, _ []byte) error { i++; return nil })
		return i
	}
	if got := count(bOutboxState); got != n["messages"] {
		c.report("%s holds %d entries for %d messages", bOutboxState.name, got, n["messages"])
	}
	if got := count(bOutboxCustomer); got != n["messages"] {
		c.report("%s holds %d entries for %d messages", bOutboxCustomer.name, got, n["messages"])
	}
	if got := count(bOutboxKey); got != n["messages"] {
		c.report("%s holds %d entries for %d messages", bOutboxKey.name, got, n["messages"])
	}
	if got := count(bOutboxDue); got != n["queued"] {
		c.report("%s holds %d entries for %d queued messages", bOutboxDue.name, got, n["queued"])
	}
}
