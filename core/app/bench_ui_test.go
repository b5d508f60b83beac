package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/app"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/web"
)

// BenchmarkUICustomers measures the staff UI's two hot pages on a big
// database through the real handler with a browser session: the customer
// page (GET /customers/:id of random customers: record, key figures,
// purchases, first timeline page, profile, render) and the search-as-you-type
// fragment (GET /customers?q=<3 letters> with HX-Request). Server time only
// (no network), p50 and p99 over b.N requests of each.
//
// Opt-in. Either point it at a filled data folder:
//
//	retain demo --data /tmp/big --industry d2c --customers 1000000 --interactions 2000000 && retain reindex --data /tmp/big
//	RETAIN_BENCH_DATA=/tmp/big go test ./core/app -run XXX -bench UICustomers -benchtime 1000x
//
// or let it build one in a temp folder (takes minutes: demo data, then an
// index rebuild): RETAIN_BENCH_LARGE=1 [RETAIN_BENCH_CUSTOMERS=100000].
func BenchmarkUICustomers(b *testing.B) {
	u := openUIBench(b)
	a, h, cookie, n := u.app, u.h, u.cookie, u.n
	ctx := context.Background()

	// Three leading letters of random customers' names, as staff type them.
	rng := rand.New(rand.NewPCG(3, 4))
	var queries []string
	for len(queries) < 500 {
		c, err := a.Store.GetCustomer(ctx, core.ID(1+rng.IntN(n)))
		if err != nil {
			continue
		}
		if r := []rune(strings.ToLower(c.Name)); len(r) >= 3 {
			queries = append(queries, string(r[:3]))
		}
	}
	get := func(path string, htmx bool) time.Duration {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(cookie)
		if htmx {
			req.Header.Set("HX-Request", "true")
		}
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		return d
	}
	customer := func() string { return fmt.Sprintf("/customers/%d", 1+rng.IntN(n)) }
	// A short warm-up so the first page faults of the memory-mapped files
	// are not all charged to the first requests.
	withSearch := os.Getenv("RETAIN_BENCH_NO_INDEX") != "1"
	for i := 0; i < 50; i++ {
		get(customer(), false)
		if withSearch {
			get("/customers?q="+url.QueryEscape(queries[i%len(queries)]), true)
		}
	}
	var page, search, seen []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		page = append(page, get(customer(), false))
		if withSearch {
			search = append(search, get("/customers?q="+url.QueryEscape(queries[i%len(queries)]), true))
		}
		if i%10 == 0 {
			// The list filtered by last seen without text reads the
			// store (up to 2,000 customers a page); sampled.
			seen = append(seen, get(fmt.Sprintf("/customers?seen=30&cursor=%s", cursorAt(1+rng.IntN(n))), true))
		}
	}
	b.StopTimer()
	b.ReportMetric(pct(seen, 50), "seen30-p50-ms")
	b.ReportMetric(pct(seen, 99), "seen30-p99-ms")
	b.ReportMetric(pct(page, 50), "page-p50-ms")
	b.ReportMetric(pct(page, 99), "page-p99-ms")
	if withSearch {
		b.ReportMetric(pct(search, 50), "search-p50-ms")
		b.ReportMetric(pct(search, 99), "search-p99-ms")
	}
	b.ReportMetric(float64(n), "customers")
}

// cursorAt starts the store's listing after customer id, as a Next link
// would (the cursor is the store's: base64url of the big-endian id; the
// benchmark may know that, the UI does not).
func cursorAt(id int) string {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(id))
	return base64.RawURLEncoding.EncodeToString(k[:])
}

// uiBench is the opened database, shared by the runs of the benchmark
// (Go runs it with b.N = 1 first): building 1M customers twice would take
// an hour.
type uiBenchState struct {
	once   sync.Once
	app    *app.App
	h      http.Handler
	cookie *http.Cookie
	n      int
	err    error
}

var uiBench uiBenchState

func openUIBench(b *testing.B) *uiBenchState {
	if os.Getenv("RETAIN_BENCH_DATA") == "" && os.Getenv("RETAIN_BENCH_LARGE") != "1" {
		b.Skip("set RETAIN_BENCH_LARGE=1 (builds demo data) or RETAIN_BENCH_DATA to a filled data folder")
	}
	u := &uiBench
	u.once.Do(func() { u.err = setupUIBench(b) })
	if u.err != nil {
		b.Fatal(u.err)
	}
	return u
}

func setupUIBench(b *testing.B) error {
	ctx := context.Background()
	dir := os.Getenv("RETAIN_BENCH_DATA")
	if dir == "" {
		n := 1_000_000
		if v := os.Getenv("RETAIN_BENCH_CUSTOMERS"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 1 {
				return fmt.Errorf("RETAIN_BENCH_CUSTOMERS=%q", v)
			}
		}
		var err error
		if dir, err = os.MkdirTemp("", "retain-bench-ui-"); err != nil {
			return err
		}
		start := time.Now()
		var errb strings.Builder
		env := &app.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errb}
		if code := app.Main(ctx, []string{"retain", "demo", "--data", dir, "--industry", "d2c", "--customers", strconv.Itoa(n),
			"--interactions", strconv.Itoa(2 * n)}, env); code != 0 {
			return fmt.Errorf("demo: %s", errb.String())
		}
		if code := app.Main(ctx, []string{"retain", "reindex", "--data", dir}, env); code != 0 {
			return fmt.Errorf("reindex: %s", errb.String())
		}
		b.Logf("demo data for %d customers and its index built in %s in %s (kept: rerun with RETAIN_BENCH_DATA=%s, delete it when done)",
			n, time.Since(start).Round(time.Second), dir, dir)
	}
	cfg := config.Default()
	cfg.Storage.DataDir = dir
	a, err := app.Open(ctx, cfg, app.NewLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	// Left open for the process's life: the benchmark's runs share it.
	// RETAIN_BENCH_NO_INDEX=1 measures the pages that need no index (the
	// customer page, the last-seen list) on a folder whose index is not
	// built: at 1M customers and millions of interactions the rebuild
	// takes over an hour on 2 shared cores.
	if os.Getenv("RETAIN_BENCH_NO_INDEX") != "1" {
		if err := a.Index.CatchUp(ctx); err != nil {
			return err
		}
	}
	srv, err := web.New(web.Deps{Config: cfg, Service: a.Service, Store: a.Store, Logger: a.Log})
	if err != nil {
		return err
	}
	n, err := a.Store.CountCustomers(ctx)
	if err != nil || n == 0 {
		return fmt.Errorf("no customers in %s: %v", dir, err)
	}
	uiBench.app, uiBench.h, uiBench.cookie, uiBench.n = a, srv.Handler(), benchSession(b, a), n
	return nil
}

// benchSession signs a viewer in the way the sign-in page does (a session
// in the store, its secret in the cookie) without paying argon2id.
func benchSession(b *testing.B, a *app.App) *http.Cookie {
	ctx := context.Background()
	email := fmt.Sprintf("bench-%d@example.com", time.Now().UnixNano())
	u, err := a.Store.CreateUser(ctx, core.User{Email: email, Name: "Bench", Role: core.RoleViewer, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	secret := fmt.Sprintf("bench-secret-%d", time.Now().UnixNano())
	sum := sha256.Sum256([]byte(secret))
	now := time.Now().UTC()
	if err := a.Store.CreateSession(ctx, core.Session{Hash: sum[:], UserID: u.ID, CSRF: "bench", CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		b.Fatal(err)
	}
	return &http.Cookie{Name: "retain_session", Value: secret}
}
