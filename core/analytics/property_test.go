package analytics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
)

var testNow = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func testOptions(churn string) analytics.Options {
	return analytics.Options{Currency: "EUR", Churn: churn, ChurnDays: 60, Now: func() time.Time { return testNow },
		PollInterval: 5 * time.Millisecond}
}

var reasons = []string{"price", "service", "moved", ""}

// randomEvents makes n interactions of random types for customers ids,
// at random times over two years before testNow (some after it).
func randomEvents(rng *rand.Rand, ids []core.ID, n int) []core.Interaction {
	types := []core.InteractionType{core.TypePurchase, core.TypePurchase, core.TypePurchase, core.TypeRefund, core.TypeSession,
		core.TypeSession, core.TypeSubscriptionStarted, core.TypeSubscriptionRenewed, core.TypeSubscriptionCancelled, "custom_thing"}
	out := make([]core.Interaction, n)
	for i := range out {
		in := core.Interaction{CustomerID: ids[rng.IntN(len(ids))], Type: types[rng.IntN(len(types))],
			Time: testNow.Add(-time.Duration(rng.IntN(730*24)) * time.Hour).Add(time.Duration(rng.IntN(5*24)) * time.Hour)}
		switch in.Type {
		case core.TypePurchase, core.TypeRefund:
			in.Amount, in.Currency = int64(rng.IntN(20000)), "EUR"
			if rng.IntN(15) == 0 {
				in.Currency = "USD"
			}
		case core.TypeSubscriptionCancelled:
			if r := reasons[rng.IntN(len(reasons))]; r != "" {
				in.Properties = map[string]string{"reason": r}
			}
		}
		out[i] = in
	}
	return out
}

// snapshot renders everything the engine answers, for comparison.
func snapshot(t *testing.T, e *analytics.Engine, ids []core.ID) string {
	t.Helper()
	ctx := context.Background()
	var out []any
	for _, p := range []retention.Period{retention.PeriodDay, retention.PeriodWeek, retention.PeriodMonth, retention.PeriodQuarter, retention.PeriodYear} {
		m, err := e.Metrics(ctx, analytics.MetricsQuery{Period: p})
		if err != nil {
			t.Fatal(err)
		}
		checkRates(t, m.Current)
		checkRates(t, m.Previous)
		d, err := e.Dashboard(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		d.Status, d.Computed = analytics.Status{}, time.Time{}
		if fmt.Sprint(d.Metrics) != fmt.Sprint(m) {
			t.Errorf("%v: dashboard metrics %+v\nMetrics %+v", p, d.Metrics, m)
		}
		out = append(out, m, d)
	}
	c, err := e.Cohorts(ctx, analytics.CohortQuery{Period: retention.PeriodMonth})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, k := range c.Cohorts {
		sum += k.Size
	}
	if sum != c.Customers {
		t.Errorf("cohort sizes add up to %d, report says %d customers", sum, c.Customers)
	}
	r, err := e.RFM(ctx, analytics.RFMQuery{WindowDays: 365})
	if err != nil {
		t.Fatal(err)
	}
	dn, err := e.DayN(ctx, analytics.DayNQuery{})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, c, r, dn)
	for _, id := range ids {
		f, ok := e.Facts(id)
		if !ok {
			out = append(out, "none")
			continue
		}
		row := []any{f.FirstPurchase, f.LastPurchase, f.Orders, f.Revenue, f.R, f.F, f.M, f.RFMSegment}
		for _, ty := range []core.InteractionType{"", core.TypePurchase, core.TypeRefund, core.TypeSession, "custom_thing", "never_seen"} {
			for _, days := range []int{0, 7, 90} {
				n, s := f.Count(ty, days)
				row = append(row, n, s)
			}
			row = append(row, f.Last(ty))
		}
		out = append(out, row)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIncrementalEqualsRebuild feeds a random stream of appends (in random
// time order), erasures and new customers through the store, lets one
// engine follow the change log batch by batch, and compares everything it
// answers with an engine built afresh from the store.
func TestIncrementalEqualsRebuild(t *testing.T) {
	for _, churn := range []string{analytics.ChurnInactivity, analytics.ChurnCancellation} {
		t.Run(churn, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(len(churn))))
			db := openStore(t)
			ctx := context.Background()
			var ids []core.ID
			newCustomer := func() {
				c, err := db.CreateCustomer(ctx, core.Customer{Name: fmt.Sprintf("C%d", len(ids)), ExternalID: fmt.Sprintf("x%d", rng.Uint64())})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, c.ID)
			}
			for range 20 {
				newCustomer()
			}
			if _, err := db.AppendInteractions(ctx, randomEvents(rng, ids, 300)); err != nil {
				t.Fatal(err)
			}
			inc := openEngine(t, db, testOptions(churn))
			var notified [][]core.ID
			inc.Subscribe(func(ch []core.ID) { notified = append(notified, ch) })
			live := append([]core.ID(nil), ids...)
			for step := 0; step < 25; step++ {
				switch rng.IntN(5) {
				case 0:
					if len(live) > 3 {
						k := rng.IntN(len(live))
						if err := db.EraseCustomer(ctx, live[k]); err != nil {
							t.Fatal(err)
						}
						live = append(live[:k], live[k+1:]...)
					}
				case 1:
					newCustomer()
					live = append(live, ids[len(ids)-1])
				default:
					if _, err := db.AppendInteractions(ctx, randomEvents(rng, live, 1+rng.IntN(60))); err != nil {
						t.Fatal(err)
					}
				}
				if err := inc.CatchUp(ctx); err != nil {
					t.Fatal(err)
				}
				if step%6 == 0 {
					snapshot(t, inc, ids) // keeps dashboard sums alive across batches
				}
			}
			fresh := openEngine(t, db, testOptions(churn))
			got, want := snapshot(t, inc, ids), snapshot(t, fresh, ids)
			if got != want {
				t.Errorf("incremental state differs from a fresh build: %s", diffAt(got, want))
			}
			if len(notified) == 0 {
				t.Error("no change notifications")
			}
			st := inc.Status()
			if !st.Ready || st.Lag != 0 || st.Customers != fresh.Status().Customers || st.Events != fresh.Status().Events {
				t.Errorf("status %+v, fresh %+v", st, fresh.Status())
			}
		})
	}
}

