package analytics_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
)

// FuzzEngine turns arbitrary bytes into interactions (any customer, type,
// time, amount, currency, reason), feeds them to the engine in two batches
// with an erasure between, and asks every question: nothing may panic and
// rates stay in [0, 1].
func FuzzEngine(f *testing.F) {
	f.Add([]byte("\x01\x00purchase\x00EUR\x00price"), int64(1000), int64(0))
	f.Add([]byte("\xff\xfesubscription_cancelled\x00\x00\xff"), int64(-1), int64(-1<<62))
	f.Add([]byte{}, int64(1<<62), int64(1<<40))
	types := []core.InteractionType{core.TypePurchase, core.TypeRefund, core.TypeSession, core.TypeSubscriptionStarted,
		core.TypeSubscriptionRenewed, core.TypeSubscriptionCancelled, "custom", ""}
	currencies := []string{"EUR", "USD", "", "XXX", "eur"}
	f.Fuzz(func(t *testing.T, data []byte, amount, secs int64) {
		feed := newMemFeed()
		var ins []core.Interaction
		for i := 0; i+4 <= len(data) && len(ins) < 200; i += 4 {
			w := binary.LittleEndian.Uint32(data[i:])
			in := core.Interaction{
				CustomerID: core.ID(w % 7),
				Type:       types[int(w>>3)%len(types)],
				Time:       testNow.Add(time.Duration(secs%(1<<50)) * time.Duration(int64(w>>8)%5000-2500)),
				Amount:     amount * int64(int8(w>>16)),
				Currency:   currencies[int(w>>24)%len(currencies)],
			}
			if w&1 == 1 {
				in.Properties = map[string]string{"reason": string(data[i : i+4])}
			}
			ins = append(ins, in)
		}
		half := len(ins) / 2
		feed.add(ins[:half]...)
		ctx := context.Background()
		e, err := analytics.Open(ctx, feed, testOptions(analytics.ChurnCancellation))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		feed.add(ins[half:]...)
		feed.mu.Lock()
		feed.log = append(feed.log, core.Change{Seq: uint64(len(feed.log) + 1), Kind: core.KindCustomer, ID: 3, Deleted: true})
		feed.mu.Unlock()
		if _, err := e.Dashboard(ctx, retention.PeriodWeek); err != nil {
			t.Fatal(err)
		}
		if err := e.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		for p := retention.PeriodDay; p <= retention.PeriodYear; p++ {
			m, err := e.Metrics(ctx, analytics.MetricsQuery{Period: p})
			if err != nil {
				t.Fatal(err)
			}
			checkRates(t, m.Current)
			if _, err := e.Dashboard(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		e.Cohorts(ctx, analytics.CohortQuery{Period: retention.PeriodMonth})
		e.RFM(ctx, analytics.RFMQuery{WindowDays: 30})
		e.DayN(ctx, analytics.DayNQuery{Types: []core.InteractionType{core.TypePurchase, "custom"}})
		e.AtRisk(ctx, 3)
		e.Model(ctx)
		for id := core.ID(0); id < 7; id++ {
			e.Predict(ctx, id)
			if fa, ok := e.Facts(id); ok {
				fa.Count("", 7)
				fa.Last(core.TypeSubscriptionCancelled)
			}
		}
		if _, ok := e.Facts(3); ok {
			t.Error("erased customer 3 still has facts")
		}
	})
}
