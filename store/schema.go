package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// This file is the schema: every bucket and meta key the store uses, and the
// ordered migrations that create and change them. Nothing else in the
// package names a bucket by a literal.

// bucketDef registers one top-level bucket.
type bucketDef struct {
	name []byte
	// fill is the bbolt FillPercent used when writing: 1.0 for buckets whose
	// keys only ever grow (ids, sequences), so appended pages are packed full.
	fill float64
	doc  string
}

var (
	bMeta = bucketDef{[]byte("meta"), 0.5, "schema version and counters (metaKey* below)"}

	bCustomers    = bucketDef{[]byte("customers"), 0.9, "id(8) → customer record"}
	bCustExternal = bucketDef{[]byte("customers_by_external_id"), 0.5, "external id → customer id(8); unique"}
	bCustEmail    = bucketDef{[]byte("customers_by_email"), 0.5, "len(2)|email|customer id(8) → empty"}
	bCustPhone    = bucketDef{[]byte("customers_by_phone"), 0.5, "len(2)|phone|customer id(8) → empty"}
	bCustTag      = bucketDef{[]byte("customers_by_tag"), 0.5, "len(2)|tag|customer id(8) → empty"}
	bInteractions = bucketDef{[]byte("interactions"), 1.0, "id(8) → interaction record (without id)"}
	bTimeline     = bucketDef{[]byte("interactions_by_customer"), 0.5, "customer id(8)|time(12)|interaction id(8) → type"}
	bInterTime    = bucketDef{[]byte("interactions_by_time"), 1.0, "UTC day(4)|interaction id(8) → time(12); see timeIndexKey"}
	bIdempotency  = bucketDef{[]byte("interactions_by_idempotency_key"), 0.5, "idempotency key → interaction id(8)"}
	bChanges      = bucketDef{[]byte("changes"), 1.0, "seq(8) → change record"}
	bUsers        = bucketDef{[]byte("users"), 0.9, "id(8) → user JSON"}
	bUserEmail    = bucketDef{[]byte("users_by_email"), 0.5, "email → user id(8); unique"}
	bTokens       = bucketDef{[]byte("tokens"), 0.9, "id(8) → token JSON"}
	bTokenHash    = bucketDef{[]byte("tokens_by_hash"), 0.5, "secret hash → token id(8); unique"}
	bImportJobs   = bucketDef{[]byte("import_jobs"), 0.9, "id(8) → import job JSON"}
	bSessions     = bucketDef{[]byte("sessions"), 0.5, "session hash(32) → session JSON"}
	bSessionUser  = bucketDef{[]byte("sessions_by_user"), 0.5, "user id(8)|session hash(32) → empty"}
	bAudit        = bucketDef{[]byte("audit"), 1.0, "id(8) → audit entry JSON; append-only"}
	bSegments     = bucketDef{[]byte("segments"), 0.9, "id(8) → segment JSON"}
	bSegMembers   = bucketDef{[]byte("segment_members"), 0.5, "segment id(8)|customer id(8) → empty"}
	bPluginKV     = bucketDef{[]byte("plugin_kv"), 0.5, "len(1)|plugin name|key → value; see pluginkv.go"}

	bOutbox         = bucketDef{[]byte("outbox"), 0.9, "id(8) → outbox message JSON; see outbox.go"}
	bOutboxKey      = bucketDef{[]byte("outbox_by_key"), 0.5, "idempotency key → message id(8); unique"}
	bOutboxDue      = bucketDef{[]byte("outbox_due"), 0.5, "len(1)|channel|not before(12)|id(8) → empty; queued only"}
	bOutboxState    = bucketDef{[]byte("outbox_by_state"), 0.5, "len(1)|state|id(8) → empty"}
	bOutboxCustomer = bucketDef{[]byte("outbox_by_customer"), 0.5, "customer id(8)|message id(8) → empty"}
	bOutboxProvider = bucketDef{[]byte("outbox_by_provider"), 0.5, "len(1)|channel|provider id → message id(8)"}
	bPluginSettings = bucketDef{[]byte("plugin_settings"), 0.5, "plugin name → settings JSON (config, approved grants, disabled)"}
)

// allBuckets is the bucket registry, in creation order.
var allBuckets = []bucketDef{
	bMeta, bCustomers, bCustExternal, bCustEmail, bCustPhone, bCustTag,
	bInteractions, bTimeline, bInterTime, bIdempotency, bChanges,
	bUsers, bUserEmail, bTokens, bTokenHash, bImportJobs,
	bSessions, bSessionUser, bAudit,
	bSegments, bSegMembers,
	bPluginKV,
	bOutbox, bOutboxKey, bOutboxDue, bOutboxState, bOutboxCustomer, bOutboxProvider, bPluginSettings,
}

