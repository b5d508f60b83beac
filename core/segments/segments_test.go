package segments_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/segments"
	"github.com/retain-crm/retain/store"
)

// storeFacts computes a customer's behaviour facts straight from the
// store's timeline, the slow and obvious way. It stands in for the
// analytics engine (whose bodies are being written in parallel; mocks are
// allowed only where no real part can run) and doubles as the brute-force
// side of the property test.
type storeFacts struct {
	st   *store.DB
	now  func() time.Time
	mu   sync.Mutex
	subs []func([]core.ID)
}

func (s *storeFacts) Facts(id core.ID) (analytics.Facts, bool) {
	var all []core.Interaction
	cursor := ""
	for {
		p, err := s.st.Timeline(context.Background(), id, core.TimelineQuery{Cursor: cursor, Limit: 1000})
		if err != nil {
			return analytics.Facts{}, false
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(all) == 0 {
		return analytics.Facts{}, false
	}
	f := analytics.Facts{CustomerID: id, PAlive: -1, CLV: -1}
	for _, in := range all {
		if in.Type == core.TypePurchase {
			f.Orders++
			f.Revenue += in.Amount
			if f.FirstPurchase.IsZero() || in.Time.Before(f.FirstPurchase) {
				f.FirstPurchase = in.Time
			}
			if in.Time.After(f.LastPurchase) {
				f.LastPurchase = in.Time
			}
		}
	}
	if f.Orders > 0 {
		// A stand-in "model" so that p_alive rules are exercised too.
		f.PAlive = 1 / float64(1+f.Orders)
		f.CLV = float64(f.Revenue)
	}
	now := s.now()
	f.Count = func(t core.InteractionType, days int) (int, int64) {
		n, sum := 0, int64(0)
		for _, in := range all {
			if (t == "" || in.Type == t) && (days == 0 || !in.Time.Before(now.AddDate(0, 0, -days))) {
				n++
				sum += in.Amount
			}
		}
		return n, sum
	}
	return f, true
}

func (s *storeFacts) Subscribe(fn func([]core.ID)) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

func (s *storeFacts) Status() analytics.Status { return analytics.Status{Ready: true} }

func (s *storeFacts) notify(ids []core.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fn := range s.subs {
		fn(ids)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t testing.TB) *store.DB {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "retain.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rule(t testing.TB, s string) core.Rule {
	t.Helper()
	r, err := core.ParseRule([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return r
}

var testRules = []string{
	`{"tag":"vip"}`,
	`{"not":{"tag":"vip"}}`,
	`{"event":{"type":"purchase","within_days":90,"op":"gte","value":2}}`,
	`{"event":{"type":"session","within_days":14,"op":"eq","value":0}}`,
	`{"all":[{"consent":"email"},{"any":[{"attribute":{"key":"plan","op":"eq","value":"gold"}},{"field":{"name":"country","op":"eq","value":"pl"}}]}]}`,
	`{"event":{"type":"purchase","measure":"sum","op":"gt","value":5000}}`,
	`{"all":[{"p_alive":{"op":"lt","value":0.4}},{"not":{"attribute":{"key":"age","op":"lt","value":30}}}]}`,
	`{"field":{"name":"created_at","op":"within_days","days":20}}`,
	`{"first_purchase":{"from":"2025-01-05","to":"2025-02-20"}}`,
}

// TestMembershipEqualsBruteForce is the property test: after a
// random stream of appends, tag edits, erasures, new customers, rule edits
// and time passing, each segment's membership (in memory and in the store)
// equals a brute-force evaluation of its rule over all customers.
func TestMembershipEqualsBruteForce(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { propertyRun(t, seed) })
	}
}

func propertyRun(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	db := openStore(t)
	clk := &clock{t: time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)}
	facts := &storeFacts{st: db, now: clk.now}
	tags := []string{"vip", "b2b", "new"}
	var ids []core.ID
	newCustomer := func() {
		c := core.Customer{ExternalID: fmt.Sprintf("c%d", rng.Int64()), CreatedAt: clk.now(),
			Attributes: map[string]any{}, Consent: map[core.Channel]core.Consent{}}
		if rng.IntN(2) == 0 {
			c.Tags = []string{tags[rng.IntN(len(tags))]}
		}
		if rng.IntN(2) == 0 {
			c.Attributes["plan"] = []string{"gold", "Gold", "silver"}[rng.IntN(3)]
		}
		if rng.IntN(2) == 0 {
			c.Attributes["age"] = float64(18 + rng.IntN(50))
		}
		c.Consent[core.ChannelEmail] = core.Consent{Granted: rng.IntN(2) == 0, At: clk.now()}
		c.Address.Country = []string{"PL", "DE", ""}[rng.IntN(3)]
		c, err := db.CreateCustomer(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	for range 40 {
		newCustomer()
	}
	m := segments.New(db, facts, segments.Options{Now: clk.now, WriteBatch: 7})
	var segIDs []core.ID
	for i, r := range testRules {
		s, err := m.Create(ctx, core.Segment{Name: fmt.Sprint("s", i), Rule: rule(t, r)})
		if err != nil {
			t.Fatal(err)
		}
		segIDs = append(segIDs, s.ID)
	}
	if err := m.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(step int) {
		t.Helper()
		if err := m.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		want := map[core.ID][]core.ID{}
		segs, _ := db.ListSegments(ctx)
		err := db.ScanCustomers(ctx, func(c core.Customer) error {
			f := toSegmentFacts(facts, c.ID, clk.now())
			for _, s := range segs {
				if s.Rule.Match(&c, &f) {
					want[s.ID] = append(want[s.ID], c.ID)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			var stored []core.ID
			_ = db.ScanSegmentMembers(ctx, s.ID, func(id core.ID) error { stored = append(stored, id); return nil })
			if !slices.Equal(stored, want[s.ID]) {
				t.Fatalf("step %d, segment %s %s: stored %v, brute force %v", step, s.Name, ruleJSON(s.Rule), stored, want[s.ID])
			}
			filter, err := m.Filter(s.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if filter(id) != slices.Contains(want[s.ID], id) {
					t.Fatalf("step %d, segment %s: filter(%d) wrong", step, s.Name, id)
				}
			}
			got, _ := m.Get(ctx, s.ID)
			if got.Count != len(want[s.ID]) {
				t.Fatalf("step %d, segment %s: count %d, want %d", step, s.Name, got.Count, len(want[s.ID]))
			}
			pv, err := m.Preview(ctx, s.Rule, 3)
			if err != nil || pv.Count != len(want[s.ID]) {
				t.Fatalf("step %d, segment %s: preview %+v %v, want %d", step, s.Name, pv, err, len(want[s.ID]))
			}
		}
		if errs := db.Check(ctx); len(errs) > 0 {
			t.Fatalf("store check: %v", errs)
		}
	}
	check(0)
	live := func() core.ID { return ids[rng.IntN(len(ids))] }
	for step := 1; step <= 150; step++ {
		switch op := rng.IntN(10); {
		case op < 4: // interactions
			id := live()
			typ := core.TypePurchase
			if rng.IntN(2) == 0 {
				typ = core.TypeSession
			}
			in := core.Interaction{CustomerID: id, Type: typ, Time: clk.now().Add(-time.Duration(rng.IntN(100*24)) * time.Hour)}
			if typ == core.TypePurchase {
				in.Amount, in.Currency = int64(100+rng.IntN(5000)), "EUR"
			}
			if _, err := db.AppendInteractions(ctx, []core.Interaction{in}); err == nil {
				facts.notify([]core.ID{id})
			} else if !strings.Contains(err.Error(), "not found") {
				t.Fatal(err)
			}
		case op < 6: // tag and attribute edits
			id := live()
			_, err := db.UpdateCustomer(ctx, id, func(c *core.Customer) error {
				tg := tags[rng.IntN(len(tags))]
				if slices.Contains(c.Tags, tg) {
					c.Tags = slices.DeleteFunc(c.Tags, func(s string) bool { return s == tg })
				} else {
					c.Tags = append(c.Tags, tg)
					slices.Sort(c.Tags)
				}
				if c.Consent == nil {
					c.Consent = map[core.Channel]core.Consent{}
				}
				c.Consent[core.ChannelEmail] = core.Consent{Granted: rng.IntN(2) == 0}
				return nil
			})
			if err != nil && !strings.Contains(err.Error(), "not found") {
				t.Fatal(err)
			}
		case op == 6: // erasure
			id := live()
			if err := db.EraseCustomer(ctx, id); err == nil {
				facts.notify([]core.ID{id})
			}
		case op == 7:
			newCustomer()
		case op == 8: // time passes
			clk.add(time.Duration(1+rng.IntN(10)) * 24 * time.Hour)
			facts.notify(nil)
		case op == 9: // a rule is edited
			sid := segIDs[rng.IntN(len(segIDs))]
			r := testRules[rng.IntN(len(testRules))]
			s, _ := db.GetSegment(ctx, sid)
			if _, err := m.Update(ctx, sid, s.Name, s.Description, rule(t, r)); err != nil {
				t.Fatal(err)
			}
		}
		if step%5 == 0 {
			check(step)
		}
	}
	check(-1)
}

func toSegmentFacts(fs *storeFacts, id core.ID, now time.Time) core.SegmentFacts {
	sf := core.SegmentFacts{Now: now, Loc: time.UTC}
	f, ok := fs.Facts(id)
	if !ok {
		return sf
	}
	sf.FirstPurchase, sf.LastPurchase, sf.RFMSegment, sf.R, sf.F, sf.M = f.FirstPurchase, f.LastPurchase, f.RFMSegment, f.R, f.F, f.M
	sf.HasModel, sf.PAlive, sf.CLV, sf.Count = f.PAlive >= 0, f.PAlive, f.CLV, f.Count
	return sf
}

func ruleJSON(r core.Rule) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%+v", r)
	return b.String()
}

func TestExportAndDelete(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	facts := &storeFacts{st: db, now: func() time.Time { return now }}
	for i, name := range []string{"=HYPERLINK(\"http://x\")", "Ann, \"the\" buyer", "+48 line\nbreak"} {
		c, err := db.CreateCustomer(ctx, core.Customer{ExternalID: fmt.Sprintf("@x%d", i), Name: name, Tags: []string{"vip"},
			Emails: []string{fmt.Sprintf("a%d@example.com", i)}, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := db.AppendInteractions(ctx, []core.Interaction{{CustomerID: c.ID, Type: core.TypePurchase, Time: now.Add(-time.Hour), Amount: 1234, Currency: "EUR"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := segments.New(db, facts, segments.Options{Now: func() time.Time { return now }})
	s, err := m.Create(ctx, core.Segment{Name: "vip", Rule: rule(t, `{"tag":"vip"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := m.ExportCSV(ctx, s.ID, &buf)
	if err != nil || n != 3 {
		t.Fatalf("export %d %v", n, err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], segments.ExportHeader) || len(rows) != 4 {
		t.Fatalf("rows %q", rows)
	}
	for _, r := range rows[1:] {
		for _, cell := range r[1:5] {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("formula cell not neutralized: %q", cell)
			}
		}
	}
	if rows[1][5] != "1" || rows[1][6] != "1234" || rows[1][7] != "2025-02-28" {
		t.Errorf("facts of first row: %q", rows[1])
	}
	if err := m.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Filter(s.ID); err == nil {
		t.Error("filter of a deleted segment")
	}
	if _, err := m.ExportCSV(ctx, s.ID, &buf); err == nil {
		t.Error("export of a deleted segment")
	}
	if err := m.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if errs := db.Check(ctx); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// TestRestartReconciles: membership written before a restart is corrected
// by the first build when customers changed while nothing was running.
func TestRestartReconciles(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := func() time.Time { return time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) }
	var ids []core.ID
	for i := range 5 {
		c, _ := db.CreateCustomer(ctx, core.Customer{ExternalID: fmt.Sprint(i), Tags: []string{"vip"}, CreatedAt: now()})
		ids = append(ids, c.ID)
	}
	m := segments.New(db, nil, segments.Options{Now: now})
	s, _ := m.Create(ctx, core.Segment{Name: "vip", Rule: rule(t, `{"tag":"vip"}`)})
	if err := m.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	// "Down": two customers lose the tag, one is erased.
	for _, id := range ids[:2] {
		_, _ = db.UpdateCustomer(ctx, id, func(c *core.Customer) error { c.Tags = nil; return nil })
	}
	_ = db.EraseCustomer(ctx, ids[4])
	m2 := segments.New(db, nil, segments.Options{Now: now})
	if err := m2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	p, _ := db.ListSegmentMembers(ctx, s.ID, "", 100)
	if !slices.Equal(p.Items, ids[2:4]) {
		t.Fatalf("members after restart %v, want %v", p.Items, ids[2:4])
	}
	got, _ := m2.Get(ctx, s.ID)
	if got.Count != 2 {
		t.Fatalf("count %d", got.Count)
	}
	_ = maps.Clone(map[int]int{})
}
