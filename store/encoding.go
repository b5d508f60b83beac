package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/retain-crm/retain/core"
)

// This file holds every record encoding, so it can change in one place.
//
// Customers, interactions and change-log entries are the bulk of the data and
// use a compact binary form: a format byte, then fields in a fixed order as
// uvarint-length strings and varints. Users, tokens and import jobs are few
// and use JSON. The record never repeats its key (the id).

const (
	formatV1 = 1
)

var errCorrupt = errors.New("corrupt record")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) time(t time.Time) { e.varint(t.Unix()); e.uvarint(uint64(t.Nanosecond())) }
func (e *encoder) bool(v bool) {
	if v {
		e.byte(1)
	} else {
		e.byte(0)
	}
}
func (e *encoder) strs(v []string) {
	e.uvarint(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}

// decoder reads what encoder wrote; the first error sticks and later reads
// return zero values, so a corrupt record never panics.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool { return d.byte() == 1 }

// count reads a list length and refuses one longer than the bytes left
// (each element takes at least one), so garbage cannot make us allocate.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n]) // copies: the record may live in bbolt's mmap
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	ns := d.uvarint()
	if ns >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

// encodeInteraction encodes everything but the ID, so it can run before the
// transaction that assigns the ID.
func encodeInteraction(in *core.Interaction) []byte {
	e := encoder{b: make([]byte, 0, 64+len(in.Text))}
	e.byte(formatV1)
	e.uvarint(uint64(in.CustomerID))
	e.str(string(in.Type))
	e.time(in.Time)
	e.str(string(in.Channel))
	e.varint(in.Amount)
	e.str(in.Currency)
	e.uvarint(uint64(len(in.Items)))
	for _, it := range in.Items {
		e.str(it.SKU)
		e.str(it.Name)
		e.varint(it.Quantity)
		e.varint(it.UnitPrice)
	}
	e.uvarint(uint64(len(in.Properties)))
	for _, k := range sortedKeys(in.Properties) {
		e.str(k)
		e.str(in.Properties[k])
	}
	e.str(in.Text)
	e.str(in.IdempotencyKey)
	e.time(in.CreatedAt)
	return e.b
}

func decodeInteraction(id core.ID, b []byte) (core.Interaction, error) {
	d := decoder{b: b}
	if d.byte() != formatV1 {
		return core.Interaction{}, fmt.Errorf("interaction %d: unknown record format", id)
	}
	in := core.Interaction{ID: id}
	in.CustomerID = core.ID(d.uvarint())
	in.Type = core.InteractionType(d.str())
	in.Time = d.time()
	in.Channel = core.Channel(d.str())
	in.Amount = d.varint()
	in.Currency = d.str()
	if n := d.count(); n > 0 {
		in.Items = make([]core.LineItem, n)
		for i := range in.Items {
			it := &in.Items[i]
			it.SKU, it.Name = d.str(), d.str()
			it.Quantity, it.UnitPrice = d.varint(), d.varint()
		}
	}
	if n := d.count(); n > 0 {
		in.Properties = make(map[string]string, n)
		for range n {
			k := d.str()
			in.Properties[k] = d.str()
		}
	}
	in.Text = d.str()
	in.IdempotencyKey = d.str()
	in.CreatedAt = d.time()
	if err := d.done(); err != nil {
		return core.Interaction{}, fmt.Errorf("interaction %d: %w", id, err)
	}
	return in, nil
}

// interactionCustomer reads only the customer id of an encoded interaction.
func interactionCustomer(b []byte) core.ID {
	d := decoder{b: b}
	d.byte()
	return core.ID(d.uvarint())
}

// Attribute value kinds in the customer record.
const (
	attrNull = iota
	attrFalse
	attrTrue
	attrNumber
	attrString
)

func encodeCustomer(c *core.Customer) ([]byte, error) {
	e := encoder{b: make([]byte, 0, 128)}
	e.byte(formatV1) // FirstSeen and LastSeen are not stored: see customerSeen
	e.str(c.ExternalID)
	e.str(c.Name)
	e.strs(c.Emails)
	e.strs(c.Phones)
	a := c.Address
	for _, s := range []string{a.Line1, a.Line2, a.City, a.Region, a.PostalCode, a.Country} {
		e.str(s)
	}
	e.str(c.Locale)
	e.str(c.TimeZone)
	e.uvarint(uint64(len(c.Attributes)))
	for _, k := range sortedKeys(c.Attributes) {
		e.str(k)
		switch v := c.Attributes[k].(type) {
		case nil:
			e.byte(attrNull)
		case bool:
			e.byte(attrFalse + b2i(v))
		case float64:
			e.byte(attrNumber)
			e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(v))
		case int:
			e.byte(attrNumber)
			e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(float64(v)))
		case int64:
			e.byte(attrNumber)
			e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(float64(v)))
		case string:
			e.byte(attrString)
			e.str(v)
		default:
			return nil, core.FieldErr("attributes."+k, "value must be a string, number, boolean or null, not %T", v)
		}
	}
	e.strs(c.Tags)
	e.uvarint(uint64(len(c.Consent)))
	for _, ch := range sortedKeys(c.Consent) {
		cs := c.Consent[ch]
		e.str(string(ch))
		e.bool(cs.Granted)
		e.time(cs.At)
		e.str(cs.Source)
	}
	e.time(c.CreatedAt)
	e.time(c.UpdatedAt)
	return e.b, nil
}

