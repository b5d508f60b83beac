package app_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/app"
	"github.com/retain-crm/retain/core/auth"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/web"
)

// BenchmarkServeLarge measures what staff feel on a big database: the
// search-as-you-type request and one customer's timeline page through the
// real HTTP handler, and the Go heap while serving. It needs a data folder
// filled beforehand, e.g.
//
//	retain demo --data /tmp/big --industry d2c --customers 1000000 --interactions 10000000
//	RETAIN_BENCH_DATA=/tmp/big go test ./core/app -run XXX -bench ServeLarge -benchtime 2000x
func BenchmarkServeLarge(b *testing.B) {
	dir := os.Getenv("RETAIN_BENCH_DATA")
	if dir == "" {
		b.Skip("set RETAIN_BENCH_DATA to a filled data folder (see the comment)")
	}
	ctx := context.Background()
	cfg := config.Default()
	cfg.Storage.DataDir = dir
	a, err := app.Open(ctx, cfg, app.NewLogger(cfg, io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	if err := a.Index.CatchUp(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("index caught up in %s", time.Since(start))
	secret, prefix, hash, _ := auth.NewToken()
	if _, err := a.Store.CreateToken(ctx, core.Token{Name: "bench", Prefix: prefix, Hash: hash, Scopes: []core.Scope{core.ScopeAdmin}, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	srv, err := web.New(web.Deps{Config: cfg, Service: a.Service, Store: a.Store, Logger: a.Log})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	n, err := a.Store.CountCustomers(ctx)
	if err != nil || n == 0 {
		b.Fatalf("no customers in %s: %v", dir, err)
	}
	// Queries as staff type them: 2 to 6 leading characters of a real
	// customer's name or email.
	rng := rand.New(rand.NewPCG(1, 2))
	var queries []string
	for len(queries) < 500 {
		c, err := a.Store.GetCustomer(ctx, core.ID(1+rng.IntN(n)))
		if err != nil {
			continue
		}
		src := c.Name
		if rng.IntN(3) == 0 && len(c.Emails) > 0 {
			src = c.Emails[0]
		}
		r := []rune(strings.ToLower(src))
		if len(r) >= 2 {
			queries = append(queries, string(r[:2+rng.IntN(min(5, len(r)-1))]))
		}
	}
	get := func(path string) time.Duration {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		return d
	}
	var search, timeline []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := queries[i%len(queries)]
		search = append(search, get("/api/v1/search?q="+url.QueryEscape(q)))
		timeline = append(timeline, get(fmt.Sprintf("/api/v1/customers/%d/timeline?limit=50", 1+rng.IntN(n))))
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(pct(search, 50), "search-p50-ms")
	b.ReportMetric(pct(search, 99), "search-p99-ms")
	b.ReportMetric(pct(timeline, 50), "timeline-p50-ms")
	b.ReportMetric(pct(timeline, 99), "timeline-p99-ms")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MB")
	b.ReportMetric(float64(n), "customers")
}

func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Microseconds()) / 1000
}