// TestErasure: an erased customer vanishes from every answer.
func TestErasure(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	var ids []core.ID
	for i := range 10 {
		c, err := db.CreateCustomer(ctx, core.Customer{Name: fmt.Sprint("c", i), ExternalID: fmt.Sprint("e", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if _, err := db.AppendInteractions(ctx, randomEvents(rng, ids, 400)); err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, db, testOptions(analytics.ChurnInactivity))
	before, _ := e.Dashboard(ctx, retention.PeriodMonth)
	victim := ids[0]
	if _, ok := e.Facts(victim); !ok {
		t.Fatal("victim has no facts")
	}
	if err := db.EraseCustomer(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := e.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Facts(victim); ok {
		t.Error("erased customer still has facts")
	}
	if _, err := e.Predict(ctx, victim); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("erased customer predicted: %v", err)
	}
	r, _ := e.RFM(ctx, analytics.RFMQuery{})
	for _, c := range r.Customers {
		if c.CustomerID == victim {
			t.Error("erased customer in RFM")
		}
	}
	list, _ := e.AtRisk(ctx, 100)
	for _, a := range list {
		if a.CustomerID == victim {
			t.Error("erased customer at risk")
		}
	}
	after, _ := e.Dashboard(ctx, retention.PeriodMonth)
	if after.Cohorts.Customers != before.Cohorts.Customers-1 && before.Cohorts.Customers > 0 {
		t.Logf("cohort customers %d → %d", before.Cohorts.Customers, after.Cohorts.Customers)
	}
	fresh := openEngine(t, db, testOptions(analytics.ChurnInactivity))
	if a, b := snapshot(t, e, ids), snapshot(t, fresh, ids); a != b {
		t.Errorf("after erasure the engine differs from a fresh build: %s", diffAt(a, b))
	}
	if e.Status().Customers != 9 {
		t.Errorf("status %+v", e.Status())
	}
}

// TestRunConcurrent runs the engine's loop while writers append and readers
// ask (go test -race).
func TestRunConcurrent(t *testing.T) {
	db := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rng := rand.New(rand.NewPCG(8, 8))
	var ids []core.ID
	for i := range 30 {
		c, _ := db.CreateCustomer(ctx, core.Customer{Name: fmt.Sprint("c", i), ExternalID: fmt.Sprint("e", i)})
		ids = append(ids, c.ID)
	}
	e, err := analytics.Open(ctx, db, testOptions(analytics.ChurnInactivity))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	for i := 0; i < 30; i++ {
		if _, err := db.AppendInteractions(ctx, randomEvents(rng, ids, 50)); err != nil {
			t.Fatal(err)
		}
		if e.Status().Ready {
			e.Dashboard(ctx, retention.PeriodWeek)
			e.Metrics(ctx, analytics.MetricsQuery{Period: retention.PeriodMonth})
			e.AtRisk(ctx, 5)
			if f, ok := e.Facts(ids[i]); ok {
				f.Count(core.TypeSession, 30)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.Status().Events < 1500 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := e.Status(); st.Events != 1500 {
		t.Errorf("status %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func diffAt(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-300)
	return fmt.Sprintf("at byte %d:\n got …%.400s\nwant …%.400s", i, a[lo:], b[lo:])
}
