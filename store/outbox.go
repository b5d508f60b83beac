package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// The outbox (core.Outbox). A message is a JSON record under its id; four
// indexes keep the delivery path to range scans:
//
//	outbox_due          len(1)|channel|not before(12)|id(8)  queued messages by when they are due
//	outbox_by_state     len(1)|state|id(8)                   every message, for the outbox view
//	outbox_by_customer  customer(8)|id(8)                    a customer's messages; erasure
//	outbox_by_key       idempotency key → id(8)              unique
//	outbox_by_provider  len(1)|channel|provider id → id(8)   delivery receipts
//
// Claiming moves a message from the due index to "sending" in the same
// transaction that counts the attempt, so two claims can never hand out one
// message; a message is in the due index exactly when it is queued.

func lenPrefixed(dst []byte, s string) []byte {
	return append(append(dst, byte(len(s))), s...)
}

func dueKey(m *core.OutboxMessage) []byte {
	k := lenPrefixed(make([]byte, 0, 1+len(m.Channel)+timeLen+idLen), m.Channel)
	k = appendTime(k, m.NotBefore)
	return appendID(k, m.ID)
}

func stateKey(st core.MessageState, id core.ID) []byte {
	return appendID(lenPrefixed(make([]byte, 0, 1+len(st)+idLen), string(st)), id)
}

func custMsgKey(c, id core.ID) []byte { return appendID(idKey(c), id) }

func providerKey(channel, pid string) []byte {
	return append(lenPrefixed(make([]byte, 0, 1+len(channel)+len(pid)), channel), pid...)
}

// putMessage writes m and moves its index entries from old (nil: new).
func putMessage(tx *bolt.Tx, old, m *core.OutboxMessage) error {
	rec, err := json.Marshal(m)
	if err != nil {
		return err
	}
	due, st := bucket(tx, bOutboxDue), bucket(tx, bOutboxState)
	if old != nil {
		if old.State == core.MessageQueued {
			if err := due.Delete(dueKey(old)); err != nil {
				return err
			}
		}
		if old.State != m.State {
			if err := st.Delete(stateKey(old.State, old.ID)); err != nil {
				return err
			}
		}
	}
	if m.State == core.MessageQueued {
		if err := due.Put(dueKey(m), nil); err != nil {
			return err
		}
	}
	if old == nil || old.State != m.State {
		if err := st.Put(stateKey(m.State, m.ID), nil); err != nil {
			return err
		}
	}
	if m.ProviderID != "" && (old == nil || old.ProviderID != m.ProviderID) && len(m.ProviderID) <= maxIndexedLen {
		if err := bucket(tx, bOutboxProvider).Put(providerKey(m.Channel, m.ProviderID), idKey(m.ID)); err != nil {
			return err
		}
	}
	return bucket(tx, bOutbox).Put(idKey(m.ID), rec)
}

func getMessage(tx *bolt.Tx, id core.ID) (core.OutboxMessage, error) {
	rec := bucket(tx, bOutbox).Get(idKey(id))
	if rec == nil {
		return core.OutboxMessage{}, core.NotFoundf("message %s", id)
	}
	var m core.OutboxMessage
	if err := json.Unmarshal(rec, &m); err != nil {
		return core.OutboxMessage{}, fmt.Errorf("message %s: %w", id, err)
	}
	return m, nil
}

