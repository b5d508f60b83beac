package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

func auditEntry(actor, action string) core.AuditEntry {
	return core.AuditEntry{At: t0, ActorKind: "user", ActorID: 1, Actor: actor, Action: action, Target: "customer 7", IP: "192.0.2.1", Status: 200}
}

// listAll follows Next until the end and returns every id seen plus the
// number of pages it took.
func listAll(t *testing.T, db *DB, q core.AuditQuery) (ids []core.ID, pages int) {
	t.Helper()
	for {
		p, err := db.ListAudit(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range p.Items {
			ids = append(ids, e.ID)
		}
		if p.Next == "" {
			return ids, pages
		}
		before, err := core.ParseID(p.Next)
		if err != nil || (q.Before != 0 && before >= q.Before) {
			t.Fatalf("next %q does not go back from %d", p.Next, q.Before)
		}
		q.Before = before
		if pages > 10_000 {
			t.Fatal("paging does not end")
		}
	}
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	before, _ := db.LastChange(ctx)
	actors := []string{"ann@example.com", "bob@example.com", "import-token"}
	actions := []string{"patchCustomer", "createNote", "user add"}
	const n = 120
	for i := range n {
		e := auditEntry(actors[i%3], actions[i%2])
		e.At = t0.Add(time.Duration(i) * time.Second)
		e.Detail = fmt.Sprint("entry ", i)
		got, err := db.AppendAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != core.ID(i+1) {
			t.Fatalf("entry %d got id %d, want increasing from 1", i, got.ID)
		}
	}
	if after, _ := db.LastChange(ctx); after != before {
		t.Errorf("audit wrote to the change log: %d → %d", before, after)
	}

	p, err := db.ListAudit(ctx, core.AuditQuery{})
	if err != nil || len(p.Items) != 50 || p.Items[0].ID != n || p.Items[49].ID != n-49 || p.Next != strconv.Itoa(n-49) {
		t.Fatalf("first page: %d items, next %q, %v", len(p.Items), p.Next, err)
	}
	first := p.Items[0]
	if first.Actor != actors[(n-1)%3] || first.Detail != fmt.Sprint("entry ", n-1) || !first.At.Equal(t0.Add((n-1)*time.Second)) ||
		first.ActorKind != "user" || first.Status != 200 || first.Target != "customer 7" {
		t.Errorf("newest entry = %+v", first)
	}

	tests := []struct {
		name      string
		q         core.AuditQuery
		wantIDs   int
		wantPages int
		keep      func(id core.ID) bool // which ids (1..n) should be listed
	}{
		{"all by 50", core.AuditQuery{}, n, 3, func(core.ID) bool { return true }},
		{"all by 500", core.AuditQuery{Limit: 500}, n, 1, func(core.ID) bool { return true }},
		{"exact pages", core.AuditQuery{Limit: 40}, n, 3, func(core.ID) bool { return true }},
		{"by 7", core.AuditQuery{Limit: 7}, n, 18, func(core.ID) bool { return true }},
		{"before the middle", core.AuditQuery{Before: 61, Limit: 25}, 60, 3, func(id core.ID) bool { return id < 61 }},
		{"before past the end", core.AuditQuery{Before: 1 << 40}, n, 3, func(core.ID) bool { return true }},
		{"before the first", core.AuditQuery{Before: 1}, 0, 1, func(core.ID) bool { return false }},
		{"actor", core.AuditQuery{Actor: "bob@example.com", Limit: 15}, n / 3, 3, func(id core.ID) bool { return (id-1)%3 == 1 }},
		{"action", core.AuditQuery{Action: "createNote"}, n / 2, 2, func(id core.ID) bool { return (id-1)%2 == 1 }},
		{"actor and action", core.AuditQuery{Actor: "ann@example.com", Action: "patchCustomer"}, n / 6, 1, func(id core.ID) bool { return (id-1)%6 == 0 }},
		{"no match", core.AuditQuery{Actor: "nobody"}, 0, 1, func(core.ID) bool { return false }},
		{"filter is exact, not prefix", core.AuditQuery{Actor: "ann"}, 0, 1, func(core.ID) bool { return false }},
		{"filter is case-sensitive", core.AuditQuery{Action: "PATCHCUSTOMER"}, 0, 1, func(core.ID) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, pages := listAll(t, db, tt.q)
			if len(ids) != tt.wantIDs || pages != tt.wantPages {
				t.Errorf("%d ids in %d pages, want %d in %d", len(ids), pages, tt.wantIDs, tt.wantPages)
			}
			var want []core.ID
			for id := core.ID(n); id >= 1; id-- {
				if tt.keep(id) {
					want = append(want, id)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Errorf("ids = %v\nwant %v", ids, want)
			}
		})
	}

	for _, l := range []int{-1, 501, 1 << 30} {
		if _, err := db.ListAudit(ctx, core.AuditQuery{Limit: l}); !errors.Is(err, core.ErrInvalid) || core.ErrorField(err) != "limit" {
			t.Errorf("limit %d: %v", l, err)
		}
	}
	mustCheck(t, db)
}

func TestAuditEmpty(t *testing.T) {
	db := openTest(t)
	p, err := db.ListAudit(context.Background(), core.AuditQuery{Actor: "x"})
	if err != nil || p.Items == nil || len(p.Items) != 0 || p.Next != "" {
		t.Errorf("empty log = %#v %v (items should be [] for JSON, not null)", p, err)
	}
}

// TestAuditScanBound checks that a filter matching only old entries does not
// walk the whole log in one request: each page examines at most
// auditMaxScan entries and hands back a Next to continue from.
func TestAuditScanBound(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	total := auditMaxScan*2 + 500
	// One transaction for speed; appendAudit is what AppendAudit runs.
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		for i := range total {
			e := auditEntry("ann@example.com", "viewCustomer")
			if i < 3 {
				e.Actor = "needle@example.com"
			}
			if err := appendAudit(tx, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	q := core.AuditQuery{Actor: "needle@example.com"}
	p, err := db.ListAudit(ctx, q)
	if err != nil || len(p.Items) != 0 || p.Next != strconv.Itoa(total-auditMaxScan+1) {
		t.Fatalf("first page: %d items, next %q, %v; want none and next %d", len(p.Items), p.Next, err, total-auditMaxScan+1)
	}
	ids, pages := listAll(t, db, q)
	if fmt.Sprint(ids) != "[3 2 1]" || pages != 3 {
		t.Errorf("needles = %v in %d pages, want [3 2 1] in 3", ids, pages)
	}
	// Without a filter the bound never bites before the limit does.
	if p, _ := db.ListAudit(ctx, core.AuditQuery{Limit: 500}); len(p.Items) != 500 {
		t.Errorf("unfiltered page = %d items", len(p.Items))
	}
}

func TestAppendAuditRefusesHostileInput(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	tests := []struct {
		name  string
		field string
		edit  func(*core.AuditEntry)
	}{
		{"no time", "at", func(e *core.AuditEntry) { e.At = time.Time{} }},
		{"no actor kind", "actor_kind", func(e *core.AuditEntry) { e.ActorKind = "" }},
		{"unknown actor kind", "actor_kind", func(e *core.AuditEntry) { e.ActorKind = "root" }},
		{"no action", "action", func(e *core.AuditEntry) { e.Action = "" }},
		{"huge detail", "detail", func(e *core.AuditEntry) { e.Detail = strings.Repeat("x", maxAuditDetail+1) }},
		{"huge target", "target", func(e *core.AuditEntry) { e.Target = strings.Repeat("x", 10<<20) }},
		{"huge actor", "actor", func(e *core.AuditEntry) { e.Actor = strings.Repeat("x", maxShortField+1) }},
		{"invalid UTF-8 detail", "detail", func(e *core.AuditEntry) { e.Detail = "name: \xff\xfe → x" }},
		{"truncated UTF-8 target", "target", func(e *core.AuditEntry) { e.Target = "caf\xc3" }},
		{"invalid UTF-8 ip", "ip", func(e *core.AuditEntry) { e.IP = "\x80" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := auditEntry("ann@example.com", "patchCustomer")
			tt.edit(&e)
			_, err := db.AppendAudit(ctx, e)
			if !errors.Is(err, core.ErrInvalid) || core.ErrorField(err) != tt.field {
				t.Errorf("err = %v (field %q), want invalid %s", err, core.ErrorField(err), tt.field)
			}
		})
	}
	if p, _ := db.ListAudit(ctx, core.AuditQuery{}); len(p.Items) != 0 {
		t.Errorf("refused entries were stored: %+v", p.Items)
	}

	// Valid but awkward text is stored and returned byte for byte.
	e := auditEntry("\x00ann\u2028@example.com", `"}]<script>`)
	e.Detail = strings.Repeat("ü", maxAuditDetail/2) // exactly the limit
	e.Target = "😀\t\r\n\\"
	e.ActorKind, e.ActorID = "system", 0
	got, err := db.AppendAudit(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.ListAudit(ctx, core.AuditQuery{Actor: e.Actor, Action: e.Action})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("filter on awkward values: %+v %v", p, err)
	}
	r := p.Items[0]
	if r.ID != got.ID || r.Actor != e.Actor || r.Action != e.Action || r.Detail != e.Detail || r.Target != e.Target || r.ActorKind != "system" {
		t.Errorf("round trip changed the entry: %q %q %q", r.Actor, r.Action, r.Target)
	}

	// Text that spells out another field does not pass that field's filter.
	m := auditEntry("mallory", "x")
	m.Detail, m.Target = `"actor":"victim"`, `","actor":"victim`
	if _, err := db.AppendAudit(ctx, m); err != nil {
		t.Fatal(err)
	}
	if p, err := db.ListAudit(ctx, core.AuditQuery{Actor: "victim"}); err != nil || len(p.Items) != 0 {
		t.Errorf("filter matched text in another field: %+v %v", p.Items, err)
	}
	mustCheck(t, db)
}

func TestCheckFindsCorruptAudit(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if _, err := db.AppendAudit(ctx, auditEntry("a", "b")); err != nil {
		t.Fatal(err)
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit.name)
		_ = b.Put(idKey(1), []byte("{not json"))
		return b.Put([]byte("short"), []byte("{}"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs := db.Check(ctx); len(errs) != 2 {
		t.Errorf("check found %d problems, want 2: %v", len(errs), errs)
	}
}

// FuzzAuditRoundTrip: whatever AppendAudit accepts, ListAudit returns
// unchanged; whatever it refuses is ErrInvalid.
func FuzzAuditRoundTrip(f *testing.F) {
	f.Add("ann@example.com", "patchCustomer", "customer 7", "changed name")
	f.Add("", "", "", "")
	f.Add("\xff", "a\x00b", "\u2028", "\xc3")
	db := openTest(f)
	f.Fuzz(func(t *testing.T, actor, action, target, detail string) {
		e := core.AuditEntry{At: t0, ActorKind: "token", Actor: actor, Action: action, Target: target, Detail: detail}
		got, err := db.AppendAudit(context.Background(), e)
		if err != nil {
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("refused with %v, want ErrInvalid", err)
			}
			return
		}
		p, err := db.ListAudit(context.Background(), core.AuditQuery{Limit: 1})
		if err != nil || len(p.Items) != 1 {
			t.Fatal(p, err)
		}
		r := p.Items[0]
		if r.ID != got.ID || r.Actor != actor || r.Action != action || r.Target != target || r.Detail != detail || !r.At.Equal(t0) {
			t.Errorf("round trip: %+v, want %+v", r, e)
		}
	})
}

func BenchmarkAppendAudit(b *testing.B) {
	db := openTest(b)
	e := auditEntry("ann@example.com", "patchCustomer")
	for b.Loop() {
		if _, err := db.AppendAudit(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListAuditFilteredWorstCase is one page of a filter that matches
// nothing: the full auditMaxScan entries are examined.
func BenchmarkListAuditFilteredWorstCase(b *testing.B) {
	db := openTest(b)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		for range auditMaxScan + 1 {
			e := auditEntry("ann@example.com", "viewCustomer")
			if err := appendAudit(tx, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if p, err := db.ListAudit(context.Background(), core.AuditQuery{Actor: "nobody"}); err != nil || p.Next == "" {
			b.Fatal(p, err)
		}
	}
}
