package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "retain.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustCheck(t *testing.T, db *DB) {
	t.Helper()
	for _, err := range db.Check(context.Background()) {
		t.Errorf("check: %v", err)
	}
}

func newCustomer(t *testing.T, db *DB, ext string, tags ...string) core.Customer {
	t.Helper()
	c, err := db.CreateCustomer(context.Background(), core.Customer{
		ExternalID: ext, Name: "Name " + ext, Emails: []string{ext + "@example.com"},
		Tags: tags, CreatedAt: t0, UpdatedAt: t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpenMigratesEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "retain.db")
	db, err := Open(ctx, path, Options{}) // durable default
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SchemaVersion != SchemaVersion() || !st.Writable || st.Path != path || st.SizeBytes == 0 {
		t.Errorf("stats = %+v", st)
	}
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b.name) == nil {
				t.Errorf("bucket %s not created", b.name)
			}
		}
		return nil
	})
	mustCheck(t, db)

	// A second process (here: a second open) is told the file is locked.
	_, err = Open(ctx, path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "locked by another retain process") {
		t.Errorf("second open: %v", err)
	}
	db.Close()

	// Reopening is idempotent; a newer schema is refused.
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.bolt.Update(func(tx *bolt.Tx) error {
		return putUint(tx.Bucket(bMeta.name), metaSchemaVersion, uint64(SchemaVersion()+1))
	})
	db.Close()
	if _, err := Open(ctx, path, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("open newer schema: %v", err)
	}
}

func TestOpenRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 2000), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, core.ErrInvalid) {
		t.Errorf("open garbage: %v", err)
	}
}

func TestCustomers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	a := newCustomer(t, db, "a", "vip", "plan:gold")
	b := newCustomer(t, db, "b", "vip")
	if a.ID != 1 || b.ID != 2 {
		t.Fatalf("ids %d %d", a.ID, b.ID)
	}
	noExt, err := db.CreateCustomer(ctx, core.Customer{Name: "no external id", Phones: []string{"+48600100200"}})
	if err != nil {
		t.Fatal(err)
	}
	noExt2, err := db.CreateCustomer(ctx, core.Customer{Name: "another without", Phones: []string{"+48600100200"}})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"duplicate external id", func() error { _, err := db.CreateCustomer(ctx, core.Customer{ExternalID: "a"}); return err }, core.ErrConflict},
		{"get missing", func() error { _, err := db.GetCustomer(ctx, 999); return err }, core.ErrNotFound},
		{"get by missing external id", func() error { _, err := db.GetCustomerByExternalID(ctx, "zzz"); return err }, core.ErrNotFound},
		{"get by empty external id", func() error { _, err := db.GetCustomerByExternalID(ctx, ""); return err }, core.ErrNotFound},
		{"update missing", func() error {
			_, err := db.UpdateCustomer(ctx, 999, func(*core.Customer) error { return nil })
			return err
		}, core.ErrNotFound},
		{"update to taken external id", func() error {
			_, err := db.UpdateCustomer(ctx, b.ID, func(c *core.Customer) error { c.ExternalID = "a"; return nil })
			return err
		}, core.ErrConflict},
		{"update fn error", func() error {
			_, err := db.UpdateCustomer(ctx, b.ID, func(c *core.Customer) error { return core.FieldErr("name", "bad") })
			return err
		}, core.ErrInvalid},
		{"bad attribute type", func() error {
			_, err := db.CreateCustomer(ctx, core.Customer{Attributes: map[string]any{"x": []int{1}}})
			return err
		}, core.ErrInvalid},
		{"list garbage cursor", func() error { _, err := db.ListCustomers(ctx, core.CustomerQuery{Cursor: "!!!"}); return err }, core.ErrInvalid},
		{"list short cursor", func() error { _, err := db.ListCustomers(ctx, core.CustomerQuery{Cursor: "AAAA"}); return err }, core.ErrInvalid},
		{"list bad limit", func() error { _, err := db.ListCustomers(ctx, core.CustomerQuery{Limit: 1001}); return err }, core.ErrInvalid},
		{"erase missing", func() error { return db.EraseCustomer(ctx, 999) }, core.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}

	got, err := db.GetCustomerByExternalID(ctx, "b")
	if err != nil || got.ID != b.ID || got.Name != "Name b" {
		t.Errorf("by external id: %+v %v", got, err)
	}
	found, err := db.FindCustomersByEmail(ctx, " A@Example.com ")
	if err != nil || len(found) != 1 || found[0].ID != a.ID {
		t.Errorf("by email: %v %v", found, err)
	}
	found, err = db.FindCustomersByPhone(ctx, "+48600100200")
	if err != nil || len(found) != 2 || found[0].ID != noExt.ID || found[1].ID != noExt2.ID {
		t.Errorf("by phone: %v %v", found, err)
	}

	// Update moves every index entry.
	up, err := db.UpdateCustomer(ctx, a.ID, func(c *core.Customer) error {
		c.ExternalID, c.Emails, c.Tags = "a2", []string{"new@example.com"}, []string{"plan:gold"}
		c.ID, c.CreatedAt = 77, time.Time{} // ignored
		return nil
	})
	if err != nil || up.ID != a.ID || !up.CreatedAt.Equal(t0) {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := db.GetCustomerByExternalID(ctx, "a"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("old external id still found: %v", err)
	}
	if f, _ := db.FindCustomersByEmail(ctx, "a@example.com"); len(f) != 0 {
		t.Errorf("old email still indexed: %v", f)
	}
	if f, _ := db.FindCustomersByEmail(ctx, "new@example.com"); len(f) != 1 {
		t.Errorf("new email not indexed: %v", f)
	}
	page, err := db.ListCustomers(ctx, core.CustomerQuery{Tag: "vip"})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != b.ID || page.Next != "" {
		t.Errorf("tag vip: %+v %v", page, err)
	}
	if n, _ := db.CountCustomers(ctx); n != 4 {
		t.Errorf("count = %d", n)
	}
	mustCheck(t, db)
}