func b2i(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func decodeCustomer(id core.ID, b []byte) (core.Customer, error) {
	d := decoder{b: b}
	if d.byte() != formatV1 {
		return core.Customer{}, fmt.Errorf("customer %d: %w", id, errCorrupt)
	}
	c := core.Customer{ID: id}
	c.ExternalID = d.str()
	c.Name = d.str()
	c.Emails = d.strs()
	c.Phones = d.strs()
	a := &c.Address
	for _, s := range []*string{&a.Line1, &a.Line2, &a.City, &a.Region, &a.PostalCode, &a.Country} {
		*s = d.str()
	}
	c.Locale = d.str()
	c.TimeZone = d.str()
	if n := d.count(); n > 0 {
		c.Attributes = make(map[string]any, n)
		for range n {
			k := d.str()
			switch d.byte() {
			case attrNull:
				c.Attributes[k] = nil
			case attrFalse:
				c.Attributes[k] = false
			case attrTrue:
				c.Attributes[k] = true
			case attrNumber:
				if len(d.b) < 8 {
					d.fail()
					break
				}
				c.Attributes[k] = math.Float64frombits(binary.BigEndian.Uint64(d.b))
				d.b = d.b[8:]
			case attrString:
				c.Attributes[k] = d.str()
			default:
				d.fail()
			}
		}
	}
	c.Tags = d.strs()
	if n := d.count(); n > 0 {
		c.Consent = make(map[core.Channel]core.Consent, n)
		for range n {
			ch := core.Channel(d.str())
			var cs core.Consent
			cs.Granted = d.bool()
			cs.At = d.time()
			cs.Source = d.str()
			c.Consent[ch] = cs
		}
	}
	c.CreatedAt = d.time()
	c.UpdatedAt = d.time()
	if err := d.done(); err != nil {
		return core.Customer{}, fmt.Errorf("customer %d: %w", id, err)
	}
	return c, nil
}

// A change-log record holds every change of one write transaction (an
// append of 10,000 interactions is one put, not 10,000). It is keyed by the
// Seq of its first change; the others follow in order.
func encodeChanges(cs []core.Change) []byte {
	e := encoder{b: make([]byte, 0, 4+len(cs)*8)}
	e.uvarint(uint64(len(cs)))
	for _, c := range cs {
		e.byte(byte(c.Kind)<<1 | b2i(c.Deleted))
		e.uvarint(uint64(c.ID))
		e.uvarint(uint64(c.CustomerID))
	}
	return e.b
}

// decodeChanges appends the changes of the record keyed first to out.
func decodeChanges(first uint64, b []byte, out []core.Change) ([]core.Change, error) {
	d := decoder{b: b}
	n := d.count()
	if n == 0 {
		d.fail()
	}
	for i := range n {
		kd := d.byte()
		c := core.Change{Seq: first + uint64(i), Kind: core.EntityKind(kd >> 1), Deleted: kd&1 == 1}
		c.ID = core.ID(d.uvarint())
		c.CustomerID = core.ID(d.uvarint())
		if d.err != nil {
			break
		}
		out = append(out, c)
	}
	if err := d.done(); err != nil {
		return out, fmt.Errorf("change record %d: %w", first, err)
	}
	return out, nil
}

// The JSON records carry the fields core hides from the API (json:"-").

type userRecord struct {
	core.User
	PasswordHash string `json:"password_hash,omitempty"`
}

type tokenRecord struct {
	core.Token
	Hash []byte `json:"hash"`
}

type importJobRecord struct {
	core.ImportJob
	FilePath string `json:"file_path,omitempty"`
}

func encodeUser(u *core.User) ([]byte, error) {
	return json.Marshal(userRecord{User: *u, PasswordHash: u.PasswordHash})
}

func decodeUser(id core.ID, b []byte) (core.User, error) {
	var r userRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return core.User{}, fmt.Errorf("user %d: %w", id, errCorrupt)
	}
	r.User.PasswordHash, r.User.ID = r.PasswordHash, id
	return r.User, nil
}

func encodeToken(t *core.Token) ([]byte, error) {
	return json.Marshal(tokenRecord{Token: *t, Hash: t.Hash})
}

func decodeToken(id core.ID, b []byte) (core.Token, error) {
	var r tokenRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return core.Token{}, fmt.Errorf("token %d: %w", id, errCorrupt)
	}
	r.Token.Hash, r.Token.ID = r.Hash, id
	return r.Token, nil
}

func encodeImportJob(j *core.ImportJob) ([]byte, error) {
	return json.Marshal(importJobRecord{ImportJob: *j, FilePath: j.FilePath})
}

func decodeImportJob(id core.ID, b []byte) (core.ImportJob, error) {
	var r importJobRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return core.ImportJob{}, fmt.Errorf("import job %d: %w", id, errCorrupt)
	}
	r.ImportJob.FilePath, r.ImportJob.ID = r.FilePath, id
	return r.ImportJob, nil
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	if len(m) == 0 {
		return nil
	}
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
