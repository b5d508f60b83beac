package segments_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
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

// openEngine opens the real analytics engine on the test store, on the
// test's clock; catchUp brings it and then the maintainer up to date.
func openEngine(t testing.TB, db *store.DB, now func() time.Time) *analytics.Engine {
	t.Helper()
	e, err := analytics.Open(context.Background(), db, analytics.Options{Location: time.UTC, Currency: "EUR",
		Now: now, RefitEvery: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func catchUp(t testing.TB, e *analytics.Engine, m *segments.Maintainer) {
	t.Helper()
	ctx := context.Background()
	if err := e.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
}

// bruteFacts computes a customer's behaviour facts the slow and obvious
// way, straight from the store's timeline, independently of the engine's
// compact state (day records, type table, rank sets): the brute-force side
// of the property test. The definitions are the engine's documented ones:
// days are business days (UTC here), "the last n days" are today and the
// n−1 days before (later days count too), sums are in the business
// currency, the first purchase is the start of its day. Only the model's
// outputs (P(alive), CLV) and RFM scores are taken from the engine: fitting
// BG/NBD a second time would test the fit, not the membership.
func bruteFacts(t testing.TB, db *store.DB, e *analytics.Engine, id core.ID, now time.Time) core.SegmentFacts {
	t.Helper()
	sf := core.SegmentFacts{Now: now, Loc: time.UTC}
	var all []core.Interaction
	cursor := ""
	for {
		p, err := db.Timeline(context.Background(), id, core.TimelineQuery{Cursor: cursor, Limit: 1000})
		if errors.Is(err, core.ErrNotFound) {
			return sf
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(all) == 0 {
		return sf
	}
	dayOf := func(t time.Time) time.Time {
		t = t.UTC()
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	for _, in := range all {
		if in.Type == core.TypePurchase && in.Currency == "EUR" {
			d := dayOf(in.Time)
			if sf.FirstPurchase.IsZero() || d.Before(sf.FirstPurchase) {
				sf.FirstPurchase = d
			}
			if d.After(sf.LastPurchase) {
				sf.LastPurchase = d
			}
		}
	}
	today := dayOf(now)
	sf.Count = func(typ core.InteractionType, days int) (int, int64) {
		n, sum := 0, int64(0)
		for _, in := range all {
			if (typ == "" || in.Type == typ) && (days == 0 || !dayOf(in.Time).Before(today.AddDate(0, 0, 1-days))) {
				n++
				switch {
				case in.Currency != "EUR":
				case typ != "" || in.Type == core.TypePurchase:
					sum += in.Amount
				case in.Type == core.TypeRefund: // all types: net of refunds
					sum -= in.Amount
				}
			}
		}
		return n, sum
	}
	if f, ok := e.Facts(id); ok {
		sf.RFMSegment, sf.R, sf.F, sf.M = f.RFMSegment, f.R, f.F, f.M
		sf.HasModel, sf.PAlive, sf.CLV = f.PAlive >= 0, f.PAlive, f.CLV
	}
	return sf
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
	// Facts parts nested under not/any (the engine fills only what a rule reads).
	`{"not":{"any":[{"all":[{"tag":"vip"},{"clv":{"op":"gt","value":2000}}]},{"first_purchase":{"from":"2025-01-05"}}]}}`,
	// RFM cells are quintiles over everyone: other customers' purchases move
	// them, so these are re-evaluated over everyone (at most once a minute
	// of the clock, which check advances).
	`{"rfm":{"r":5}}`,
	`{"any":[{"rfm":{"segment":"Champions"}},{"rfm":{"f":1}}]}`,
}

// TestMembershipEqualsBruteForce is the property test: after a
// random stream of appends, tag edits, erasures, new customers, rule edits
// and time passing, each segment's membership (in memory and in the store)
// equals a brute-force evaluation of its rule over all customers.
func TestMembershipEqualsBruteForce(t *testing.T) {
	modelUsed := false
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { modelUsed = propertyRun(t, seed) || modelUsed })
	}
	if !modelUsed {
		t.Error("no run had a trusted model with members of a p_alive rule: the model path was not tested")
	}
}

// propertyRun reports whether a rule on the model's predictions had members.
func propertyRun(t *testing.T, seed uint64) (modelUsed bool) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	db := openStore(t)
	clk := &clock{t: time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)}
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
	// A history before the stream, enough for a trusted model so that the
	// p_alive rule sees real predictions: as BG/NBD assumes, each customer
	// buys at its own rate from its first purchase on and may drop out
	// after each purchase.
	var hist []core.Interaction
	for range 300 {
		newCustomer()
		id := ids[len(ids)-1]
		rate, drop, spend := 0.01+0.1*rng.Float64(), 0.05+0.5*rng.Float64(), 300+rng.ExpFloat64()*2000
		for d := -100 - rng.IntN(300); d < 0; d++ {
			if len(hist) == 0 || hist[len(hist)-1].CustomerID != id || rng.Float64() < rate {
				hist = append(hist, core.Interaction{CustomerID: id, Type: core.TypePurchase, Amount: int64(spend * (0.5 + rng.Float64())), Currency: "EUR",
					Time: clk.now().AddDate(0, 0, d)})
				if rng.Float64() < drop {
					break
				}
			}
		}
	}
	if _, err := db.AppendInteractions(ctx, hist); err != nil {
		t.Fatal(err)
	}
	eng := openEngine(t, db, clk.now)
	m := segments.New(db, eng, segments.Options{Now: clk.now, WriteBatch: 7})
	if err := eng.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := eng.Refit(ctx); err != nil || !rep.Trusted {
		t.Logf("no trusted model (p_alive rules match nobody): %v %s", err, rep.Reason)
	}
	var segIDs []core.ID
	for i, r := range testRules {
		s, err := m.Create(ctx, core.Segment{Name: fmt.Sprint("s", i), Rule: rule(t, r)})
		if err != nil {
			t.Fatal(err)
		}
		segIDs = append(segIDs, s.ID)
	}
	catchUp(t, eng, m)
	check := func(step int) {
		t.Helper()
		catchUp(t, eng, m)
		clk.add(61 * time.Second) // past the population re-evaluation interval
		catchUp(t, eng, m)
		want := map[core.ID][]core.ID{}
		segs, _ := db.ListSegments(ctx)
		err := db.ScanCustomers(ctx, func(c core.Customer) error {
			f := bruteFacts(t, db, eng, c.ID, clk.now())
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
			modelUsed = modelUsed || (s.Rule.Needs().Model && len(want[s.ID]) > 0)
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
		// The cheaper EventFacts (used for rules without predictions)
		// agrees with Facts on everything but the scores.
		for _, id := range ids {
			ef, eok := eng.EventFacts(id)
			f, ok := eng.Facts(id)
			if eok != ok || !ok {
				continue
			}
			en, es := ef.Count(core.TypePurchase, 90)
			n, sum := f.Count(core.TypePurchase, 90)
			if ef.Orders != f.Orders || ef.Revenue != f.Revenue || !ef.FirstPurchase.Equal(f.FirstPurchase) ||
				!ef.LastPurchase.Equal(f.LastPurchase) || en != n || es != sum || ef.PAlive != -1 || ef.CLV != -1 || ef.R != 0 {
				t.Fatalf("step %d: EventFacts(%d) %+v, Facts %+v", step, id, ef, f)
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
			if _, err := db.AppendInteractions(ctx, []core.Interaction{in}); err != nil && !strings.Contains(err.Error(), "not found") {
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
			_ = db.EraseCustomer(ctx, id) // may be erased already
		case op == 7:
			newCustomer()
		case op == 8: // time passes
			clk.add(time.Duration(1+rng.IntN(10)) * 24 * time.Hour)
			if rng.IntN(3) == 0 {
				// A refit: the engine tells the maintainer the model changed.
				if err := eng.CatchUp(ctx); err != nil {
					t.Fatal(err)
				}
				_, _ = eng.Refit(ctx)
			}
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
	return modelUsed
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
	eng := openEngine(t, db, func() time.Time { return now })
	m := segments.New(db, eng, segments.Options{Now: func() time.Time { return now }})
	s, err := m.Create(ctx, core.Segment{Name: "vip", Rule: rule(t, `{"tag":"vip"}`)})
	if err != nil {
		t.Fatal(err)
	}
	catchUp(t, eng, m)
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
