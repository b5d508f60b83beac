package analytics_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
	"github.com/retain-crm/retain/store"
)

// genFeed is a change feed that generates a large history on the fly
// (nothing is stored: 10M core.Interaction values would take 2.5 GB), so
// the engine's own costs can be measured apart from bbolt's. Customer i's
// events come from a generator seeded with i: a mix like a web shop with
// subscriptions — about 30% purchases, 2% refunds, 45% sessions, 15% page
// views, 5% messages, 3% subscription events — over two years before now.
// Appended events (add) are kept and served through the change log.
type genFeed struct {
	customers, perCustomer int
	now                    time.Time
	mu                     sync.Mutex
	extra                  map[core.ID]core.Interaction
	log                    []core.Change
	base                   uint64
}

// gen makes customer i's history: purchases from the BG/NBD process
// (rate λ ~ Gamma(0.5, 40 days), dropout p ~ Beta(0.8, 2.5) after each
// repeat purchase, as the models assume), then other activity up to about
// perCustomer events in all.
func (g *genFeed) gen(i int, fn func(core.Interaction) error) error {
	rng := rand.New(rand.NewPCG(uint64(i), 77))
	id := core.ID(i + 1)
	start := g.now.Add(-time.Duration(rng.IntN(730*24)) * time.Hour)
	span := g.now.Sub(start)
	k := 0
	emit := func(in core.Interaction) error {
		if k >= 63 {
			return nil
		}
		in.ID, in.CustomerID = core.ID(uint64(i)*64+uint64(k)+1), id
		k++
		return fn(in)
	}
	lambda := gammaRand(rng, 0.5) / 40 // purchases per day
	pDrop := betaRand(rng, 0.8, 2.5)
	t := start
	for n := 0; ; n++ {
		if err := emit(core.Interaction{Type: core.TypePurchase, Time: t, Amount: int64(500 + rng.IntN(20000)), Currency: "EUR"}); err != nil {
			return err
		}
		if n > 0 && rng.Float64() < pDrop {
			break
		}
		t = t.Add(time.Duration(rng.ExpFloat64() / lambda * float64(24*time.Hour)))
		if !t.Before(g.now) || lambda == 0 {
			break
		}
	}
	others := rng.IntN(2*g.perCustomer - 1)
	for j := 0; j < others; j++ {
		in := core.Interaction{Time: start.Add(time.Duration(rng.Int64N(int64(span) + 1)))}
		switch r := rng.IntN(100); {
		case r < 3:
			in.Type, in.Amount, in.Currency = core.TypeRefund, int64(500+rng.IntN(5000)), "EUR"
		case r < 65:
			in.Type = core.TypeSession
		case r < 85:
			in.Type = core.TypePageView
		case r < 94:
			in.Type = core.TypeMessageSent
		case r < 96:
			in.Type = core.TypeSubscriptionStarted
		case r < 98:
			in.Type = core.TypeSubscriptionRenewed
		default:
			in.Type = core.TypeSubscriptionCancelled
			in.Properties = map[string]string{"reason": []string{"price", "service", "moved"}[rng.IntN(3)]}
		}
		if err := emit(in); err != nil {
			return err
		}
	}
	return nil
}