// Meta keys (in bMeta). Values are big-endian uint64.
var (
	metaSchemaVersion     = []byte("schema_version")     // len(migrations) applied
	metaCountCustomers    = []byte("count_customers")    // kept in step with bCustomers
	metaCountInteractions = []byte("count_interactions") // kept in step with bInteractions
)

// migration changes the schema by one step. Migrations are never edited once
// released; a change is a new entry at the end. The schema version of a
// database is the number of migrations applied to it.
type migration struct {
	name string
	up   func(tx *bolt.Tx) error
}

var migrations = []migration{
	{"create buckets", func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b.name); err != nil {
				return fmt.Errorf("create bucket %s: %w", b.name, err)
			}
		}
		return nil
	}},
	{"key the time index by day, not exact time", rebuildTimeIndex},
	// A database created at version 3 or later already has these buckets
	// (the first migration creates every registered bucket); this step adds
	// them to older files.
	{"create session and audit buckets", func(tx *bolt.Tx) error {
		return createBuckets(tx, bSessions, bSessionUser, bAudit)
	}},
	{"create segment buckets", func(tx *bolt.Tx) error {
		return createBuckets(tx, bSegments, bSegMembers)
	}},
	{"create plugin key-value bucket", func(tx *bolt.Tx) error {
		return createBuckets(tx, bPluginKV)
	}},
	{"create outbox and plugin settings buckets", func(tx *bolt.Tx) error {
		return createBuckets(tx, bOutbox, bOutboxKey, bOutboxDue, bOutboxState, bOutboxCustomer, bOutboxProvider, bPluginSettings)
	}},
}

func createBuckets(tx *bolt.Tx, defs ...bucketDef) error {
	for _, b := range defs {
		if _, err := tx.CreateBucketIfNotExists(b.name); err != nil {
			return fmt.Errorf("create bucket %s: %w", b.name, err)
		}
	}
	return nil
}

// rebuildTimeIndex replaces the time index with one built from the primary
// records. Entries are sorted before they are put so that bbolt fills each
// page once; the sort buffer is 24 bytes per interaction (240 MB at 10M).
func rebuildTimeIndex(tx *bolt.Tx) error {
	if tx.Bucket(bInterTime.name) != nil {
		if err := tx.DeleteBucket(bInterTime.name); err != nil {
			return err
		}
	}
	tm, err := tx.CreateBucket(bInterTime.name)
	if err != nil {
		return err
	}
	tm.FillPercent = bInterTime.fill
	ib := tx.Bucket(bInteractions.name)
	if ib == nil {
		return fmt.Errorf("bucket %s missing", bInteractions.name)
	}
	const entryLen = timeIndexKeyLen + timeLen
	var entries [][entryLen]byte
	err = ib.ForEach(func(k, v []byte) error {
		id := keyID(k)
		in, err := decodeInteraction(id, v)
		if err != nil {
			return err
		}
		var e [entryLen]byte
		b := appendTimeBucket(e[:0], in.Time)
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		appendTime(b, in.Time)
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b [entryLen]byte) int { return bytes.Compare(a[:timeIndexKeyLen], b[:timeIndexKeyLen]) })
	for i := range entries {
		e := entries[i][:]
		if err := tm.Put(e[:timeIndexKeyLen], e[timeIndexKeyLen:]); err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int { return len(migrations) }

// schemaVersion reads the version stored in tx (0 for an empty file).
func schemaVersion(tx *bolt.Tx) int {
	b := tx.Bucket(bMeta.name)
	if b == nil {
		return 0
	}
	return int(getUint(b, metaSchemaVersion))
}

// migrate applies the migrations tx's database lacks.
func migrate(tx *bolt.Tx) (from int, err error) {
	from = schemaVersion(tx)
	if from > len(migrations) {
		return from, fmt.Errorf("database schema version %d is newer than this binary's (%d); use a newer retain", from, len(migrations))
	}
	for i := from; i < len(migrations); i++ {
		if err := migrations[i].up(tx); err != nil {
			return from, fmt.Errorf("migration %d (%s): %w", i+1, migrations[i].name, err)
		}
		meta := tx.Bucket(bMeta.name)
		if meta == nil {
			return from, fmt.Errorf("migration %d (%s) left no meta bucket", i+1, migrations[i].name)
		}
		if err := putUint(meta, metaSchemaVersion, uint64(i+1)); err != nil {
			return from, err
		}
	}
	return from, nil
}

func getUint(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bolt.Bucket, key []byte, v uint64) error {
	return b.Put(key, binary.BigEndian.AppendUint64(nil, v))
}

// addUint adds delta (which may be negative) to a counter.
func addUint(b *bolt.Bucket, key []byte, delta int64) error {
	if delta == 0 {
		return nil
	}
	v := int64(getUint(b, key)) + delta
	if v < 0 {
		v = 0
	}
	return putUint(b, key, uint64(v))
}
