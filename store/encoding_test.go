package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

func fullCustomer() core.Customer {
	return core.Customer{
		ID: 42, ExternalID: "ext-1", Name: "Zoë Ünicode", Emails: []string{"a@example.com", "b@example.com"},
		Phones:  []string{"+48600100200"},
		Address: core.Address{Line1: "1 Main St", Line2: "Flat 2", City: "Kraków", Region: "MP", PostalCode: "30-001", Country: "PL"},
		Locale:  "pl-PL", TimeZone: "Europe/Warsaw",
		Attributes: map[string]any{"plan": "gold", "ltv": 123.5, "vip": true, "churned": false, "note": nil},
		Tags:       []string{"plan:gold", "vip"},
		Consent: map[core.Channel]core.Consent{
			core.ChannelEmail: {Granted: true, At: t0, Source: "import"},
			core.ChannelSMS:   {Granted: false, At: t0.Add(time.Hour), Source: "unsubscribe link"},
		},
		CreatedAt: t0, UpdatedAt: t0.Add(time.Minute),
		FirstSeen: time.Date(1901, 2, 3, 4, 5, 6, 7, time.UTC), LastSeen: time.Date(9999, 1, 1, 0, 0, 0, 999999999, time.UTC),
	}
}

func fullInteraction() core.Interaction {
	return core.Interaction{
		ID: 7, CustomerID: 42, Type: core.TypePurchase, Time: t0.Add(123456789), Channel: "web",
		Amount: -5, Currency: "PLN",
		Items:      []core.LineItem{{SKU: "tea", Name: "Green tea", Quantity: 3, UnitPrice: 1299}, {Quantity: -1}},
		Properties: map[string]string{"order": "A-1", "": "empty key survives"},
		Text:       "line one\nline two", IdempotencyKey: "order:A-1", CreatedAt: t0,
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, c := range []core.Customer{fullCustomer(), {ID: 1}} {
		rec, err := encodeCustomer(&c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCustomer(c.ID, rec)
		if err != nil {
			t.Fatal(err)
		}
		c.FirstSeen, c.LastSeen = time.Time{}, time.Time{} // derived from the timeline, not stored
		if !reflect.DeepEqual(got, c) {
			t.Errorf("customer round trip:\n got %+v\nwant %+v", got, c)
		}
	}
	for _, in := range []core.Interaction{fullInteraction(), {ID: 1, CustomerID: 2, Type: "note"}} {
		got, err := decodeInteraction(in.ID, encodeInteraction(&in))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Errorf("interaction round trip:\n got %+v\nwant %+v", got, in)
		}
	}
	chs := []core.Change{{Seq: 9, Kind: core.KindInteraction, ID: 1 << 60, CustomerID: 3, Deleted: true}, {Seq: 10, Kind: core.KindCustomer, ID: 3}}
	if got, err := decodeChanges(9, encodeChanges(chs), nil); err != nil || !slices.Equal(got, chs) {
		t.Errorf("change round trip: %+v %v", got, err)
	}
}

// TestRecordSize keeps the binary form well under the JSON the API sends.
func TestRecordSize(t *testing.T) {
	in := fullInteraction()
	js, _ := json.Marshal(in)
	if b := encodeInteraction(&in); len(b)*2 > len(js) {
		t.Errorf("interaction record %d bytes, JSON %d", len(b), len(js))
	}
	c := fullCustomer()
	js, _ = json.Marshal(c)
	if b, _ := encodeCustomer(&c); len(b)*3 > len(js)*2 {
		t.Errorf("customer record %d bytes, JSON %d", len(b), len(js))
	}
}

func TestDecodeCorruptRecords(t *testing.T) {
	c := fullCustomer()
	crec, _ := encodeCustomer(&c)
	in := fullInteraction()
	irec := encodeInteraction(&in)
	for n := range len(crec) {
		if _, err := decodeCustomer(1, crec[:n]); err == nil {
			t.Errorf("customer truncated to %d decoded", n)
		}
	}
	for n := range len(irec) {
		if _, err := decodeInteraction(1, irec[:n]); err == nil {
			t.Errorf("interaction truncated to %d decoded", n)
		}
	}
	if _, err := decodeInteraction(1, append(irec, 0)); !errors.Is(err, errCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
	for _, b := range [][]byte{nil, {}, {0xff}, {9, 0, 0}, {0}, {1, 2, 3, 4, 5}} {
		if _, err := decodeChanges(1, b, nil); err == nil {
			t.Errorf("change %x decoded", b)
		}
	}
	for _, f := range []func([]byte) error{
		func(b []byte) error { _, err := decodeUser(1, b); return err },
		func(b []byte) error { _, err := decodeToken(1, b); return err },
		func(b []byte) error { _, err := decodeImportJob(1, b); return err },
	} {
		if err := f([]byte("{not json")); err == nil {
			t.Error("bad JSON decoded")
		}
	}
}

func FuzzDecodeRecords(f *testing.F) {
	c := fullCustomer()
	crec, _ := encodeCustomer(&c)
	in := fullInteraction()
	f.Add(crec)
	f.Add(encodeInteraction(&in))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeCustomer(1, b) // must not panic or allocate wildly
		_, _ = decodeInteraction(1, b)
		_, _ = decodeChanges(1, b, nil)
		if cu, err := decodeCustomer(1, b); err == nil {
			if again, err := encodeCustomer(&cu); err != nil || len(again) == 0 {
				t.Errorf("re-encode: %v", err)
			}
		}
	})
}