// gammaRand draws Gamma(k, 1) (Marsaglia & Tsang; k < 1 boosted).
func gammaRand(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		return gammaRand(rng, k+1) * math.Pow(rng.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := rng.Float64(); math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

func betaRand(rng *rand.Rand, a, b float64) float64 {
	x := gammaRand(rng, a)
	return x / (x + gammaRand(rng, b))
}

func (g *genFeed) ScanAllInteractions(ctx context.Context, fn func(core.Interaction) error) error {
	for i := 0; i < g.customers; i++ {
		if err := g.gen(i, fn); err != nil {
			return err
		}
	}
	return nil
}

func (g *genFeed) add(ins []core.Interaction) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, in := range ins {
		in.ID = core.ID(uint64(g.customers)*64 + uint64(len(g.log)) + 1)
		g.extra[in.ID] = in
		g.log = append(g.log, core.Change{Seq: g.base + uint64(len(g.log)) + 1, Kind: core.KindInteraction, ID: in.ID, CustomerID: in.CustomerID})
	}
}

func (g *genFeed) Changes(ctx context.Context, after uint64, limit int) ([]core.Change, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []core.Change
	for _, c := range g.log {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}
func (g *genFeed) LastChange(ctx context.Context) (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.base + uint64(len(g.log)), nil
}
func (g *genFeed) TrimChanges(ctx context.Context, upTo uint64) error { return nil }
func (g *genFeed) GetCustomers(ctx context.Context, ids []core.ID) ([]core.Customer, error) {
	out := make([]core.Customer, len(ids))
	for i, id := range ids {
		out[i] = core.Customer{ID: id, Name: "Customer " + id.String()}
	}
	return out, nil
}
func (g *genFeed) GetInteractions(ctx context.Context, ids []core.ID) ([]core.Interaction, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []core.Interaction
	for _, id := range ids {
		if in, ok := g.extra[id]; ok {
			out = append(out, in)
		}
	}
	return out, nil
}
func (g *genFeed) ScanCustomers(ctx context.Context, fn func(core.Customer) error) error { return nil }

// cpu returns the process's user+system CPU time: with other work sharing
// the two cores, it shows the engine's own cost better than wall time.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// BenchmarkEngineLarge measures, on 1,000,000 customers and ~10,000,000
// generated interactions: the state build, its memory, the first (cold)
// dashboard without and with a fitted model, the fit (BG/NBD + Gamma-Gamma
// + the validation fit), and the dashboard after a batch of new events.
//
//	RETAIN_BENCH_LARGE=1 go test ./core/analytics -run XXX -bench EngineLarge -benchtime 1x -timeout 30m
func BenchmarkEngineLarge(b *testing.B) {
	if os.Getenv("RETAIN_BENCH_LARGE") == "" {
		b.Skip("set RETAIN_BENCH_LARGE=1 (1M customers, 10M interactions)")
	}
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < b.N; i++ {
		g := &genFeed{customers: benchCustomers(), perCustomer: 8, now: now, extra: map[core.ID]core.Interaction{}}
		before := heapMB()
		e, err := analytics.Open(ctx, g, analytics.Options{Currency: "EUR", Unit: retention.Week, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		t0, c0 := time.Now(), cpu()
		if err := e.CatchUp(ctx); err != nil {
			b.Fatal(err)
		}
		build, buildCPU := time.Since(t0), cpu()-c0
		st := e.Status()
		mem := heapMB() - before
		b.Logf("state: %d customers, %d events, built in %s, heap %.0f MB", st.Customers, st.Events, build, mem)

		t0, c0 = time.Now(), cpu()
		if _, err := e.Dashboard(ctx, retention.PeriodMonth); err != nil {
			b.Fatal(err)
		}
		coldNoModel, coldNoModelCPU := time.Since(t0), cpu()-c0

		t0, c0 = time.Now(), cpu()
		rep, err := e.Refit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fit, fitCPU := time.Since(t0), cpu()-c0
		b.Logf("refit (BG/NBD + Gamma-Gamma + validation fit): %s, trusted %v %s", fit, rep.Trusted, rep.Reason)

		t0, c0 = time.Now(), cpu()
		d, err := e.Dashboard(ctx, retention.PeriodMonth)
		if err != nil {
			b.Fatal(err)
		}
		cold, coldCPU := time.Since(t0), cpu()-c0
		t0 = time.Now()
		if _, err := e.Dashboard(ctx, retention.PeriodMonth); err != nil {
			b.Fatal(err)
		}
		cached := time.Since(t0)

		// New events: 1,000 per round for random customers, 20 rounds.
		rng := rand.New(rand.NewPCG(9, 9))
		var apply, incr time.Duration
		const rounds = 20
		for r := 0; r < rounds; r++ {
			batch := make([]core.Interaction, 1000)
			for k := range batch {
				batch[k] = core.Interaction{CustomerID: core.ID(1 + rng.IntN(g.customers)), Type: core.TypePurchase,
					Time: now.Add(-time.Duration(rng.IntN(3600)) * time.Second), Amount: 1000, Currency: "EUR"}
			}
			g.add(batch)
			t0 = time.Now()
			if err := e.CatchUp(ctx); err != nil {
				b.Fatal(err)
			}
			apply += time.Since(t0)
			t0 = time.Now()
			if _, err := e.Dashboard(ctx, retention.PeriodMonth); err != nil {
				b.Fatal(err)
			}
			incr += time.Since(t0)
		}
		// Facts of 100,000 customers twice: first with CLV computed, then cached.
		factsPass := func() time.Duration {
			t0 := time.Now()
			for id := 1; id <= 100_000 && id <= g.customers; id++ {
				f, ok := e.Facts(core.ID(id))
				if !ok {
					b.Fatalf("no facts for %d", id)
				}
				f.Count(core.TypeSession, 30)
			}
			return time.Since(t0) / time.Duration(min(100_000, g.customers))
		}
		factsFirst, factsCached := factsPass(), factsPass()
		b.ReportMetric(float64(factsFirst.Nanoseconds())/1000, "facts-first-us")
		b.ReportMetric(float64(factsCached.Nanoseconds())/1000, "facts-cached-us")

		// A refit after those events starts from the current estimates.
		t0, c0 = time.Now(), cpu()
		if _, err := e.Refit(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "refit-warm-s")
		b.ReportMetric((cpu() - c0).Seconds(), "refit-warm-cpu-s")

		c0 = cpu()
		fitOnly := measureFit(b, e, ctx)
		fitOnlyCPU := cpu() - c0
		b.ReportMetric(build.Seconds(), "build-s")
		b.ReportMetric(mem, "state-heap-MB")
		b.ReportMetric(float64(coldNoModel.Milliseconds()), "dash-cold-nomodel-ms")
		b.ReportMetric(float64(cold.Milliseconds()), "dash-cold-ms")
		b.ReportMetric(float64(cached.Microseconds())/1000, "dash-cached-ms")
		b.ReportMetric(float64(incr.Microseconds())/1000/rounds, "dash-incr-ms")
		b.ReportMetric(float64(apply.Microseconds())/1000/rounds, "apply-1000-ms")
		b.ReportMetric(fit.Seconds(), "refit-s")
		b.ReportMetric(fitOnly.Seconds(), "bgnbd-fit-s")
		b.ReportMetric(buildCPU.Seconds(), "build-cpu-s")
		b.ReportMetric(float64(coldNoModelCPU.Milliseconds()), "dash-cold-nomodel-cpu-ms")
		b.ReportMetric(float64(coldCPU.Milliseconds()), "dash-cold-cpu-ms")
		b.ReportMetric(fitCPU.Seconds(), "refit-cpu-s")
		b.ReportMetric(fitOnlyCPU.Seconds(), "bgnbd-fit-cpu-s")
		b.Logf("at risk: %d, trusted %v, cohorts %d customers", len(d.AtRisk), d.Model.Trusted, d.Cohorts.Customers)
	}
}

// measureFit times BG/NBD alone on the engine's current summaries.
func measureFit(b *testing.B, e *analytics.Engine, ctx context.Context) time.Duration {
	t0 := time.Now()
	rep, err := e.Fit(ctx, analytics.FitQuery{CalibrationEnd: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), SkipSpend: true})
	if err != nil {
		b.Fatal(err)
	}
	if rep.Fit != nil {
		b.Logf("BG/NBD fit: %d customers, %d iterations, %d evaluations, %d of %d starts agree, converged %v", rep.Fit.Customers, rep.Fit.Iterations, rep.Fit.Evaluations, rep.Fit.Agreeing, rep.Fit.Starts, rep.Fit.Converged)
	}
	return time.Since(t0)
}

// BenchmarkBuildFromStore measures the first build from a real data folder
// (opened read-write, so an older schema is migrated; the engine only reads), e.g. one filled by `retain demo --customers 1000000`:
//
//	RETAIN_BENCH_DATA=/tmp/big go test ./core/analytics -run XXX -bench BuildFromStore -benchtime 1x
func BenchmarkBuildFromStore(b *testing.B) {
	dir := os.Getenv("RETAIN_BENCH_DATA")
	if dir == "" {
		b.Skip("set RETAIN_BENCH_DATA to a filled data folder")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "retain.db"), store.Options{Timeout: 5 * time.Second}) // read-write: an older folder is migrated first
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < b.N; i++ {
		before := heapMB()
		e, err := analytics.Open(ctx, db, analytics.Options{Currency: "EUR", Unit: retention.Week})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := e.CatchUp(ctx); err != nil {
			b.Fatal(err)
		}
		build := time.Since(t0)
		mem := heapMB() - before
		st := e.Status()
		t0 = time.Now()
		if _, err := e.Dashboard(ctx, retention.PeriodMonth); err != nil {
			b.Fatal(err)
		}
		cold := time.Since(t0)
		b.ReportMetric(build.Seconds(), "build-s")
		b.ReportMetric(mem, "state-heap-MB")
		b.ReportMetric(float64(cold.Milliseconds()), "dash-cold-nomodel-ms")
		b.ReportMetric(float64(st.Events), "events")
		b.ReportMetric(float64(st.Customers), "customers")
		runtime.KeepAlive(e)
	}
}

func benchCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("RETAIN_BENCH_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkFitLarge times the BG/NBD fit alone (no spend model, no
// validation) through the engine on the generated 1M-customer history.
//
//	RETAIN_BENCH_LARGE=1 go test ./core/analytics -run XXX -bench FitLarge -benchtime 3x -timeout 30m
func BenchmarkFitLarge(b *testing.B) {
	if os.Getenv("RETAIN_BENCH_LARGE") == "" {
		b.Skip("set RETAIN_BENCH_LARGE=1 (1M customers, 10M interactions)")
	}
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	g := &genFeed{customers: benchCustomers(), perCustomer: 8, now: now, extra: map[core.ID]core.Interaction{}}
	e, err := analytics.Open(ctx, g, analytics.Options{Currency: "EUR", Unit: retention.Week, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.CatchUp(ctx); err != nil {
		b.Fatal(err)
	}
	if os.Getenv("RETAIN_BENCH_NEW") != "" {
		// As in EngineLarge: 20,000 purchases of the last hour.
		rng := rand.New(rand.NewPCG(9, 9))
		batch := make([]core.Interaction, 20000)
		for k := range batch {
			batch[k] = core.Interaction{CustomerID: core.ID(1 + rng.IntN(g.customers)), Type: core.TypePurchase,
				Time: now.Add(-time.Duration(rng.IntN(3600)) * time.Second), Amount: 1000, Currency: "EUR"}
		}
		g.add(batch)
		if err := e.CatchUp(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	c0 := cpu()
	for i := 0; i < b.N; i++ {
		measureFit(b, e, ctx)
	}
	b.ReportMetric((cpu()-c0).Seconds()/float64(b.N), "cpu-s/op")
	b.StopTimer()
	// The same fit started from the estimates (what refits do).
	q := analytics.FitQuery{CalibrationEnd: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), SkipSpend: true}
	rep, err := e.Fit(ctx, q)
	if err != nil || rep.BGNBD == nil {
		b.Fatal(err)
	}
	q.From = rep.BGNBD
	t0 := time.Now()
	warm, err := e.Fit(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "warm-s")
	b.Logf("warm start: %d iterations, %d evaluations", warm.Fit.Iterations, warm.Fit.Evaluations)
}