func TestListCustomersPaging(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for i := range 25 {
		tags := []string{"all"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		newCustomer(t, db, fmt.Sprintf("c%02d", i), tags...)
	}
	for _, tc := range []struct {
		tag   string
		limit int
		want  int
	}{{"", 10, 25}, {"", 0, 25}, {"all", 7, 25}, {"even", 5, 13}, {"none", 5, 0}, {"", 25, 25}, {"", 1000, 25}} {
		t.Run(fmt.Sprintf("%s/%d", tc.tag, tc.limit), func(t *testing.T) {
			var ids []core.ID
			cursor := ""
			for pages := 0; ; pages++ {
				p, err := db.ListCustomers(ctx, core.CustomerQuery{Tag: tc.tag, Limit: tc.limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range p.Items {
					ids = append(ids, c.ID)
				}
				if p.Next == "" {
					break
				}
				if pages > 30 {
					t.Fatal("paging does not end")
				}
				cursor = p.Next
			}
			if len(ids) != tc.want || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Errorf("ids = %v", ids)
			}
		})
	}
}

func TestUpsertCustomers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	newCustomer(t, db, "x", "old")
	before, _ := db.LastChange(ctx)

	out, created, err := db.UpsertCustomers(ctx, []core.Customer{
		{ExternalID: "x", Name: "X merged", Tags: []string{"new"}, UpdatedAt: t0.Add(time.Hour)},
		{ExternalID: "y", Name: "Y", CreatedAt: t0, UpdatedAt: t0},
		{ExternalID: "y", Emails: []string{"y@example.com"}, UpdatedAt: t0.Add(time.Hour)}, // same batch: merges
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, []bool{false, true, false}) {
		t.Errorf("created = %v", created)
	}
	if out[0].ID != 1 || out[0].Name != "X merged" || !slices.Equal(out[0].Tags, []string{"new", "old"}) || !out[0].CreatedAt.Equal(t0) {
		t.Errorf("merged x = %+v", out[0])
	}
	if out[1].ID != out[2].ID || out[2].Name != "Y" || !slices.Equal(out[2].Emails, []string{"y@example.com"}) {
		t.Errorf("y = %+v / %+v", out[1], out[2])
	}
	if n, _ := db.CountCustomers(ctx); n != 2 {
		t.Errorf("count = %d", n)
	}
	after, _ := db.LastChange(ctx)
	if after-before != 3 {
		t.Errorf("%d changes logged, want 3", after-before)
	}
	// The same batch again changes nothing and logs nothing.
	y, _ := db.GetCustomerByExternalID(ctx, "y")
	_, created, err = db.UpsertCustomers(ctx, []core.Customer{{ExternalID: "y", Name: "Y", UpdatedAt: y.UpdatedAt}}, nil)
	if err != nil || created[0] {
		t.Fatal(err, created)
	}
	if again, _ := db.LastChange(ctx); again != after {
		t.Errorf("unchanged upsert logged %d changes", again-after)
	}
	if _, _, err := db.UpsertCustomers(ctx, []core.Customer{{Name: "no key"}}, nil); !errors.Is(err, core.ErrInvalid) || core.ErrorField(err) != "customers[0].external_id" {
		t.Errorf("missing external id: %v", err)
	}
	mustCheck(t, db)
}

func purchase(c core.ID, at time.Time, key string) core.Interaction {
	return core.Interaction{CustomerID: c, Type: core.TypePurchase, Time: at, Amount: 1999, Currency: "EUR",
		Items: []core.LineItem{{SKU: "tea", Name: "Tea", Quantity: 1, UnitPrice: 1999}}, IdempotencyKey: key, CreatedAt: t0}
}

func TestAppendInteractionsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	a := newCustomer(t, db, "a")
	b := newCustomer(t, db, "b")

	batch := []core.Interaction{
		purchase(a.ID, t0.Add(2*time.Hour), "k1"),
		purchase(b.ID, t0.Add(time.Hour), "k2"),
		purchase(a.ID, t0.Add(3*time.Hour), "k1"), // repeats k1 within the batch
		purchase(a.ID, t0, ""),                    // no key: always stored
	}
	res, err := db.AppendInteractions(ctx, slices.Clone(batch))
	if err != nil {
		t.Fatal(err)
	}
	want := []core.AppendResult{{ID: 1}, {ID: 2}, {ID: 1, Duplicate: true}, {ID: 3}}
	if !slices.Equal(res, want) {
		t.Errorf("first = %v, want %v", res, want)
	}
	res, err = db.AppendInteractions(ctx, slices.Clone(batch))
	if err != nil {
		t.Fatal(err)
	}
	want = []core.AppendResult{{ID: 1, Duplicate: true}, {ID: 2, Duplicate: true}, {ID: 1, Duplicate: true}, {ID: 4}}
	if !slices.Equal(res, want) {
		t.Errorf("repeat = %v, want %v", res, want)
	}
	if n, _ := db.CountInteractions(ctx); n != 4 {
		t.Errorf("count = %d", n)
	}
	got, err := db.GetCustomer(ctx, a.ID)
	if err != nil || !got.FirstSeen.Equal(t0) || !got.LastSeen.Equal(t0.Add(2*time.Hour)) || got.Name != "Name a" {
		t.Errorf("a seen = %v..%v (%v)", got.FirstSeen, got.LastSeen, err)
	}
	in, err := db.GetInteraction(ctx, 1)
	if err != nil || in.CustomerID != a.ID || in.IdempotencyKey != "k1" || in.Items[0].SKU != "tea" {
		t.Errorf("interaction 1 = %+v %v", in, err)
	}

	// A later batch inside the known span moves nothing: no customer change.
	last, _ := db.LastChange(ctx)
	if _, err := db.AppendInteractions(ctx, []core.Interaction{purchase(a.ID, t0.Add(time.Hour), "")}); err != nil {
		t.Fatal(err)
	}
	chs, _ := db.Changes(ctx, last, 100)
	if len(chs) != 1 || chs[0].Kind != core.KindInteraction || chs[0].CustomerID != a.ID {
		t.Errorf("changes = %+v", chs)
	}
	// A missing customer fails the whole batch, naming the customer.
	_, err = db.AppendInteractions(ctx, []core.Interaction{purchase(a.ID, t0, "k9"), purchase(4242, t0, "")})
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "4242") {
		t.Errorf("missing customer: %v", err)
	}
	if _, err := db.AppendInteractions(ctx, []core.Interaction{purchase(a.ID, t0, "k9")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountInteractions(ctx); n != 6 {
		t.Errorf("count after failed batch = %d, want 6", n)
	}
	for _, tc := range []struct {
		name string
		in   []core.Interaction
	}{
		{"too many", make([]core.Interaction, core.MaxBatch+1)},
		{"no customer", []core.Interaction{{Type: "note"}}},
		{"huge key", []core.Interaction{purchase(a.ID, t0, strings.Repeat("k", 5000))}},
	} {
		if _, err := db.AppendInteractions(ctx, tc.in); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := db.GetInteraction(ctx, 999); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	mustCheck(t, db)
}

func TestTimeline(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	// Neighbours on both sides make sure a page never leaks across customers.
	c1, c2, c3 := newCustomer(t, db, "c1"), newCustomer(t, db, "c2"), newCustomer(t, db, "c3")
	var batch []core.Interaction
	for i := range 30 {
		typ := core.TypePurchase
		if i%3 == 0 {
			typ = core.TypeNote
		}
		for _, c := range []core.ID{c1.ID, c2.ID, c3.ID} {
			batch = append(batch, core.Interaction{CustomerID: c, Type: typ, Time: t0.Add(time.Duration(i) * time.Minute), Text: fmt.Sprint(i)})
		}
	}
	// Same timestamp twice: the interaction id breaks the tie.
	batch = append(batch, core.Interaction{CustomerID: c2.ID, Type: core.TypeNote, Time: t0.Add(29 * time.Minute), Text: "tie"})
	if _, err := db.AppendInteractions(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		types []core.InteractionType
		limit int
		want  int
	}{
		{"all", nil, 7, 31},
		{"notes", []core.InteractionType{core.TypeNote}, 4, 11},
		{"purchases", []core.InteractionType{core.TypePurchase}, 50, 20},
		{"both", []core.InteractionType{core.TypePurchase, core.TypeNote}, 10, 31},
		{"unknown type", []core.InteractionType{"nope"}, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []core.Interaction
			cursor := ""
			for range 40 {
				p, err := db.Timeline(ctx, c2.ID, core.TimelineQuery{Types: tc.types, Limit: tc.limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) > tc.limit {
					t.Fatalf("page of %d", len(p.Items))
				}
				got = append(got, p.Items...)
				if cursor = p.Next; cursor == "" {
					break
				}
			}
			if len(got) != tc.want {
				t.Fatalf("got %d items, want %d", len(got), tc.want)
			}
			for i, in := range got {
				if in.CustomerID != c2.ID || (len(tc.types) > 0 && !slices.Contains(tc.types, in.Type)) {
					t.Errorf("item %d = %+v", i, in)
				}
				if i > 0 {
					p := got[i-1]
					if in.Time.After(p.Time) || (in.Time.Equal(p.Time) && in.ID > p.ID) {
						t.Errorf("not newest first at %d: %v after %v", i, in.Time, p.Time)
					}
				}
			}
			if tc.want > 0 && tc.types == nil && got[0].Text != "tie" {
				t.Errorf("newest = %q, want the tie-breaker", got[0].Text)
			}
		})
	}
	// The last customer (no right-hand neighbour) and an unknown customer.
	if p, err := db.Timeline(ctx, c3.ID, core.TimelineQuery{Limit: 100}); err != nil || len(p.Items) != 30 {
		t.Errorf("c3: %d %v", len(p.Items), err)
	}
	if p, err := db.Timeline(ctx, 1<<63, core.TimelineQuery{}); err != nil || len(p.Items) != 0 {
		t.Errorf("unknown: %d %v", len(p.Items), err)
	}
	if p, err := db.Timeline(ctx, ^core.ID(0), core.TimelineQuery{}); err != nil || len(p.Items) != 0 {
		t.Errorf("max id: %d %v", len(p.Items), err)
	}
	for _, cur := range []string{"garbage!", "AAAA", encodeCursor(make([]byte, 21)), strings.Repeat("A", 5000)} {
		if _, err := db.Timeline(ctx, c2.ID, core.TimelineQuery{Cursor: cur}); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("cursor %.20q: %v", cur, err)
		}
	}
	if _, err := db.Timeline(ctx, c2.ID, core.TimelineQuery{Limit: -1}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("limit -1: %v", err)
	}
}

func TestScanInteractions(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	c := newCustomer(t, db, "c")
	var batch []core.Interaction
	// Out of order, spanning centuries (UnixNano could not hold 1900 or 9999).
	times := []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), t0.Add(time.Hour), t0,
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), t0.Add(time.Nanosecond), t0.Add(2 * time.Hour),
	}
	for _, at := range times {
		batch = append(batch, core.Interaction{CustomerID: c.ID, Type: "session", Time: at})
	}
	// Enough to span several scan chunks.
	for i := range 2500 {
		batch = append(batch, core.Interaction{CustomerID: c.ID, Type: "page_view", Time: t0.Add(time.Duration(i) * time.Second)})
	}
	if _, err := db.AppendInteractions(ctx, batch); err != nil {
		t.Fatal(err)
	}
	count := func(from, to time.Time, typ core.InteractionType) (n int) {
		var prev time.Time
		err := db.ScanInteractions(ctx, from, to, func(in core.Interaction) error {
			if in.Time.Before(prev) {
				t.Errorf("out of order: %v before %v", in.Time, prev)
			}
			if (!from.IsZero() && in.Time.Before(from)) || (!to.IsZero() && !in.Time.Before(to)) {
				t.Errorf("%v outside [%v, %v)", in.Time, from, to)
			}
			prev = in.Time
			if typ == "" || in.Type == typ {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		typ      core.InteractionType
		want     int
	}{
		{"unbounded", time.Time{}, time.Time{}, "", 2506},
		{"from inclusive", t0, time.Time{}, "session", 5},
		{"to exclusive", time.Time{}, t0, "session", 1},
		{"nanosecond window", t0, t0.Add(time.Nanosecond), "session", 1},
		{"hour", t0, t0.Add(time.Hour), "session", 2},
		{"empty", t0.Add(time.Hour), t0.Add(time.Hour), "", 0},
		{"far future", time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := count(tc.from, tc.to, tc.typ); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	if err := db.ScanInteractions(ctx, time.Time{}, time.Time{}, func(core.Interaction) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("callback error: %v after %d", err, n)
	}
	var all int
	if err := db.ScanAllInteractions(ctx, func(core.Interaction) error { all++; return nil }); err != nil || all != 2506 {
		t.Errorf("scan all: %d %v", all, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.ScanInteractions(cctx, time.Time{}, time.Time{}, func(core.Interaction) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestEraseCustomer(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	keep := newCustomer(t, db, "keep", "vip")
	gone := newCustomer(t, db, "gone", "vip")
	if _, err := db.UpdateCustomer(ctx, gone.ID, func(c *core.Customer) error { c.Phones = []string{"+48600100200"}; return nil }); err != nil {
		t.Fatal(err)
	}
	var batch []core.Interaction
	for i := range 20 {
		batch = append(batch, purchase(gone.ID, t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("g%d", i)))
		batch = append(batch, purchase(keep.ID, t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("k%d", i)))
	}
	res, err := db.AppendInteractions(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := db.LastChange(ctx)
	if err := db.EraseCustomer(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, db)

	if _, err := db.GetCustomer(ctx, gone.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("customer still there: %v", err)
	}
	for _, f := range []func() (int, error){
		func() (int, error) { c, err := db.FindCustomersByEmail(ctx, "gone@example.com"); return len(c), err },
		func() (int, error) { c, err := db.FindCustomersByPhone(ctx, "+48600100200"); return len(c), err },
		func() (int, error) {
			p, err := db.Timeline(ctx, gone.ID, core.TimelineQuery{})
			return len(p.Items), err
		},
		func() (int, error) {
			p, err := db.ListCustomers(ctx, core.CustomerQuery{Tag: "vip"})
			return len(p.Items) - 1, err
		},
		func() (int, error) {
			_, err := db.GetCustomerByExternalID(ctx, "gone")
			return 0, ignore(err, core.ErrNotFound)
		},
		func() (int, error) { return db.CountInteractions(ctx) },
		func() (int, error) { n, err := db.CountCustomers(ctx); return n - 1, err },
	} {
		if n, err := f(); err != nil || n != 0 && n != 20 {
			t.Errorf("left behind: %d %v", n, err)
		}
	}
	if n, _ := db.CountInteractions(ctx); n != 20 {
		t.Errorf("interactions left = %d, want 20", n)
	}
	var scanned int
	_ = db.ScanInteractions(ctx, time.Time{}, time.Time{}, func(in core.Interaction) error {
		if in.CustomerID == gone.ID {
			t.Errorf("scan still sees %d", in.ID)
		}
		scanned++
		return nil
	})
	if scanned != 20 {
		t.Errorf("scanned %d", scanned)
	}
	chs, err := db.Changes(ctx, before, 1000)
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[core.EntityKind]int{}
	for _, ch := range chs {
		if !ch.Deleted {
			t.Errorf("non-deletion logged: %+v", ch)
		}
		deleted[ch.Kind]++
		if ch.Kind == core.KindInteraction && ch.CustomerID != gone.ID {
			t.Errorf("interaction change names customer %d", ch.CustomerID)
		}
	}
	if deleted[core.KindCustomer] != 1 || deleted[core.KindInteraction] != 20 {
		t.Errorf("deletions logged: %v", deleted)
	}
	// The erased idempotency keys are free again: a re-created customer's
	// history can be re-imported.
	again := newCustomer(t, db, "gone")
	r, err := db.AppendInteractions(ctx, []core.Interaction{purchase(again.ID, t0, "g0"), purchase(keep.ID, t0, "k0")})
	if err != nil || r[0].Duplicate || !r[1].Duplicate || r[1].ID != res[1].ID {
		t.Errorf("after erase: %v %v", r, err)
	}
	mustCheck(t, db)
}

func ignore(err, kind error) error {
	if errors.Is(err, kind) {
		return nil
	}
	if err == nil {
		return errors.New("expected an error")
	}
	return err
}

func TestChangeLog(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if n, err := db.LastChange(ctx); err != nil || n != 0 {
		t.Fatalf("empty log: %d %v", n, err)
	}
	c := newCustomer(t, db, "c")
	if _, err := db.AppendInteractions(ctx, []core.Interaction{purchase(c.ID, t0, "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateCustomer(ctx, c.ID, func(c *core.Customer) error { c.Name = "N"; return nil }); err != nil {
		t.Fatal(err)
	}
	chs, err := db.Changes(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []core.Change{
		{Seq: 1, Kind: core.KindCustomer, ID: c.ID},
		{Seq: 2, Kind: core.KindInteraction, ID: 1, CustomerID: c.ID},
		{Seq: 3, Kind: core.KindCustomer, ID: c.ID}, // first/last seen moved
		{Seq: 4, Kind: core.KindCustomer, ID: c.ID},
	}
	if !slices.Equal(chs, want) {
		t.Errorf("changes = %+v", chs)
	}
	if chs, _ := db.Changes(ctx, 2, 1); len(chs) != 1 || chs[0].Seq != 3 {
		t.Errorf("after 2 limit 1 = %+v", chs)
	}
	if _, err := db.Changes(ctx, 0, 0); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("limit 0: %v", err)
	}
	// Records hold a transaction's changes: trimming up to 2 keeps the
	// record 2..3, and Changes still starts after what was asked.
	if err := db.TrimChanges(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if chs, _ := db.Changes(ctx, 2, 10); len(chs) != 2 || chs[0].Seq != 3 {
		t.Errorf("after trim to 2 = %+v", chs)
	}
	if chs, _ := db.Changes(ctx, 0, 10); len(chs) != 3 || chs[0].Seq != 2 {
		t.Errorf("from 0 after trim to 2 = %+v", chs)
	}
	if err := db.TrimChanges(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if chs, _ := db.Changes(ctx, 0, 10); len(chs) != 1 || chs[0].Seq != 4 {
		t.Errorf("after trim = %+v", chs)
	}
	if err := db.TrimChanges(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.LastChange(ctx); n != 4 {
		t.Errorf("last change after full trim = %d, want 4", n)
	}
	got, _ := db.GetCustomers(ctx, []core.ID{c.ID, 999})
	gotI, _ := db.GetInteractions(ctx, []core.ID{1, 999})
	if len(got) != 1 || len(gotI) != 1 {
		t.Errorf("get many: %d %d", len(got), len(gotI))
	}
	var scanned int
	if err := db.ScanCustomers(ctx, func(core.Customer) error { scanned++; return nil }); err != nil || scanned != 1 {
		t.Errorf("scan customers: %d %v", scanned, err)
	}
}

func TestUsersTokensImportJobs(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	u, err := db.CreateUser(ctx, core.User{Email: "ann@example.com", Name: "Ann", Role: core.RoleAdmin, PasswordHash: "$argon2id$x", CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, core.User{Email: "ann@example.com"}); !errors.Is(err, core.ErrConflict) {
		t.Errorf("duplicate email: %v", err)
	}
	u2, err := db.CreateUser(ctx, core.User{Email: "bob@example.com", Role: core.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetUserByEmail(ctx, "ann@example.com")
	if err != nil || got.PasswordHash != "$argon2id$x" || got.ID != u.ID {
		t.Errorf("by email: %+v %v", got, err)
	}
	if _, err := db.UpdateUser(ctx, u2.ID, func(x *core.User) error { x.Email = "ann@example.com"; return nil }); !errors.Is(err, core.ErrConflict) {
		t.Errorf("update to taken email: %v", err)
	}
	if _, err := db.UpdateUser(ctx, u2.ID, func(x *core.User) error { x.Email = "robert@example.com"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetUserByEmail(ctx, "bob@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("old email: %v", err)
	}
	if _, err := db.GetUser(ctx, 99); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("missing user: %v", err)
	}
	if n, _ := db.CountUsers(ctx); n != 2 {
		t.Errorf("count users = %d", n)
	}
	if us, _ := db.ListUsers(ctx); len(us) != 2 || us[1].Email != "robert@example.com" {
		t.Errorf("list users = %+v", us)
	}

	hash := bytes.Repeat([]byte{7}, 32)
	tok, err := db.CreateToken(ctx, core.Token{Name: "ci", Hash: hash, Scopes: []core.Scope{core.ScopeSearch}, CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, core.Token{Hash: hash}); !errors.Is(err, core.ErrConflict) {
		t.Errorf("duplicate hash: %v", err)
	}
	if _, err := db.CreateToken(ctx, core.Token{}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("no hash: %v", err)
	}
	gt, err := db.GetTokenByHash(ctx, hash)
	if err != nil || gt.ID != tok.ID || !bytes.Equal(gt.Hash, hash) {
		t.Errorf("by hash: %+v %v", gt, err)
	}
	for _, h := range [][]byte{nil, {1}} {
		if _, err := db.GetTokenByHash(ctx, h); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("hash %x: %v", h, err)
		}
	}
	if _, err := db.UpdateToken(ctx, tok.ID, func(x *core.Token) error { x.RevokedAt = t0; x.Hash = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if ts, _ := db.ListTokens(ctx); len(ts) != 1 || ts[0].RevokedAt.IsZero() || !bytes.Equal(ts[0].Hash, hash) {
		t.Errorf("tokens = %+v", ts)
	}

	for i := range 3 {
		if _, err := db.CreateImportJob(ctx, core.ImportJob{Kind: core.ImportCustomers, FileName: fmt.Sprint(i), FilePath: "/data/" + fmt.Sprint(i), State: core.ImportQueued}); err != nil {
			t.Fatal(err)
		}
	}
	j, err := db.UpdateImportJob(ctx, 2, func(j *core.ImportJob) error {
		j.State, j.Rows = core.ImportDone, 10
		j.Errors = append(j.Errors, core.RowError{Line: 3, Reason: "bad"})
		return nil
	})
	if err != nil || j.State != core.ImportDone {
		t.Fatal(j, err)
	}
	jobs, err := db.ListImportJobs(ctx, 2)
	if err != nil || len(jobs) != 2 || jobs[0].ID != 3 || jobs[1].Rows != 10 || jobs[1].FilePath != "/data/1" || len(jobs[1].Errors) != 1 {
		t.Errorf("jobs = %+v %v", jobs, err)
	}
	if _, err := db.GetImportJob(ctx, 9); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("missing job: %v", err)
	}
	mustCheck(t, db)
}

func TestCheckFindsBrokenIndexes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	c := newCustomer(t, db, "c", "vip")
	if _, err := db.AppendInteractions(ctx, []core.Interaction{purchase(c.ID, t0, "k")}); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, db)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		_ = tx.Bucket(bTimeline.name).Delete(timelineKey(c.ID, t0, 1))         // entity without entry
		_ = tx.Bucket(bCustTag.name).Put(valueKey("ghost", c.ID), nil)         // entry the entity lacks
		_ = tx.Bucket(bIdempotency.name).Put([]byte("orphan"), idKey(99))      // entry without entity
		return tx.Bucket(bCustExternal.name).Put([]byte("other"), idKey(c.ID)) // wrong value
	})
	if err != nil {
		t.Fatal(err)
	}
	errs := db.Check(ctx)
	if len(errs) != 4 {
		t.Errorf("check found %d problems, want 4: %v", len(errs), errs)
	}
}

func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t)
	c := newCustomer(t, db, "c", "vip")
	if _, err := db.AppendInteractions(ctx, []core.Interaction{purchase(c.ID, t0, "k")}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Backup(ctx, f)
	f.Close()
	if err != nil || n == 0 {
		t.Fatal(n, err)
	}
	// Writes after the backup are not in it.
	newCustomer(t, db, "later")

	target := filepath.Join(dir, "data", "retain.db")
	if err := Restore(ctx, backup, target); err != nil {
		t.Fatal(err)
	}
	rdb, err := Open(ctx, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.CountCustomers(ctx); n != 1 {
		t.Errorf("restored customers = %d", n)
	}
	if p, _ := rdb.Timeline(ctx, c.ID, core.TimelineQuery{}); len(p.Items) != 1 || p.Items[0].IdempotencyKey != "k" {
		t.Errorf("restored timeline = %+v", p)
	}
	mustCheck(t, rdb)

	// Refused while a process holds the target.
	if err := Restore(ctx, backup, target); !errors.Is(err, ErrLocked) {
		t.Errorf("restore over open db: %v", err)
	}
	rdb.Close()
	if err := Restore(ctx, backup, target); err != nil { // over a closed one: fine
		t.Errorf("restore over closed db: %v", err)
	}

	// Bad backups never replace anything.
	garbage := filepath.Join(dir, "garbage")
	_ = os.WriteFile(garbage, bytes.Repeat([]byte{0xde, 0xad}, 10000), 0o600)
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	truncated := filepath.Join(dir, "truncated")
	whole, _ := os.ReadFile(backup)
	_ = os.WriteFile(truncated, whole[:len(whole)/3], 0o600)
	foreign := filepath.Join(dir, "foreign.db")
	fdb, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = fdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other app")); return err })
	fdb.Close()
	newer := filepath.Join(dir, "newer.db")
	_ = os.WriteFile(newer, whole, 0o600)
	ndb, _ := bolt.Open(newer, 0o600, nil)
	_ = ndb.Update(func(tx *bolt.Tx) error {
		return putUint(tx.Bucket(bMeta.name), metaSchemaVersion, uint64(SchemaVersion()+1))
	})
	ndb.Close()
	for name, file := range map[string]string{"garbage": garbage, "empty": empty, "truncated": truncated,
		"foreign bbolt": foreign, "newer schema": newer, "directory": dir} {
		t.Run(name, func(t *testing.T) {
			err := Restore(ctx, file, target)
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("restore %s: %v", name, err)
			}
		})
	}
	if err := Restore(ctx, filepath.Join(dir, "missing"), target); err == nil {
		t.Error("restore of a missing file succeeded")
	}
	rdb, err = Open(ctx, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	mustCheck(t, rdb)
	entries, _ := os.ReadDir(filepath.Dir(target))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestConcurrentReadersAndWriter runs under -race in CI: readers page
// timelines and scan while a writer appends and erases.
func TestConcurrentReadersAndWriter(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var ids []core.ID
	for i := range 20 {
		ids = append(ids, newCustomer(t, db, fmt.Sprint(i)).ID)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for round := range 30 {
			var batch []core.Interaction
			for i, id := range ids {
				if i == 0 && round > 15 {
					continue // erased
				}
				batch = append(batch, purchase(id, t0.Add(time.Duration(round*100+i)*time.Minute), fmt.Sprintf("%d-%d", round, i)))
			}
			if _, err := db.AppendInteractions(ctx, batch); err != nil {
				t.Error(err)
				return
			}
			if round == 15 {
				if err := db.EraseCustomer(ctx, ids[0]); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := db.Timeline(ctx, ids[1+r], core.TimelineQuery{Limit: 10}); err != nil {
					t.Error(err)
					return
				}
				if _, err := db.Changes(ctx, 0, 100); err != nil {
					t.Error(err)
					return
				}
				_ = db.ScanInteractions(ctx, t0, t0.Add(time.Hour), func(core.Interaction) error { return nil })
			}
		}()
	}
	wg.Wait()
	mustCheck(t, db)
}

// TestMigrateTimeIndex builds a schema-1 database (time index keyed by the
// exact time, time(12)|id → empty, written here as the old code did) and
// checks that Open rebuilds the index by day and scans still come in time
// order with ties by ID.
func TestMigrateTimeIndex(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c := newCustomer(t, db, "c")
	var batch []core.Interaction
	times := []time.Time{
		t0, t0.Add(-time.Nanosecond), t0.Add(48 * time.Hour), t0, // a tie with the first
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for i := range 3000 { // several scan chunks within one day
		times = append(times, t0.Add(time.Duration(i*7919%3000)*time.Second))
	}
	for _, at := range times {
		batch = append(batch, core.Interaction{CustomerID: c.ID, Type: "note", Time: at})
	}
	if _, err := db.AppendInteractions(ctx, batch); err != nil {
		t.Fatal(err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bInterTime.name); err != nil {
			return err
		}
		tm, err := tx.CreateBucket(bInterTime.name)
		if err != nil {
			return err
		}
		err = tx.Bucket(bInteractions.name).ForEach(func(k, v []byte) error {
			in, err := decodeInteraction(keyID(k), v)
			if err != nil {
				return err
			}
			return tm.Put(append(appendTime(nil, in.Time), k...), nil)
		})
		if err != nil {
			return err
		}
		return putUint(tx.Bucket(bMeta.name), metaSchemaVersion, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs := db.Check(ctx); len(errs) == 0 {
		t.Error("check passes the old layout under the new schema")
	}
	db.Close()

	db, err = Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if st, _ := db.Stats(ctx); st.SchemaVersion != SchemaVersion() {
		t.Errorf("schema version %d after open, want %d", st.SchemaVersion, SchemaVersion())
	}
	mustCheck(t, db)
	var got []core.Interaction
	if err := db.ScanInteractions(ctx, time.Time{}, time.Time{}, func(in core.Interaction) error {
		got = append(got, in)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(times) {
		t.Fatalf("scanned %d, want %d", len(got), len(times))
	}
	sorted := slices.IsSortedFunc(got, func(a, b core.Interaction) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if !sorted {
		t.Error("scan after migration is not in (time, id) order")
	}
	// New appends after the migration go into the new layout.
	if _, err := db.AppendInteractions(ctx, []core.Interaction{{CustomerID: c.ID, Type: "note", Time: t0}}); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, db)
	n := 0
	if err := db.ScanInteractions(ctx, t0, t0.Add(time.Nanosecond), func(core.Interaction) error { n++; return nil }); err != nil || n != 4 {
		t.Errorf("scan of t0: %d %v, want 4 (three at t0 and one at t0+0s from the loop)", n, err)
	}
}

func TestTimeBucketOrder(t *testing.T) {
	day := 24 * time.Hour
	epoch := time.Unix(0, 0).UTC()
	for _, tc := range []struct {
		name string
		a, b time.Time
		cmp  int
	}{
		{"same day", t0, t0.Add(time.Hour), 0},
		{"next day", t0, t0.Add(day), -1},
		{"epoch", epoch.Add(-time.Nanosecond), epoch, -1},
		{"day before epoch", epoch.Add(-day), epoch.Add(-time.Second), 0},
		{"two days before epoch", epoch.Add(-day - time.Second), epoch.Add(-day), -1},
		{"1900 and 9999", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), -1},
		{"clamped far past", time.Date(-9_000_000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-8_000_000, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"clamped far future", time.Date(9_000_000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(8_000_000, 1, 1, 0, 0, 0, 0, time.UTC), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bytes.Compare(appendTimeBucket(nil, tc.a), appendTimeBucket(nil, tc.b)); got != tc.cmp {
				t.Errorf("compare = %d, want %d", got, tc.cmp)
			}
		})
	}
}