// EnqueueMessages stores messages as queued; known idempotency keys return
// the stored message instead.
func (db *DB) EnqueueMessages(ctx context.Context, in []core.OutboxMessage) ([]core.OutboxMessage, []bool, error) {
	out := make([]core.OutboxMessage, len(in))
	dup := make([]bool, len(in))
	for i := range in {
		if len(in[i].IdempotencyKey) > maxIndexedLen || len(in[i].Channel) > 255 {
			return nil, nil, core.FieldErr(fmt.Sprintf("messages[%d].idempotency_key", i), "at most %d bytes", maxIndexedLen)
		}
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, keys, custs := bucket(tx, bOutbox), bucket(tx, bOutboxKey), bucket(tx, bCustomers)
		byCust := bucket(tx, bOutboxCustomer)
		for i, m := range in {
			if v := keys.Get([]byte(m.IdempotencyKey)); v != nil {
				stored, err := getMessage(tx, keyID(v))
				if err != nil {
					return err
				}
				out[i], dup[i] = stored, true
				continue
			}
			if custs.Get(idKey(m.CustomerID)) == nil {
				return core.NotFoundf("customer %s", m.CustomerID)
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			m.ID = core.ID(seq)
			m.State = core.MessageQueued
			if err := putMessage(tx, nil, &m); err != nil {
				return err
			}
			if err := keys.Put([]byte(m.IdempotencyKey), idKey(m.ID)); err != nil {
				return err
			}
			if err := byCust.Put(custMsgKey(m.CustomerID, m.ID), nil); err != nil {
				return err
			}
			out[i] = m
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("enqueue messages: %w", err)
	}
	return out, dup, nil
}

// ClaimMessages hands out up to limit due messages of channel.
func (db *DB) ClaimMessages(ctx context.Context, channel string, now time.Time, limit int) ([]core.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	prefix := lenPrefixed(nil, channel)
	upTo := appendTime(bytes.Clone(prefix), now)
	var out []core.OutboxMessage
	err := db.update(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bOutboxDue).Cursor()
		var ids []core.ID
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(ids) < limit; k, _ = c.Next() {
			if bytes.Compare(k[:len(upTo)], upTo) > 0 {
				break
			}
			ids = append(ids, keyID(k))
		}
		for _, id := range ids {
			m, err := getMessage(tx, id)
			if err != nil {
				return err
			}
			old := m
			m.State, m.Attempts, m.UpdatedAt = core.MessageSending, m.Attempts+1, now
			if err := putMessage(tx, &old, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	return out, nil
}

// FinishMessages records outcomes and their interactions in one transaction.
func (db *DB) FinishMessages(ctx context.Context, outcomes []core.Outcome) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var ins []core.Interaction
		custs := bucket(tx, bCustomers)
		for _, o := range outcomes {
			m, err := getMessage(tx, o.ID)
			if errors.Is(err, core.ErrNotFound) {
				continue // erased with its customer meanwhile
			}
			if err != nil {
				return err
			}
			for _, in := range o.Interactions {
				if custs.Get(idKey(in.CustomerID)) != nil {
					ins = append(ins, in)
				}
			}
			if m.State != core.MessageSending {
				continue // cancelled meanwhile; the worker's result changes nothing
			}
			old := m
			m.State, m.UpdatedAt, m.LastError = o.State, o.At, o.Error
			switch o.State {
			case core.MessageSent:
				m.ProviderID, m.SentAt = o.ProviderID, o.At
			case core.MessageQueued:
				m.NotBefore = o.NotBefore
				if o.NotAttempted && m.Attempts > 0 {
					m.Attempts--
				}
			}
			if err := putMessage(tx, &old, &m); err != nil {
				return err
			}
		}
		for len(ins) > 0 {
			n := min(len(ins), core.MaxBatch)
			if _, err := appendInteractionsTx(tx, ins[:n]); err != nil {
				return err
			}
			ins = ins[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish messages: %w", err)
	}
	return nil
}

// RequeueSending queues again every message a worker held when the
// process ended.
func (db *DB) RequeueSending(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := db.update(ctx, func(tx *bolt.Tx) error {
		prefix := lenPrefixed(nil, string(core.MessageSending))
		var ids []core.ID
		c := bucket(tx, bOutboxState).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, keyID(k))
		}
		for _, id := range ids {
			m, err := getMessage(tx, id)
			if err != nil {
				return err
			}
			old := m
			m.State, m.NotBefore, m.UpdatedAt = core.MessageQueued, now, now
			m.LastError = "in flight when the previous process stopped; sent again with the same idempotency key"
			if err := putMessage(tx, &old, &m); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// DueChannels lists channels with queued messages and the earliest due
// time of each: one seek per channel.
func (db *DB) DueChannels(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bOutboxDue).Cursor()
		for k, _ := c.First(); k != nil; {
			n := int(k[0])
			if len(k) < 1+n+timeLen+idLen {
				return fmt.Errorf("outbox due index: short key %x", k)
			}
			ch := string(k[1 : 1+n])
			out[ch] = decodeTime(k[1+n:])
			// Jump past this channel's range.
			next := append(lenPrefixed(nil, ch), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
			k, _ = c.Seek(next)
		}
		return nil
	})
	return out, err
}

// GetMessage returns one message.
func (db *DB) GetMessage(ctx context.Context, id core.ID) (core.OutboxMessage, error) {
	var m core.OutboxMessage
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		m, err = getMessage(tx, id)
		return err
	})
	return m, err
}

func (db *DB) messageBy(ctx context.Context, def bucketDef, key []byte, what string) (core.OutboxMessage, error) {
	var m core.OutboxMessage
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		v := bucket(tx, def).Get(key)
		if v == nil {
			return core.NotFoundf("message with %s", what)
		}
		m, err = getMessage(tx, keyID(v))
		return err
	})
	return m, err
}

