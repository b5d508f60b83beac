package analytics_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
)

// memFeed is an in-memory change feed. It stands in for the store where
// the store cannot go: it accepts what core.Interaction.Normalize refuses
// (unknown currencies, years outside 1900–9999), so the engine's own
// defences are tested, and it can drop log entries to simulate a trim.
type memFeed struct {
	mu      sync.Mutex
	log     []core.Change
	inter   map[core.ID]core.Interaction
	trimmed uint64
	nextID  core.ID
}

func newMemFeed() *memFeed { return &memFeed{inter: map[core.ID]core.Interaction{}} }

func (f *memFeed) add(ins ...core.Interaction) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, in := range ins {
		f.nextID++
		in.ID = f.nextID
		f.inter[in.ID] = in
		f.log = append(f.log, core.Change{Seq: uint64(len(f.log) + 1), Kind: core.KindInteraction, ID: in.ID, CustomerID: in.CustomerID})
	}
}

func (f *memFeed) Changes(ctx context.Context, after uint64, limit int) ([]core.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []core.Change
	for _, c := range f.log {
		if c.Seq > after && c.Seq > f.trimmed && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}
func (f *memFeed) LastChange(ctx context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(len(f.log)), nil
}
func (f *memFeed) TrimChanges(ctx context.Context, upTo uint64) error {
	f.mu.Lock()
	f.trimmed = max(f.trimmed, upTo)
	f.mu.Unlock()
	return nil
}
func (f *memFeed) GetCustomers(ctx context.Context, ids []core.ID) ([]core.Customer, error) {
	var out []core.Customer
	for _, id := range ids {
		out = append(out, core.Customer{ID: id, Name: "n" + id.String()})
	}
	return out, nil
}
func (f *memFeed) GetInteractions(ctx context.Context, ids []core.ID) ([]core.Interaction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []core.Interaction
	for _, id := range ids {
		if in, ok := f.inter[id]; ok {
			out = append(out, in)
		}
	}
	return out, nil
}
func (f *memFeed) ScanCustomers(ctx context.Context, fn func(core.Customer) error) error { return nil }
func (f *memFeed) ScanAllInteractions(ctx context.Context, fn func(core.Interaction) error) error {
	f.mu.Lock()
	var all []core.Interaction
	for id := core.ID(1); id <= f.nextID; id++ {
		if in, ok := f.inter[id]; ok {
			all = append(all, in)
		}
	}
	f.mu.Unlock()
	for _, in := range all {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// TestHostileInputs: amounts of zero, negative and near the int64 limit,
// unknown currencies, times in year 1 and 20000, a huge count of events for
// one customer, absurd reasons — the engine answers, clearly, and never
// panics.
func TestHostileInputs(t *testing.T) {
	f := newMemFeed()
	now := testNow
	buy := func(id core.ID, tm time.Time, amt int64, cur string) core.Interaction {
		return core.Interaction{CustomerID: id, Type: core.TypePurchase, Time: tm, Amount: amt, Currency: cur}
	}
	f.add(
		buy(1, now.Add(-48*time.Hour), 0, ""),
		buy(1, now.Add(-24*time.Hour), -500, "EUR"),
		buy(2, now.Add(-24*time.Hour), math.MaxInt64, "EUR"),
		buy(2, now.Add(-23*time.Hour), math.MaxInt64, "EUR"),
		buy(2, now.Add(-22*time.Hour), math.MaxInt64, "EUR"),
		core.Interaction{CustomerID: 2, Type: core.TypeRefund, Time: now.Add(-time.Hour), Amount: math.MaxInt64, Currency: "EUR"},
		buy(3, now.Add(-24*time.Hour), 1000, "XXX"),
		buy(4, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), 100, "EUR"),
		buy(4, time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), 100, "EUR"),
		buy(5, time.Time{}, 100, "EUR"),
		core.Interaction{CustomerID: 6, Type: core.TypeSubscriptionCancelled, Time: now, Properties: map[string]string{"reason": strings.Repeat("\xff", 5000)}},
		core.Interaction{CustomerID: 6, Type: "", Time: now},
		core.Interaction{CustomerID: 0, Type: core.TypeSession, Time: now},
	)
	var many []core.Interaction
	for i := 0; i < 70000; i++ {
		many = append(many, buy(7, now.Add(-time.Duration(i%3)*time.Hour), 1, "EUR"))
	}
	f.add(many...)
	ctx := context.Background()
	e := openEngine(t, f, testOptions(analytics.ChurnInactivity))
	for _, p := range []retention.Period{retention.PeriodDay, retention.PeriodWeek, retention.PeriodMonth, retention.PeriodQuarter, retention.PeriodYear} {
		m, err := e.Metrics(ctx, analytics.MetricsQuery{Period: p})
		if err != nil {
			t.Fatal(err)
		}
		checkRates(t, m.Current)
		checkRates(t, m.Previous)
		if _, err := e.Dashboard(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Cohorts(ctx, analytics.CohortQuery{Period: retention.PeriodDay}); err != nil {
		t.Fatal(err)
	}
	r, err := e.RFM(ctx, analytics.RFMQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Customers {
		if c.CustomerID == 2 && c.Monetary != math.MaxInt64-math.MaxInt64 && c.Monetary < 0 {
			t.Errorf("huge amounts wrapped around: %+v", c)
		}
	}
	f7, ok := e.Facts(7)
	if n, s := f7.Count(core.TypePurchase, 0); !ok || n != 70000 || s != 70000 {
		t.Errorf("huge count: %d, %d", n, s)
	}
	if p, err := e.Predict(ctx, 3); err != nil || p.Orders != 0 {
		t.Errorf("unknown currency counted as money: %+v %v", p, err)
	}
	f4, _ := e.Facts(4)
	if f4.FirstPurchase.Year() != 1900 || f4.Last(core.TypePurchase).Year() != 9999 {
		t.Errorf("times out of range: first %v last %v", f4.FirstPurchase, f4.Last(core.TypePurchase))
	}
	d, _ := e.Dashboard(ctx, retention.PeriodMonth)
	if len(d.Reasons) != 1 || len(d.Reasons[0].Reason) > 200 {
		t.Errorf("reasons %+v", d.Reasons)
	}
	m, err := e.Model(ctx)
	if err != nil || m.Trusted || m.Reason == "" {
		t.Errorf("too little data must say so: %+v %v", m, err)
	}
	p, _ := e.Predict(ctx, 1)
	if p.Available || p.Reason == "" {
		t.Errorf("prediction without a model: %+v", p)
	}
	// Bad queries are ErrInvalid, not panics.
	for name, err := range map[string]error{
		"period":  func() error { _, err := e.Metrics(ctx, analytics.MetricsQuery{Period: 99}); return err }(),
		"cohorts": func() error { _, err := e.Cohorts(ctx, analytics.CohortQuery{Period: -1}); return err }(),
		"window":  func() error { _, err := e.RFM(ctx, analytics.RFMQuery{WindowDays: -3}); return err }(),
		"dayn":    func() error { _, err := e.DayN(ctx, analytics.DayNQuery{Days: []int{0}}); return err }(),
		"dash":    func() error { _, err := e.Dashboard(ctx, 7); return err }(),
		"from": func() error {
			_, err := e.Cohorts(ctx, analytics.CohortQuery{From: now, To: now.Add(-time.Hour)})
			return err
		}(),
	} {
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := analytics.Open(ctx, f, analytics.Options{Churn: "astrology"}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("bad churn definition: %v", err)
	}
}

// TestTrimmedLogRebuilds: when another consumer trimmed the change log past
// the engine's watermark, the engine rebuilds from a scan and ends up equal
// to a fresh build.
func TestTrimmedLogRebuilds(t *testing.T) {
	f := newMemFeed()
	f.add(core.Interaction{CustomerID: 1, Type: core.TypePurchase, Time: testNow, Amount: 5, Currency: "EUR"})
	ctx := context.Background()
	e := openEngine(t, f, testOptions(analytics.ChurnInactivity))
	f.add(core.Interaction{CustomerID: 2, Type: core.TypePurchase, Time: testNow, Amount: 7, Currency: "EUR"},
		core.Interaction{CustomerID: 1, Type: core.TypeSession, Time: testNow})
	f.TrimChanges(ctx, 2)
	if err := e.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.Status(); st.Events != 3 || st.Customers != 2 || st.Watermark != 3 {
		t.Errorf("after a trim: %+v", st)
	}
}

// TestPAliveFallback: the p_alive churn definition without a trusted model
// counts inactivity and says so.
func TestPAliveFallback(t *testing.T) {
	f := newMemFeed()
	f.add(core.Interaction{CustomerID: 1, Type: core.TypePurchase, Time: testNow.AddDate(0, -2, 0), Amount: 5, Currency: "EUR"})
	e := openEngine(t, f, testOptions(analytics.ChurnPAlive))
	m, err := e.Metrics(context.Background(), analytics.MetricsQuery{Period: retention.PeriodMonth})
	if err != nil || m.Churn != analytics.ChurnInactivity || m.ChurnNote == "" {
		t.Errorf("%+v %v", m, err)
	}
}
