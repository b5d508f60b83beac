package app_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/app"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/web"
)

// BenchmarkDashboardPage measures the retention dashboard page (GET
// /dashboard: the engine's dashboard, the SVG charts and the template)
// through the real handler on demo data: "cached" when nothing changed,
// "after-event" when one purchase arrived since (the engine applies it
// incrementally, the dashboard is rebuilt). 2,000 demo customers by
// default; RETAIN_BENCH_LARGE=1 uses RETAIN_BENCH_CUSTOMERS (default
// 100,000).
func BenchmarkDashboardPage(b *testing.B) {
	n := 2000
	if os.Getenv("RETAIN_BENCH_LARGE") == "1" {
		n = 100_000
		if v, err := strconv.Atoi(os.Getenv("RETAIN_BENCH_CUSTOMERS")); err == nil && v > 0 {
			n = v
		}
	}
	data := filepath.Join(b.TempDir(), "data")
	if code, _, errOut := runCLIB(b, "demo", "--data", data, "--customers", strconv.Itoa(n), "--industry", "d2c"); code != 0 {
		b.Fatalf("demo: %s", errOut)
	}
	ctx := context.Background()
	cfg := config.Default()
	cfg.Storage.DataDir = data
	cfg.Business.Currency = "EUR"
	a, err := app.Open(ctx, cfg, app.NewLogger(cfg, discard{}))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	if err := a.Analytics.CatchUp(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d demo customers: engine built in %v", n, time.Since(start).Round(time.Millisecond))
	srv, err := web.New(web.Deps{Config: cfg, Service: a.Service, Store: a.Store, Analytics: a.Analytics, Logger: app.NewLogger(cfg, discard{})})
	if err != nil {
		b.Fatal(err)
	}
	u, err := a.Store.CreateUser(ctx, core.User{Email: "bench@example.com", Role: core.RoleManager, PasswordHash: "x", CreatedAt: time.Now().UTC()})
	if err != nil {
		b.Fatal(err)
	}
	secret := "bench-session-secret-0123456789abcdef"
	hsum := sha256.Sum256([]byte(secret))
	now := time.Now().UTC()
	if err := a.Store.CreateSession(ctx, core.Session{Hash: hsum[:], UserID: u.ID, CSRF: "c", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	get := func() {
		req := httptest.NewRequest(http.MethodGet, "/dashboard?period=month", nil)
		req.AddCookie(&http.Cookie{Name: "retain_session", Value: secret})
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("dashboard: %d", rec.Code)
		}
	}
	get()
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			get()
		}
	})
	b.Run("after-event", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			if _, err := a.Service.AppendInteractions(ctx, []core.Interaction{{CustomerID: core.ID(1 + i%n), Type: core.TypePurchase,
				Time: time.Now().UTC(), Amount: 1000, Currency: "EUR", IdempotencyKey: fmt.Sprintf("bench-%d", i)}}); err != nil {
				b.Fatal(err)
			}
			if err := a.Analytics.CatchUp(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			get()
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func runCLIB(b *testing.B, args ...string) (int, string, string) {
	var out, errb bytesBuffer
	code := app.Main(context.Background(), append([]string{"retain"}, args...), &app.Env{Stdout: &out, Stderr: &errb})
	return code, string(out), string(errb)
}

type bytesBuffer []byte

func (w *bytesBuffer) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }
