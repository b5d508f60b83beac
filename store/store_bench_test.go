package store

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

// Benchmarks. The small ones run in CI; BenchmarkLarge is opt-in
// (RETAIN_BENCH_LARGE=1) and builds 1M customers / 10M interactions
// (RETAIN_BENCH_INTERACTIONS overrides the interaction count).

func openBench(b *testing.B, noSync bool) *DB {
	b.Helper()
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// seedCustomers creates n customers through UpsertCustomers in batches.
func seedCustomers(tb testing.TB, db *DB, n int, jsonBytes *int64) []core.ID {
	ctx := context.Background()
	ids := make([]core.ID, 0, n)
	for start := 0; start < n; start += core.MaxBatch {
		batch := make([]core.Customer, 0, core.MaxBatch)
		for i := start; i < min(n, start+core.MaxBatch); i++ {
			batch = append(batch, benchCustomer(i))
		}
		out, _, err := db.UpsertCustomers(ctx, batch, nil)
		if err != nil {
			tb.Fatal(err)
		}
		for _, c := range out {
			ids = append(ids, c.ID)
			if jsonBytes != nil {
				js, _ := json.Marshal(c)
				*jsonBytes += int64(len(js)) + 1
			}
		}
	}
	return ids
}

func benchCustomer(i int) core.Customer {
	tags := []string{"source.import"}
	if i%10 == 0 {
		tags = append(tags, "vip")
	}
	return core.Customer{
		ExternalID: "cust-" + strconv.Itoa(i), Name: "Customer " + strconv.Itoa(i),
		Emails: []string{"customer" + strconv.Itoa(i) + "@example.com"}, Phones: []string{fmt.Sprintf("+4860%07d", i)},
		Address:    core.Address{City: "Warsaw", Country: "PL"},
		Attributes: map[string]any{"segment": "retail", "score": float64(i % 100)},
		Tags:       tags, CreatedAt: t0, UpdatedAt: t0,
	}
}

// benchInteraction is a purchase, a page view or a note, with an
// idempotency key as an importer would set.
func benchInteraction(r *rand.Rand, cust core.ID, at time.Time, n int) core.Interaction {
	in := core.Interaction{CustomerID: cust, Time: at, CreatedAt: at, IdempotencyKey: "src:" + strconv.Itoa(n)}
	switch n % 3 {
	case 0:
		in.Type, in.Amount, in.Currency = core.TypePurchase, int64(500+r.IntN(20000)), "EUR"
		in.Items = []core.LineItem{{SKU: "SKU-" + strconv.Itoa(r.IntN(5000)), Name: "Product", Quantity: 1 + int64(r.IntN(3)), UnitPrice: in.Amount}}
	case 1:
		in.Type, in.Channel = core.TypePageView, "web"
		in.Properties = map[string]string{"path": "/products/" + strconv.Itoa(r.IntN(5000))}
	default:
		in.Type, in.Text = core.TypeNote, "Called about the order; will follow up next week."
	}
	return in
}

func benchBatch(r *rand.Rand, ids []core.ID, size int, next *int, at *time.Time) []core.Interaction {
	batch := make([]core.Interaction, size)
	for i := range batch {
		*at = at.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
		batch[i] = benchInteraction(r, ids[r.IntN(len(ids))], *at, *next)
		*next++
	}
	return batch
}

// groupedBatch is what the demo generator and a per-customer export emit:
// each customer's events together (10 here), in time order, spread over two
// years, customers in order, with keys derived from the customer number.
func groupedBatch(r *rand.Rand, ids []core.ID, size int, next *int) []core.Interaction {
	const perCustomer = 10
	const span = 2 * 365 * 24 * time.Hour
	batch := make([]core.Interaction, 0, size)
	for len(batch) < size {
		c := *next / perCustomer
		times := make([]time.Time, perCustomer)
		for j := range times {
			times[j] = t0.Add(-time.Duration(r.Int64N(int64(span))))
		}
		slices.SortFunc(times, time.Time.Compare)
		for j, at := range times {
			in := benchInteraction(r, ids[c%len(ids)], at, *next)
			in.IdempotencyKey = "demo:d2c:1:" + strconv.Itoa(c+1) + ":" + strconv.Itoa(j)
			batch = append(batch, in)
			*next++
		}
	}
	return batch
}

func BenchmarkAppendInteractions(b *testing.B) {
	for _, bc := range []struct {
		name      string
		customers int
		batch     int
		noSync    bool
		grouped   bool
	}{
		{"durable/10k-customers/batch=10000", 10_000, 10_000, false, false},
		{"durable/10k-customers/batch=1000", 10_000, 1000, false, false},
		{"nosync/100k-customers/batch=10000", 100_000, 10_000, true, false},
		{"durable/100k-customers/grouped/batch=10000", 100_000, 10_000, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db := openBench(b, bc.noSync)
			ids := seedCustomers(b, db, bc.customers, nil)
			r := rand.New(rand.NewPCG(1, 2))
			next, at := 0, t0
			ctx := context.Background()
			var total int
			var spent, cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				var batch []core.Interaction
				if bc.grouped {
					batch = groupedBatch(r, ids, bc.batch, &next)
				} else {
					batch = benchBatch(r, ids, bc.batch, &next, &at)
				}
				runtime.GC() // the batch's garbage is not the store's
				b.StartTimer()
				start, c0 := time.Now(), cpuTime()
				if _, err := db.AppendInteractions(ctx, batch); err != nil {
					b.Fatal(err)
				}
				spent += time.Since(start)
				cpu += cpuTime() - c0
				total += len(batch)
			}
			b.ReportMetric(float64(total)/spent.Seconds(), "interactions/s")
			// CPU seconds of the whole process (GC included): a figure that
			// does not depend on what else the shared machine runs.
			b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/interaction")
		})
	}
}

func BenchmarkTimelinePage(b *testing.B) {
	db := openBench(b, true)
	ids := seedCustomers(b, db, 2000, nil)
	r := rand.New(rand.NewPCG(3, 4))
	next, at := 0, t0
	for range 20 { // 200k interactions, ~100 per customer
		if _, err := db.AppendInteractions(context.Background(), benchBatch(r, ids, 10_000, &next, &at)); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []core.TimelineQuery{{Limit: 50}, {Limit: 50, Types: []core.InteractionType{core.TypePurchase}}} {
		b.Run(fmt.Sprintf("types=%v", q.Types), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				p, err := db.Timeline(ctx, ids[r.IntN(len(ids))], q)
				if err != nil || len(p.Items) == 0 {
					b.Fatal(err, len(p.Items))
				}
			}
		})
	}
}

func BenchmarkUpsertCustomers(b *testing.B) {
	for _, mode := range []string{"create", "merge"} {
		b.Run(mode, func(b *testing.B) {
			db := openBench(b, false)
			ctx := context.Background()
			n := 0
			var total int
			var spent time.Duration
			for b.Loop() {
				b.StopTimer()
				batch := make([]core.Customer, 1000)
				for i := range batch {
					k := n
					if mode == "merge" {
						k = n % 5000 // after the first rounds every row merges
					}
					batch[i] = benchCustomer(k)
					batch[i].Name = "Renamed " + strconv.Itoa(n)
					n++
				}
				b.StartTimer()
				start := time.Now()
				if _, _, err := db.UpsertCustomers(ctx, batch, nil); err != nil {
					b.Fatal(err)
				}
				spent += time.Since(start)
				total += len(batch)
			}
			b.ReportMetric(float64(total)/spent.Seconds(), "customers/s")
		})
	}
}

// BenchmarkLarge builds the DESIGN.md target size with durable commits and
// reports what docs/PERFORMANCE.md quotes. It runs once (-benchtime=1x).
func BenchmarkLarge(b *testing.B) {
	if os.Getenv("RETAIN_BENCH_LARGE") != "1" {
		b.Skip("set RETAIN_BENCH_LARGE=1 to build 1M customers / 10M interactions")
	}
	nCust, nInter := 1_000_000, 10_000_000
	if v, err := strconv.Atoi(os.Getenv("RETAIN_BENCH_INTERACTIONS")); err == nil && v > 0 {
		nInter = v
	}
	if v, err := strconv.Atoi(os.Getenv("RETAIN_BENCH_CUSTOMERS")); err == nil && v > 0 {
		nCust = v
	}
	dir := os.Getenv("RETAIN_BENCH_DIR") // a real disk rather than tmpfs, if wanted
	if dir == "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, "large.db")
	os.Remove(path)
	defer os.Remove(path)
	ctx := context.Background()
	for b.Loop() {
		db, err := Open(ctx, path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		var jsonBytes int64
		start := time.Now()
		ids := seedCustomers(b, db, nCust, &jsonBytes)
		custTime := time.Since(start)

		r := rand.New(rand.NewPCG(5, 6))
		next, at := 0, t0
		var appendTime time.Duration
		var done int
		for done < nInter {
			batch := benchBatch(r, ids, min(core.MaxBatch, nInter-done), &next, &at)
			for i := range batch {
				js, _ := json.Marshal(batch[i])
				jsonBytes += int64(len(js)) + 1
			}
			s := time.Now()
			res, err := db.AppendInteractions(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			appendTime += time.Since(s)
			done += len(batch)
			if res[0].Duplicate {
				b.Fatal("unexpected duplicate")
			}
			if done%1_000_000 == 0 {
				b.Logf("%d interactions, %.0f/s so far", done, float64(done)/appendTime.Seconds())
			}
		}
		// Timeline pages for random customers (each has ~nInter/nCust items).
		lat := make([]time.Duration, 0, 2000)
		for range 2000 {
			s := time.Now()
			p, err := db.Timeline(ctx, ids[r.IntN(len(ids))], core.TimelineQuery{Limit: 50})
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(s))
			_ = p
		}
		slices.Sort(lat)
		st, _ := db.Stats(ctx)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(nCust)/custTime.Seconds(), "customers/s")
		b.ReportMetric(float64(nInter)/appendTime.Seconds(), "interactions/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "timeline-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "timeline-p99-ms")
		b.ReportMetric(float64(st.SizeBytes)/(1<<20), "file-MiB")
		b.ReportMetric(float64(jsonBytes)/(1<<20), "jsonl-MiB")
		b.ReportMetric(float64(st.SizeBytes)/float64(jsonBytes), "file/jsonl")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
		b.Logf("customers %d in %v; interactions %d in %v; file %d bytes; JSON lines %d bytes",
			nCust, custTime, nInter, appendTime, st.SizeBytes, jsonBytes)
		db.Close()
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendOnlineRetail imports the real UCI Online Retail invoice
// lines (406,829 with a customer; 4,372 customers) in file order, in batches
// of 10,000 with idempotency keys, as the importer would. Customers cluster
// in time there, which is the common case for real imports.
func BenchmarkAppendOnlineRetail(b *testing.B) {
	path := filepath.Join("..", "..", "shared", "data", "online_retail", "online_retail.csv.gz")
	f, err := os.Open(path)
	if err != nil {
		b.Skipf("dataset not available (%v); it lives in ../shared/data next to the repository", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	rd := csv.NewReader(zr)
	if _, err := rd.Read(); err != nil {
		b.Fatal(err)
	}
	type row struct {
		cust string
		in   core.Interaction
	}
	var rows []row
	for line := 2; ; line++ {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if rec[6] == "" {
			continue
		}
		at, err := time.Parse("2006-01-02 15:04:05", rec[4])
		if err != nil {
			b.Fatal(err)
		}
		qty, _ := strconv.ParseInt(rec[3], 10, 64)
		price, _ := strconv.ParseFloat(rec[5], 64)
		cents := int64(math.Round(price * 100))
		typ := core.TypePurchase
		if strings.HasPrefix(rec[0], "C") {
			typ, qty = core.TypeRefund, -qty
		}
		rows = append(rows, row{cust: rec[6], in: core.Interaction{
			Type: typ, Time: at, Amount: qty * cents, Currency: "GBP",
			Items:          []core.LineItem{{SKU: rec[1], Name: rec[2], Quantity: qty, UnitPrice: cents}},
			Properties:     map[string]string{"invoice": rec[0], "country": rec[7]},
			IdempotencyKey: "online_retail:" + strconv.Itoa(line), CreatedAt: at,
		}})
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		db, err := Open(ctx, filepath.Join(b.TempDir(), "retail.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		ids := map[string]core.ID{}
		var custs []core.Customer
		for _, r := range rows {
			if _, ok := ids[r.cust]; !ok {
				ids[r.cust] = 0
				custs = append(custs, core.Customer{ExternalID: r.cust, CreatedAt: t0, UpdatedAt: t0})
			}
		}
		out, _, err := db.UpsertCustomers(ctx, custs, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range out {
			ids[c.ExternalID] = c.ID
		}
		var jsonBytes int64
		batches := make([][]core.Interaction, 0, len(rows)/core.MaxBatch+1)
		for i := 0; i < len(rows); i += core.MaxBatch {
			batch := make([]core.Interaction, 0, core.MaxBatch)
			for _, r := range rows[i:min(len(rows), i+core.MaxBatch)] {
				in := r.in
				in.CustomerID = ids[r.cust]
				js, _ := json.Marshal(in)
				jsonBytes += int64(len(js)) + 1
				batch = append(batch, in)
			}
			batches = append(batches, batch)
		}
		runtime.GC()
		b.StartTimer()
		start, c0 := time.Now(), cpuTime()
		for _, batch := range batches {
			if _, err := db.AppendInteractions(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		spent, cpu := time.Since(start), cpuTime()-c0
		b.StopTimer()
		st, _ := db.Stats(ctx)
		b.ReportMetric(float64(len(rows))/spent.Seconds(), "interactions/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(rows)), "cpu-µs/interaction")
		b.ReportMetric(float64(st.SizeBytes)/float64(jsonBytes), "file/jsonl")
		if errs := db.Check(ctx); len(errs) > 0 {
			b.Fatal(errs)
		}
		db.Close()
		b.StartTimer()
	}
}