// GetMessageByKey finds a message by its idempotency key.
func (db *DB) GetMessageByKey(ctx context.Context, key string) (core.OutboxMessage, error) {
	return db.messageBy(ctx, bOutboxKey, []byte(key), fmt.Sprintf("idempotency key %q", key))
}

// GetMessageByProviderID finds a sent message by its channel's id for it.
func (db *DB) GetMessageByProviderID(ctx context.Context, channel, providerID string) (core.OutboxMessage, error) {
	if len(channel) > 255 || providerID == "" {
		return core.OutboxMessage{}, core.NotFoundf("message with provider id %q", providerID)
	}
	return db.messageBy(ctx, bOutboxProvider, providerKey(channel, providerID), fmt.Sprintf("provider id %q", providerID))
}

// UpdateMessage reads, applies fn and writes back in one transaction.
func (db *DB) UpdateMessage(ctx context.Context, id core.ID, fn func(*core.OutboxMessage) error) (core.OutboxMessage, error) {
	var m core.OutboxMessage
	err := db.update(ctx, func(tx *bolt.Tx) error {
		old, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		m = old
		if err := fn(&m); err != nil {
			return err
		}
		m.ID, m.CustomerID, m.IdempotencyKey, m.Channel = old.ID, old.CustomerID, old.IdempotencyKey, old.Channel
		return putMessage(tx, &old, &m)
	})
	return m, err
}

// ListMessages pages messages newest first. A state narrows the scan to
// that state's index; channel and customer filter what is read (a
// customer's messages come from their own index).
func (db *DB) ListMessages(ctx context.Context, q core.OutboxQuery) (core.Page[core.OutboxMessage], error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return core.Page[core.OutboxMessage]{}, err
	}
	var page core.Page[core.OutboxMessage]
	var after core.ID
	if q.Cursor != "" {
		b, err := decodeCursor(q.Cursor, idLen)
		if err != nil {
			return page, err
		}
		after = keyID(b)
	}
	err = db.view(ctx, func(tx *bolt.Tx) error {
		var def bucketDef
		var prefix []byte
		switch {
		case q.CustomerID != 0:
			def, prefix = bOutboxCustomer, idKey(q.CustomerID)
		case q.State != "":
			def, prefix = bOutboxState, lenPrefixed(nil, string(q.State))
		default:
			def = bOutbox
		}
		c := bucket(tx, def).Cursor()
		// Start after the cursor (ids below it), or at the end of the range.
		var k []byte
		start := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		if after != 0 {
			start = appendID(bytes.Clone(prefix), after)
		}
		if k, _ = c.Seek(start); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if len(page.Items) == limit {
				page.Next = encodeCursor(idKey(page.Items[len(page.Items)-1].ID))
				break
			}
			m, err := getMessage(tx, keyID(k))
			if err != nil {
				return err
			}
			if (q.Channel != "" && m.Channel != q.Channel) || (q.State != "" && m.State != q.State) {
				continue
			}
			page.Items = append(page.Items, m)
		}
		return nil
	})
	return page, err
}

