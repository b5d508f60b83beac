package retention

import (
	"bufio"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

// dataDir returns ../shared/data relative to the repository root, or skips.
func dataDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data folder %s is absent: %v", dir, err)
	}
	return dir
}

// cdnowInteractions reads cdnowElog.csv (the 1/10 sample) as purchases.
func cdnowInteractions(t testing.TB) []core.Interaction {
	f, err := os.Open(filepath.Join(dataDir(t), "cdnow", "cdnowElog.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []core.Interaction
	for _, r := range rows[1:] {
		id, _ := strconv.ParseUint(r[1], 10, 64)
		day, err := time.Parse("20060102", r[2])
		if err != nil {
			t.Fatal(err)
		}
		amt, err := core.ParseAmount(r[4], "USD")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, core.Interaction{CustomerID: core.ID(id), Type: core.TypePurchase, Time: day.Add(13 * time.Hour), Amount: amt, Currency: "USD"})
	}
	if len(out) != 6919 {
		t.Fatalf("read %d rows, want 6919", len(out))
	}
	return out
}

func seqOf(ins []core.Interaction) func(func(core.Interaction) bool) {
	return func(yield func(core.Interaction) bool) {
		for _, in := range ins {
			if !yield(in) {
				return
			}
		}
	}
}

var (
	cdnowCalEnd  = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)
	cdnowHoldEnd = time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
)

func cdnowSummaries(t testing.TB) *Summaries {
	s, err := Summarize(seqOf(cdnowInteractions(t)), SummaryOptions{Unit: Week, CalibrationEnd: cdnowCalEnd, HoldoutEnd: cdnowHoldEnd})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCDNOWSummaries cross-checks our summaries with the published
// per-customer summary (x, t_x, T, zbar rounded to 2 dp).
func TestCDNOWSummaries(t *testing.T) {
	s := cdnowSummaries(t)
	if len(s.Customers) != 2357 || s.HoldoutLength != 39 {
		t.Fatalf("customers %d holdout %v, want 2357 and 39 weeks", len(s.Customers), s.HoldoutLength)
	}
	if rep := Repeaters(s.Customers); rep != 946 {
		t.Errorf("repeaters %d, want 946", rep)
	}
	f, err := os.Open(filepath.Join(dataDir(t), "cdnow", "cdnow_customers_summary_with_transactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	n, sumX := 0, 0
	for sc.Scan() {
		fs := strings.Split(strings.TrimSpace(sc.Text()), ",")
		id, _ := strconv.Atoi(fs[0])
		x, _ := strconv.Atoi(fs[1])
		tx, _ := strconv.ParseFloat(fs[2], 64)
		T, _ := strconv.ParseFloat(fs[3], 64)
		zbar, _ := strconv.ParseFloat(fs[4], 64)
		c := s.Customers[id-1]
		if int(c.CustomerID) != id || c.X != x || math.Abs(c.Tx-tx) > 0.0051 || math.Abs(c.T-T) > 0.0051 || math.Abs(c.Monetary/100-zbar) > 0.0051 {
			t.Errorf("customer %d: got x=%d t_x=%.3f T=%.3f m=%.3f, want %d %.2f %.2f %.2f", id, c.X, c.Tx, c.T, c.Monetary/100, x, tx, T, zbar)
		}
		n++
		sumX += x
	}
	if n != 2357 || sumX != 2457 {
		t.Errorf("reference rows %d, repeat transactions %d; want 2357 and 2457", n, sumX)
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// TestCDNOWBGNBD reproduces the published estimates of Fader, Hardie & Lee
// (2005): r = 0.243, α = 4.414, a = 0.793, b = 2.426.
func TestCDNOWBGNBD(t *testing.T) {
	s := cdnowSummaries(t)
	fit, err := FitBGNBD(context.Background(), s.Customers, Guard{})
	if err != nil {
		t.Fatalf("fit: %v (%+v)", err, fit)
	}
	t.Logf("fit %+v", fit)
	got := [4]float64{round(fit.R, 3), round(fit.Alpha, 3), round(fit.A, 3), round(fit.B, 3)}
	if want := [4]float64{0.243, 4.414, 0.793, 2.426}; got != want {
		t.Errorf("BG/NBD estimates %v, want %v", got, want)
	}
	// Published maximised log-likelihood: −9582.4.
	if round(fit.LogLik, 1) != -9582.4 {
		t.Errorf("log-likelihood %.3f, want −9582.4", fit.LogLik)
	}
	if fit.Agreeing != fit.Starts {
		t.Errorf("only %d of %d starts agree", fit.Agreeing, fit.Starts)
	}
}

// TestCDNOWGammaGamma reproduces Fader & Hardie (2013): p = 6.25, q = 3.74,
// γ = 15.44 (dollars).
func TestCDNOWGammaGamma(t *testing.T) {
	s := cdnowSummaries(t)
	fit, err := FitGammaGamma(context.Background(), s.Customers, Guard{})
	if err != nil {
		t.Fatalf("fit: %v (%+v)", err, fit)
	}
	t.Logf("fit %+v", fit)
	got := [3]float64{round(fit.P, 2), round(fit.Q, 2), round(fit.Gamma/100, 2)}
	if want := [3]float64{6.25, 3.74, 15.44}; got != want {
		t.Errorf("Gamma-Gamma estimates %v, want %v", got, want)
	}
	if fit.Repeaters != 946 {
		t.Errorf("fitted on %d customers, want 946", fit.Repeaters)
	}
}
