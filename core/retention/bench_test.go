package retention

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

func largeBench(b *testing.B) {
	if os.Getenv("RETAIN_BENCH_LARGE") != "1" {
		b.Skip("set RETAIN_BENCH_LARGE=1 to run the large benchmarks")
	}
}

func BenchmarkFitBGNBDCDNOW(b *testing.B) {
	s := cdnowSummaries(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := FitBGNBD(context.Background(), s.Customers, Guard{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFitGammaGammaCDNOW(b *testing.B) {
	s := cdnowSummaries(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := FitGammaGamma(context.Background(), s.Customers, Guard{}); err != nil {
			b.Fatal(err)
		}
	}
}

// simulatedDays simulates n customers acquired over a year, with times on
// a whole-day grid (as Summarize produces), in weeks.
func simulatedDays(n int) []Summary {
	rng := rand.New(rand.NewPCG(42, 43))
	T := make([]float64, n)
	for i := range T {
		T[i] = float64(rng.IntN(365)) / 7
	}
	data := SimulateBGNBD(rng, BGNBD{0.243, 4.414, 0.793, 2.426}, T, 0)
	for i := range data {
		data[i].Tx = float64(int(data[i].Tx*7)) / 7
	}
	return data
}

func BenchmarkFitBGNBD1M(b *testing.B) {
	largeBench(b)
	data := simulatedDays(1_000_000)
	b.ResetTimer()
	for b.Loop() {
		fit, err := FitBGNBD(context.Background(), data, Guard{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fit.Evaluations), "evals")
	}
}

func BenchmarkPredict1M(b *testing.B) {
	largeBench(b)
	data := simulatedDays(1_000_000)
	bg, gg := BGNBD{0.243, 4.414, 0.793, 2.426}, GammaGamma{6.25, 3.74, 1544}
	SimulateGammaGamma(rand.New(rand.NewPCG(1, 2)), gg, data)
	b.ResetTimer()
	for b.Loop() {
		Predict(bg, &gg, data, CLVOptions{Horizon: 52, Period: 52.0 / 12, DiscountRate: 0.01})
	}
}

// BenchmarkSummarize10M summarises 10 million purchases of 1 million
// customers, in time order.
func BenchmarkSummarize10M(b *testing.B) {
	largeBench(b)
	n, customers := 10_000_000, 1_000_000
	if os.Getenv("RETAIN_BENCH_SMALL") == "1" {
		n, customers = 1_000_000, 100_000
	}
	rng := rand.New(rand.NewPCG(7, 7))
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	ins := make([]core.Interaction, n)
	for i := range ins {
		ins[i] = core.Interaction{CustomerID: core.ID(1 + rng.IntN(customers)), Type: core.TypePurchase,
			Time: base.Add(time.Duration(i) * 3 * time.Second), Amount: int64(rng.IntN(10000)), Currency: "EUR"}
	}
	opt := SummaryOptions{Unit: Week, CalibrationEnd: base.AddDate(0, 0, 250), HoldoutEnd: base.AddDate(0, 0, 347)}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Summarize(seqOf(ins), opt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCohortsOnlineRetail(b *testing.B) {
	inv := loadRetail(b)
	for b.Loop() {
		if _, err := Cohorts(retailSeq(inv), CohortOptions{Period: PeriodMonth, End: retailEnd}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRFMOnlineRetail(b *testing.B) {
	inv := loadRetail(b)
	for b.Loop() {
		if _, err := RFM(retailSeq(inv), RFMOptions{End: retailEnd}); err != nil {
			b.Fatal(err)
		}
	}
}