// CountMessages counts messages per state from the state index.
func (db *DB) CountMessages(ctx context.Context) (core.OutboxCounts, error) {
	out := core.OutboxCounts{ByState: map[core.MessageState]int{}, QueuedBy: map[string]int{}}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bOutboxState).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n := int(k[0])
			if len(k) >= 1+n {
				out.ByState[core.MessageState(k[1:1+n])]++
			}
		}
		d := bucket(tx, bOutboxDue).Cursor()
		for k, _ := d.First(); k != nil; k, _ = d.Next() {
			n := int(k[0])
			if len(k) < 1+n+timeLen {
				continue
			}
			out.QueuedBy[string(k[1:1+n])]++
			if t := decodeTime(k[1+n:]); out.OldestDue.IsZero() || t.Before(out.OldestDue) {
				out.OldestDue = t
			}
		}
		return nil
	})
	return out, err
}

// eraseCustomerMessages removes a customer's messages and their index
// entries (EraseCustomer: the outbox holds their contact and texts too).
func eraseCustomerMessages(tx *bolt.Tx, customer core.ID) error {
	byCust := bucket(tx, bOutboxCustomer)
	prefix := idKey(customer)
	var ids []core.ID
	c := byCust.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, keyID(k))
	}
	for _, id := range ids {
		m, err := getMessage(tx, id)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
		if err == nil {
			if m.State == core.MessageQueued {
				if err := bucket(tx, bOutboxDue).Delete(dueKey(&m)); err != nil {
					return err
				}
			}
			if err := bucket(tx, bOutboxState).Delete(stateKey(m.State, id)); err != nil {
				return err
			}
			if err := bucket(tx, bOutboxKey).Delete([]byte(m.IdempotencyKey)); err != nil {
				return err
			}
			if m.ProviderID != "" && len(m.ProviderID) <= maxIndexedLen {
				if err := bucket(tx, bOutboxProvider).Delete(providerKey(m.Channel, m.ProviderID)); err != nil {
					return err
				}
			}
			if err := bucket(tx, bOutbox).Delete(idKey(id)); err != nil {
				return err
			}
		}
		if err := byCust.Delete(custMsgKey(customer, id)); err != nil {
			return err
		}
	}
	return nil
}

// GetPluginSettings returns what admins set for plugin name.
func (db *DB) GetPluginSettings(ctx context.Context, name string) (core.PluginSettings, error) {
	var s core.PluginSettings
	err := db.view(ctx, func(tx *bolt.Tx) error {
		v := bucket(tx, bPluginSettings).Get([]byte(name))
		if v == nil {
			return core.NotFoundf("settings of plugin %q", name)
		}
		return json.Unmarshal(v, &s)
	})
	return s, err
}

// PutPluginSettings stores s under s.Name.
func (db *DB) PutPluginSettings(ctx context.Context, s core.PluginSettings) error {
	if s.Name == "" || len(s.Name) > maxPluginName {
		return core.FieldErr("name", "must be 1 to %d bytes", maxPluginName)
	}
	if len(s.Config) > 0 && !json.Valid(s.Config) {
		return core.FieldErr("config", "not JSON")
	}
	rec, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return db.update(ctx, func(tx *bolt.Tx) error { return bucket(tx, bPluginSettings).Put([]byte(s.Name), rec) })
}

// ListPluginSettings returns every plugin's settings by name.
func (db *DB) ListPluginSettings(ctx context.Context) ([]core.PluginSettings, error) {
	var out []core.PluginSettings
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bPluginSettings).ForEach(func(_, v []byte) error {
			var s core.PluginSettings
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}