func TestValueKeys(t *testing.T) {
	for _, v := range []string{"", "a", "ab", "with\x00nul", string(make([]byte, 300))} {
		got, id, ok := splitValueKey(valueKey(v, 77))
		if !ok || got != v || id != 77 {
			t.Errorf("valueKey(%q) → %q %d %v", v, got, id, ok)
		}
	}
	// "ab" must not be a prefix match for "abc".
	if p := valuePrefix("ab"); string(valueKey("abc", 1)[:len(p)]) == string(p) {
		t.Error("prefix of a longer value matches")
	}
	for _, k := range [][]byte{nil, {0, 5, 'a'}, make([]byte, 9)} {
		if _, _, ok := splitValueKey(k); ok {
			t.Errorf("malformed key %x accepted", k)
		}
	}
}

// FuzzCursor feeds arbitrary cursors to the decoder and to both paged
// listings: the only acceptable outcomes are a page or ErrInvalid.
func FuzzCursor(f *testing.F) {
	db := openTest(f)
	ctx := context.Background()
	c, err := db.CreateCustomer(ctx, core.Customer{ExternalID: "c", Tags: []string{"t"}})
	if err != nil {
		f.Fatal(err)
	}
	res, err := db.AppendInteractions(ctx, []core.Interaction{{CustomerID: c.ID, Type: "note", Time: t0}, {CustomerID: c.ID, Type: "note", Time: t0.Add(time.Second)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("")
	f.Add("garbage")
	f.Add(encodeCursor(idKey(1)))
	f.Add(encodeCursor(timelineKey(c.ID, t0.Add(time.Second), res[1].ID)[idLen:]))
	f.Add(encodeCursor(make([]byte, 20)))
	f.Add("////////////////////////////")
	f.Fuzz(func(t *testing.T, cur string) {
		for _, n := range []int{idLen, timeLen + idLen} {
			if b, err := decodeCursor(cur, n); err != nil && !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("decode error kind: %v", err)
			} else if err == nil && cur != "" && len(b) != n {
				t.Fatalf("decoded %d bytes, want %d", len(b), n)
			}
		}
		if p, err := db.Timeline(ctx, c.ID, core.TimelineQuery{Cursor: cur, Limit: 1}); err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("timeline: %v", err)
		} else if err == nil && len(p.Items) > 1 {
			t.Fatalf("page of %d", len(p.Items))
		}
		for _, tag := range []string{"", "t"} {
			if _, err := db.ListCustomers(ctx, core.CustomerQuery{Tag: tag, Cursor: cur}); err != nil && !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("list: %v", err)
			}
		}
	})
}
