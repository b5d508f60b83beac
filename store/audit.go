package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// The audit log is append-only: id(8) from the bucket sequence → JSON, so
// keys only grow and pages are packed full. It is not customer data and is
// not in the change log.

const (
	auditDefaultLimit = 50
	auditMaxLimit     = 500
	// auditMaxScan bounds how many entries one ListAudit examines, so a
	// filter that matches little cannot walk the whole log in one request;
	// the page then comes back short (even empty) with a Next to go on from.
	auditMaxScan = 10_000
	// maxAuditDetail bounds Detail, the one field meant for longer text
	// (a changed-fields summary, an error message).
	maxAuditDetail = 64 << 10
)

func validateAudit(e *core.AuditEntry) error {
	if e.At.IsZero() {
		return core.FieldErr("at", "required")
	}
	switch e.ActorKind {
	case "user", "token", "system":
	default:
		return core.FieldErr("actor_kind", "must be user, token or system")
	}
	if e.Action == "" {
		return core.FieldErr("action", "required")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"actor", e.Actor, maxShortField}, {"action", e.Action, maxShortField},
		{"target", e.Target, maxShortField}, {"ip", e.IP, maxShortField},
		{"detail", e.Detail, maxAuditDetail},
	} {
		if err := checkText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	return nil
}

func decodeAudit(id core.ID, b []byte) (core.AuditEntry, error) {
	var e core.AuditEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return core.AuditEntry{}, fmt.Errorf("audit entry %d: %w", id, errCorrupt)
	}
	e.ID = id
	return e, nil
}

// AppendAudit stores e under the next id. Strings must be valid UTF-8 and
// within the field limits (ErrInvalid otherwise): callers that record
// request data should sanitize it (strings.ToValidUTF8, truncation) first.
func (db *DB) AppendAudit(ctx context.Context, e core.AuditEntry) (core.AuditEntry, error) {
	if err := validateAudit(&e); err != nil {
		return core.AuditEntry{}, fmt.Errorf("append audit: %w", err)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error { return appendAudit(tx, &e) })
	if err != nil {
		return core.AuditEntry{}, fmt.Errorf("append audit: %w", err)
	}
	return e, nil
}

// appendAudit assigns e the next id and stores it; e is already validated.
func appendAudit(tx *bolt.Tx, e *core.AuditEntry) error {
	b := bucket(tx, bAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.ID = core.ID(seq)
	rec, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(idKey(e.ID), rec)
}

// fieldNeedle is how json.Marshal writes field name: value in an audit
// record, or nil when value is "" (no filter).
func fieldNeedle(name, value string) []byte {
	if value == "" {
		return nil
	}
	v, _ := json.Marshal(value) // a string always marshals
	return append([]byte(`"`+name+`":`), v...)
}

// ListAudit returns entries newest first, those with id < q.Before when it is
// set, optionally only those whose Actor and/or Action match exactly. Next is
// the Before of the following page: the last returned id when the page is
// full, or the last examined id when the scan bound stopped it.
func (db *DB) ListAudit(ctx context.Context, q core.AuditQuery) (core.Page[core.AuditEntry], error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = auditDefaultLimit
	case limit < 1 || limit > auditMaxLimit:
		return core.Page[core.AuditEntry]{}, core.FieldErr("limit", "must be between 1 and %d", auditMaxLimit)
	}
	actorNeedle, actionNeedle := fieldNeedle("actor", q.Actor), fieldNeedle("action", q.Action)
	page := core.Page[core.AuditEntry]{Items: []core.AuditEntry{}}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bAudit).Cursor()
		var k, v []byte
		if q.Before == 0 {
			k, v = c.Last()
		} else if k, _ = c.Seek(idKey(q.Before)); k == nil {
			k, v = c.Last() // every id is below Before
		} else {
			k, v = c.Prev() // Seek found the first id >= Before
		}
		var last core.ID // last id examined
		for examined := 0; k != nil; k, v = c.Prev() {
			if len(page.Items) == limit || examined == auditMaxScan {
				page.Next = strconv.FormatUint(uint64(last), 10)
				return nil
			}
			examined++
			last = keyID(k)
			// Most entries fail a filter: a byte search for the encoded
			// field rejects them without decoding. encoding/json writes a
			// string the same way every time, so a match is never missed;
			// a false hit is caught by the check after decoding.
			if (actorNeedle != nil && !bytes.Contains(v, actorNeedle)) || (actionNeedle != nil && !bytes.Contains(v, actionNeedle)) {
				continue
			}
			e, err := decodeAudit(last, v)
			if err != nil {
				return err
			}
			if (q.Actor != "" && e.Actor != q.Actor) || (q.Action != "" && e.Action != q.Action) {
				continue
			}
			page.Items = append(page.Items, e)
		}
		return nil
	})
	if err != nil {
		return core.Page[core.AuditEntry]{}, fmt.Errorf("list audit: %w", err)
	}
	return page, nil
}
