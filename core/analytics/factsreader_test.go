package analytics_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
)

// factsRow renders every answer of one customer's facts for comparison.
func factsRow(f *analytics.Facts) string { return factsRowNeed(f, analytics.NeedAll) }

// factsRowNeed renders the parts of f in need.
func factsRowNeed(f *analytics.Facts, need analytics.FactsNeed) string {
	row := fmt.Sprint(f.CustomerID)
	if need&analytics.NeedPurchases != 0 {
		row += fmt.Sprint(f.FirstPurchase, f.LastPurchase, f.Orders, f.Revenue)
	}
	if need&analytics.NeedRFM != 0 {
		row += fmt.Sprint(f.RFMSegment, f.R, f.F, f.M)
	}
	if need&analytics.NeedPredictions != 0 {
		row += fmt.Sprint(f.PAlive, f.CLV)
	}
	for _, ty := range []core.InteractionType{"", core.TypePurchase, core.TypeRefund, core.TypeSession, "custom_thing", "never_seen"} {
		for _, days := range []int{0, 1, 7, 90, 36500} {
			n, s := f.Count(ty, days)
			row += fmt.Sprint(" ", n, s)
		}
		row += " " + f.Last(ty).String()
	}
	return row
}

// checkReader compares, for every id, the reader's facts (with and without
// scores, several customers per hold of the lock, in random order) with
// Facts and EventFacts, and Facts on the prediction table with Facts
// computed lazily.
func checkReader(t *testing.T, e *analytics.Engine, ids []core.ID, rng *rand.Rand, step string) {
	t.Helper()
	want := map[bool]map[core.ID]string{true: {}, false: {}}
	for _, id := range ids {
		if f, ok := e.Facts(id); ok {
			want[true][id] = factsRow(&f)
		}
		if f, ok := e.EventFacts(id); ok {
			want[false][id] = factsRow(&f)
		}
	}
	for _, scores := range []bool{true, false} {
		need := analytics.NeedEvents
		if scores {
			need = analytics.NeedAll
		}
		order := append([]core.ID(nil), ids...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		order = append(order, 0, 1<<40) // unknown customers
		for len(order) > 0 {
			batch := order[:min(len(order), 1+rng.IntN(40))]
			order = order[len(batch):]
			ok := e.ReadFacts(need, func(r *analytics.FactsReader) {
				for _, id := range batch {
					f, ok := r.Facts(id)
					w, wok := want[scores][id]
					if ok != wok {
						t.Fatalf("%s: reader(%d, scores %v) found %v, Facts %v", step, id, scores, ok, wok)
					}
					if ok && factsRow(f) != w {
						t.Fatalf("%s: reader(%d, scores %v)\n%s\nFacts\n%s", step, id, scores, factsRow(f), w)
					}
				}
			})
			if !ok {
				t.Fatalf("%s: ReadFacts refused", step)
			}
		}
	}
	// Any part alone is what Facts gives for it, and the rest is left out.
	for need := analytics.FactsNeed(0); need <= analytics.NeedAll; need++ {
		parts := map[core.ID]string{}
		for _, id := range ids {
			if full, ok := e.Facts(id); ok {
				parts[id] = factsRowNeed(&full, need)
			}
		}
		e.ReadFacts(need, func(r *analytics.FactsReader) { // no other Engine call in here
			for _, id := range ids {
				f, ok := r.Facts(id)
				if !ok {
					continue
				}
				if got, want := factsRowNeed(f, need), parts[id]; got != want {
					t.Fatalf("%s: reader(%d, need %b)\n%s\nFacts\n%s", step, id, need, got, want)
				}
				if got, zero := factsRowNeed(f, analytics.NeedAll&^need), factsRowNeed(&analytics.Facts{CustomerID: id, PAlive: -1, CLV: -1, Count: f.Count, Last: f.Last}, analytics.NeedAll&^need); got != zero {
					t.Fatalf("%s: reader(%d, need %b) filled more: %s", step, id, need, got)
				}
			}
		})
	}
	// The table agrees with the lazy computation, to the bit.
	e.DropPredictions()
	for _, id := range ids {
		if f, ok := e.Facts(id); ok && factsRow(&f) != want[true][id] {
			t.Fatalf("%s: Facts(%d) lazily\n%s\nwith the table\n%s", step, id, factsRow(&f), want[true][id])
		}
	}
	e.WaitPredictions()
}

// TestFactsReaderAgrees: on random data, with and without a trusted model,
// as events arrive and customers are erased, the reader gives exactly what
// Facts gives, and the prediction table what the lazy computation gives.
func TestFactsReaderAgrees(t *testing.T) {
	for _, background := range []bool{false, true} {
		t.Run(fmt.Sprint("background=", background), func(t *testing.T) {
			if background {
				old := analytics.SetPredInline(0)
				t.Cleanup(func() { analytics.SetPredInline(old) })
			}
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(5, 9))
			db := openStore(t)
			var ids []core.ID
			for i := range 300 {
				c, err := db.CreateCustomer(ctx, core.Customer{Name: fmt.Sprint("C", i), ExternalID: fmt.Sprint("x", i)})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, c.ID)
			}
			// BG/NBD-like purchases (a rate and a dropout per customer), so
			// that the model is trusted, plus random other events.
			var hist []core.Interaction
			for _, id := range ids[:250] {
				rate, drop := 0.01+0.1*rng.Float64(), 0.05+0.5*rng.Float64()
				for d := -100 - rng.IntN(300); d < 0; d++ {
					if len(hist) == 0 || hist[len(hist)-1].CustomerID != id || rng.Float64() < rate {
						hist = append(hist, core.Interaction{CustomerID: id, Type: core.TypePurchase, Amount: int64(300 + rng.IntN(3000)),
							Currency: "EUR", Time: testNow.AddDate(0, 0, d)})
						if rng.Float64() < drop {
							break
						}
					}
				}
			}
			hist = append(hist, randomEvents(rng, ids, 400)...)
			if _, err := db.AppendInteractions(ctx, hist); err != nil {
				t.Fatal(err)
			}
			e := openEngine(t, db, testOptions(analytics.ChurnInactivity))
			checkReader(t, e, ids, rng, "before the fit")
			rep, err := e.Refit(ctx)
			if err != nil || !rep.Trusted || rep.GammaGamma == nil {
				t.Fatalf("model not trusted: %v %+v", err, rep)
			}
			if background {
				checkReader(t, e, ids, rng, "while the table is computed") // lazily or from the table
			}
			e.WaitPredictions()
			checkReader(t, e, ids, rng, "after the fit")
			live := append([]core.ID(nil), ids...)
			for step := range 8 {
				if step%3 == 2 {
					k := rng.IntN(len(live))
					if err := db.EraseCustomer(ctx, live[k]); err != nil {
						t.Fatal(err)
					}
					live = append(live[:k], live[k+1:]...)
				}
				if _, err := db.AppendInteractions(ctx, randomEvents(rng, live, 1+rng.IntN(30))); err != nil {
					t.Fatal(err)
				}
				if err := e.CatchUp(ctx); err != nil {
					t.Fatal(err)
				}
				checkReader(t, e, ids, rng, fmt.Sprint("step ", step))
			}
			// A fresh build agrees with the incremental one, reader included.
			fresh := openEngine(t, db, testOptions(analytics.ChurnInactivity))
			if _, err := fresh.Refit(ctx); err != nil {
				t.Fatal(err)
			}
			fresh.WaitPredictions()
			for _, id := range ids {
				f1, ok1 := e.EventFacts(id)
				f2, ok2 := fresh.EventFacts(id)
				if ok1 != ok2 || (ok1 && factsRow(&f1) != factsRow(&f2)) {
					t.Fatalf("customer %d: incremental %v %s, fresh %v %s", id, ok1, factsRow(&f1), ok2, factsRow(&f2))
				}
			}
		})
	}
}
