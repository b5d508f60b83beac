package retention

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/retain-crm/retain/core"
)

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(1, math.Abs(want))
}

func TestDigamma(t *testing.T) {
	const euler = 0.57721566490153286
	for _, c := range []struct{ x, want float64 }{
		{1, -euler},
		{0.5, -euler - 2*math.Ln2},
		{10, 2.2517525890667211},
		{0.01, -100.56088545786867},
		{123.4, math.Log(123.4) - 1/246.8 - 1/(12*123.4*123.4) + 1/(120*math.Pow(123.4, 4))}, // asymptotic series, converged
	} {
		if got := digamma(c.x); !near(got, c.want, 1e-12) {
			t.Errorf("digamma(%v) = %.16g, want %.16g", c.x, got, c.want)
		}
	}
	// ψ is the derivative of ln Γ.
	for _, x := range []float64{0.03, 0.7, 2.5, 7, 40} {
		h := 1e-5 * x
		fd := (lgamma(x+h) - lgamma(x-h)) / (2 * h)
		if !near(digamma(x), fd, 1e-7) {
			t.Errorf("digamma(%v) = %v, finite difference %v", x, digamma(x), fd)
		}
	}
	if !math.IsNaN(digamma(0)) || !math.IsNaN(digamma(-1)) {
		t.Error("digamma of non-positive arguments must be NaN")
	}
}

func TestHyp2F1Series(t *testing.T) {
	for _, z := range []float64{0, 0.1, 0.5, 0.9, 0.99, 0.999} {
		cases := []struct {
			name       string
			a, b, c, v float64
		}{
			{"1,1;2 = -ln(1-z)/z", 1, 1, 2, -math.Log1p(-z) / z},
			{"a,b;b = (1-z)^-a", 0.7, 3.2, 3.2, math.Pow(1-z, -0.7)},
			{"1/2,1/2;3/2 = asin(√z)/√z", 0.5, 0.5, 1.5, math.Asin(math.Sqrt(z)) / math.Sqrt(z)},
		}
		for _, c := range cases {
			if z == 0 {
				c.v = 1
			}
			got, ok := hyp2f1Series(c.a, c.b, c.c, z)
			if !ok || !near(got, c.v, 1e-12) {
				t.Errorf("%s at z=%v: %.16g (ok=%v), want %.16g", c.name, z, got, ok, c.v)
			}
		}
	}
	if _, ok := hyp2f1Series(1, 1, -2, 0.5); ok {
		t.Error("c = −2 must be refused")
	}
	if _, ok := hyp2f1Series(1, 1, 2, 1); ok {
		t.Error("z = 1 must be refused")
	}
}

// TestExpectationSeriesVsQuadrature checks the Euler-transformed series of
// expectAlive against direct numerical integration of its definition, over
// parameters that include a = 1 (0/0 in the textbook form), large x and
// horizons far beyond α.
func TestExpectationSeriesVsQuadrature(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ms := []BGNBD{
		{0.243, 4.414, 0.793, 2.426},
		{1, 2, 1, 3},
		{2, 10, 1 + 1e-9, 0.5},
		{0.5, 1, 3, 0.7},
		{5, 0.5, 0.2, 20},
	}
	for i := 0; i < 40; i++ {
		ms = append(ms, BGNBD{math.Exp(rng.Float64()*4 - 2), math.Exp(rng.Float64()*6 - 2), math.Exp(rng.Float64()*4 - 2), math.Exp(rng.Float64()*4 - 2)})
	}
	for _, m := range ms {
		for _, c := range []struct {
			x    int
			T, t float64
		}{{0, 0, 1}, {0, 0, 52}, {1, 10, 39}, {5, 30, 100}, {60, 39, 39}, {2, 1, 1000}} {
			if c.x == 0 && m.A+m.B <= 1 {
				continue // the series does not apply; expectAlive uses quadrature itself
			}
			z := c.t / (m.Alpha + c.T + c.t)
			v, ok := bgSeries(m.A+m.B-1-m.R, m.A, m.A+m.B+float64(c.x)-1, z)
			if !ok {
				t.Errorf("%+v %+v: series did not converge", m, c)
				continue
			}
			cc := m.A + m.B + float64(c.x) - 1
			series := cc * (expm1Ratio(m.A-1, z) - math.Exp((m.A-1)*math.Log1p(-z))*v)
			quad := m.expectAliveQuad(c.x, c.T, c.t)
			if !near(series, quad, 1e-8) {
				t.Errorf("%+v %+v: series %.12g, quadrature %.12g", m, c, series, quad)
			}
		}
	}
}

// TestExpectedPurchasesTextbook compares E[X(t)] with the published formula
// evaluated with the plain 2F1 series, where that one is well conditioned.
func TestExpectedPurchasesTextbook(t *testing.T) {
	m := BGNBD{0.243, 4.414, 0.793, 2.426}
	for _, tt := range []float64{1, 10, 39, 78} {
		z := tt / (m.Alpha + tt)
		f, ok := hyp2f1Series(m.R, m.B, m.A+m.B-1, z)
		if !ok {
			t.Fatal("2F1 did not converge")
		}
		want := (m.A + m.B - 1) / (m.A - 1) * (1 - math.Pow(m.Alpha/(m.Alpha+tt), m.R)*f)
		if got := m.ExpectedPurchases(tt); !near(got, want, 1e-10) {
			t.Errorf("E[X(%v)] = %.12g, want %.12g", tt, got, want)
		}
	}
	// FHL 2005 report about 1.47 expected repeat purchases in 78 weeks... for
	// a customer of the cohort; here a sanity range.
	if e := m.ExpectedPurchases(78); e < 1 || e > 2 {
		t.Errorf("E[X(78)] = %v, outside the plausible 1..2", e)
	}
}

// TestLogLikelihoodByHand checks the likelihood against values worked out
// on paper from eq. 6 of FHL 2005.
func TestLogLikelihoodByHand(t *testing.T) {
	cases := []struct {
		name  string
		m     BGNBD
		x     int
		tx, T float64
		want  float64
	}{
		// r=α=a=b=1, x=1, t_x=1, T=2: B(1,2)/B(1,1)·1/3² + B(2,1)/B(1,1)·1/2² = 1/18 + 1/8 = 13/72
		{"unit parameters", BGNBD{1, 1, 1, 1}, 1, 1, 2, math.Log(13.0 / 72)},
		// x=0: only (α/(α+T))^r remains: (3/5)² = 0.36
		{"no repeat", BGNBD{2, 3, 2, 3}, 0, 0, 2, math.Log(0.36)},
		// r=.5, α=2, a=.5, b=1.5, x=2, t_x=1, T=3: Γ(2.5)/Γ(.5) = .75,
		// B(.5,3.5)/B(.5,1.5) = .625, B(1.5,2.5)/B(.5,1.5) = .125
		{"half parameters", BGNBD{0.5, 2, 0.5, 1.5}, 2, 1, 3,
			math.Log(0.625*0.75*math.Sqrt2/math.Pow(5, 2.5) + 0.125*0.75*math.Sqrt2/math.Pow(3, 2.5))},
	}
	for _, c := range cases {
		if got := c.m.LogLikelihood(c.x, c.tx, c.T); !near(got, c.want, 1e-13) {
			t.Errorf("%s: %.15g, want %.15g", c.name, got, c.want)
		}
	}
	if p := (BGNBD{1, 1, 1, 1}).PAlive(1, 1, 2); !near(p, 4.0/13, 1e-14) {
		t.Errorf("P(alive) = %v, want 4/13", p)
	}
	// Gamma-Gamma: x=1, m=2, p=1, q=2, γ=1: Γ(3)/(Γ(1)Γ(2)) · 2⁰ · 1 / 3³ = 2/27
	if got := (GammaGamma{1, 2, 1}).LogLikelihood(1, 2); !near(got, math.Log(2.0/27), 1e-14) {
		t.Errorf("Gamma-Gamma log-likelihood %v, want ln(2/27)", got)
	}
}

// TestCompressedLikelihood checks the fast fitting objective (compressed,
// scaled, possibly parallel) and its analytic gradient against the plain
// per-customer likelihood and finite differences.
func TestCompressedLikelihood(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	T := make([]float64, 60000) // enough records for the parallel path
	for i := range T {
		T[i] = float64(rng.IntN(300)) / 7
	}
	data := SimulateBGNBD(rng, BGNBD{0.5, 3, 0.7, 2}, T, 0)
	for i := range data { // put t_x on the day grid too, as real summaries are
		data[i].Tx = math.Floor(data[i].Tx*7) / 7
	}
	const scale = 20.0
	d := compressBG(data, scale)
	m := BGNBD{0.4, 5, 0.9, 1.7}
	theta := []float64{math.Log(m.R), math.Log(m.Alpha / scale), math.Log(m.A), math.Log(m.B)}
	g := make([]float64, 4)
	got := -d.negLL(theta, g)*d.n - d.sumX*math.Log(scale)
	want := BGNBDLogLikelihood(m, data)
	if !near(got, want, 1e-10) {
		t.Errorf("compressed log-likelihood %.10f, plain %.10f", got, want)
	}
	for i := range theta {
		h := 1e-6
		tp := append([]float64(nil), theta...)
		tp[i] += h
		fp := d.negLL(tp, nil)
		tp[i] -= 2 * h
		fm := d.negLL(tp, nil)
		if fd := (fp - fm) / (2 * h); !near(g[i], fd, 1e-6) {
			t.Errorf("gradient[%d] = %.10g, finite difference %.10g", i, g[i], fd)
		}
	}
}

func TestFitRecoversSimulatedParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	truth := BGNBD{0.25, 4, 0.8, 2.5}
	T := make([]float64, 20000)
	for i := range T {
		T[i] = 26 + float64(rng.IntN(13*7))/7 // first purchases spread over a quarter
	}
	data := SimulateBGNBD(rng, truth, T, 39)
	fit, err := FitBGNBD(context.Background(), data, Guard{})
	if err != nil {
		t.Fatalf("fit: %v", err)
	}
	for _, p := range []struct {
		name            string
		got, se, truthV float64
	}{{"r", fit.R, fit.StdErr.R, truth.R}, {"alpha", fit.Alpha, fit.StdErr.Alpha, truth.Alpha}, {"a", fit.A, fit.StdErr.A, truth.A}, {"b", fit.B, fit.StdErr.B, truth.B}} {
		if math.Abs(p.got-p.truthV) > 4*p.se {
			t.Errorf("%s = %.4f ± %.4f, truth %.4f", p.name, p.got, p.se, p.truthV)
		}
	}
	v, err := Validate(fit.BGNBD, data, 39, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !near(v.TotalPredicted, v.TotalActual, 0.05) {
		t.Errorf("holdout: predicted %.0f, actual %.0f", v.TotalPredicted, v.TotalActual)
	}
	for _, r := range v.Calibration {
		if math.Abs(r.Expected-r.Actual) > 5*math.Sqrt(r.Expected)+20 {
			t.Errorf("calibration class %s: expected %.1f customers, actual %.0f", r.Label, r.Expected, r.Actual)
		}
	}

	gtruth := GammaGamma{6, 4, 1500}
	SimulateGammaGamma(rng, gtruth, data)
	gfit, err := FitGammaGamma(context.Background(), data, Guard{})
	if err != nil {
		t.Fatalf("spend fit: %v", err)
	}
	for _, p := range []struct {
		name            string
		got, se, truthV float64
	}{{"p", gfit.P, gfit.StdErr.P, gtruth.P}, {"q", gfit.Q, gfit.StdErr.Q, gtruth.Q}, {"gamma", gfit.Gamma, gfit.StdErr.Gamma, gtruth.Gamma}} {
		if math.Abs(p.got-p.truthV) > 4*p.se {
			t.Errorf("%s = %.4f ± %.4f, truth %.4f", p.name, p.got, p.se, p.truthV)
		}
	}
}

func TestNotEnoughData(t *testing.T) {
	one := []Summary{{CustomerID: 1, X: 3, Tx: 10, T: 20, Monetary: 500}}
	var noRepeat []Summary
	for i := 0; i < 500; i++ {
		noRepeat = append(noRepeat, Summary{CustomerID: core.ID(i + 1), T: float64(i % 40)})
	}
	oneDay := make([]Summary, 500) // everyone bought once, on the calibration end day
	for i := range oneDay {
		oneDay[i] = Summary{CustomerID: core.ID(i + 1)}
	}
	fewRepeat := append([]Summary(nil), noRepeat...)
	for i := 0; i < 5; i++ {
		fewRepeat[i] = Summary{CustomerID: fewRepeat[i].CustomerID, X: 1, Tx: 1, T: 30, Monetary: 100}
	}
	for _, c := range []struct {
		name string
		data []Summary
	}{{"empty", nil}, {"one customer", one}, {"no repeaters", noRepeat}, {"all on one day", oneDay}, {"five repeaters", fewRepeat}} {
		_, err := FitBGNBD(context.Background(), c.data, Guard{})
		if !errors.Is(err, ErrNotEnoughData) || !errors.Is(err, core.ErrInvalid) || Reason(err) == "" {
			t.Errorf("%s: BG/NBD error %v, want ErrNotEnoughData with a reason", c.name, err)
		}
		_, err = FitGammaGamma(context.Background(), c.data, Guard{})
		if !errors.Is(err, ErrNotEnoughData) || Reason(err) == "" {
			t.Errorf("%s: Gamma-Gamma error %v, want ErrNotEnoughData", c.name, err)
		}
	}
	// Even with a guard that asks for nothing, degenerate data are refused.
	lax := Guard{MinCustomers: 1, MinRepeaters: 1, MaxRelStdErr: 1e9}
	if _, err := FitBGNBD(context.Background(), one, lax); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("one customer with a lax guard: %v", err)
	}
	if _, err := FitBGNBD(context.Background(), oneDay, lax); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("all on one day with a lax guard: %v", err)
	}
	// Identical spend for everyone cannot identify the spend model.
	same := make([]Summary, 100)
	for i := range same {
		same[i] = Summary{CustomerID: core.ID(i + 1), X: 2, Tx: 5, T: 10, Monetary: 1000}
	}
	if _, err := FitGammaGamma(context.Background(), same, Guard{}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("identical spend: %v", err)
	}
	// Broken input is ErrInvalid, not a fit.
	bad := []Summary{{X: 1, Tx: 5, T: 2}}
	if _, err := FitBGNBD(context.Background(), bad, lax); !errors.Is(err, core.ErrInvalid) || errors.Is(err, ErrNotEnoughData) {
		t.Errorf("t_x > T: %v", err)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), -1} {
		if _, err := FitBGNBD(context.Background(), []Summary{{X: 1, Tx: 0, T: v}}, lax); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("T = %v: %v", v, err)
		}
	}
}

// TestSmallSampleUntrusted: a small simulated sample meets the minimums but
// its parameters are poorly determined; the guard must say so.
func TestSmallSampleUntrusted(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	T := make([]float64, 120)
	for i := range T {
		T[i] = 5 + float64(i%10)
	}
	data := SimulateBGNBD(rng, BGNBD{0.25, 4, 0.8, 2.5}, T, 0)
	_, err := FitBGNBD(context.Background(), data, Guard{MinRepeaters: 5})
	if err == nil {
		t.Fatal("a 120-customer sample with a few weeks of history passed the guard")
	}
	if !errors.Is(err, ErrUntrusted) && !errors.Is(err, ErrNotEnoughData) {
		t.Fatalf("error %v is not a guard error", err)
	}
	t.Logf("reason shown: %s", Reason(err))
}

func TestModelProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 150; i++ {
		m := BGNBD{math.Exp(rng.Float64()*4 - 2), math.Exp(rng.Float64()*6 - 2), math.Exp(rng.Float64()*4 - 2), math.Exp(rng.Float64()*4 - 2)}
		x := rng.IntN(30)
		T := rng.Float64() * 100
		tx := 0.0
		if x > 0 {
			tx = rng.Float64() * T
		}
		pa := m.PAlive(x, tx, T)
		if !(pa >= 0 && pa <= 1) {
			t.Fatalf("%+v: P(alive) = %v", m, pa)
		}
		prev, prevN := 0.0, 0.0
		for _, h := range []float64{0.5, 1, 5, 20, 52, 200} {
			e := m.ConditionalExpected(h, x, tx, T)
			en := m.ExpectedPurchases(h)
			if !(e >= prev-1e-9*math.Max(1, e)) || !(en >= prevN-1e-9*math.Max(1, en)) {
				t.Fatalf("%+v x=%d: expectations not increasing at t=%v: %v after %v, %v after %v", m, x, h, e, prev, en, prevN)
			}
			prev, prevN = e, en
		}
		var sum float64
		for k := 0; k < 150; k++ {
			p := m.ProbPurchases(k, 10)
			if !(p >= 0 && p <= 1) {
				t.Fatalf("%+v: P(X=%d) = %v", m, k, p)
			}
			sum += p
		}
		if sum > 1+1e-9 {
			t.Fatalf("%+v: probabilities sum to %v", m, sum)
		}
	}
	// P(alive) falls the longer a repeat buyer stays away.
	m := BGNBD{0.243, 4.414, 0.793, 2.426}
	if !(m.PAlive(3, 30, 31) > m.PAlive(3, 10, 31)) {
		t.Error("P(alive) should be higher for a recent buyer")
	}
	// The mean of P(X=x) matches E[X(t)].
	var mean float64
	for k := 0; k < 2000; k++ {
		mean += float64(k) * m.ProbPurchases(k, 39)
	}
	if !near(mean, m.ExpectedPurchases(39), 1e-6) {
		t.Errorf("Σ x P(X=x) = %v, E[X(39)] = %v", mean, m.ExpectedPurchases(39))
	}
}

func TestCLV(t *testing.T) {
	bg := BGNBD{0.243, 4.414, 0.793, 2.426}
	gg := GammaGamma{6.25, 3.74, 1544}
	s := Summary{X: 2, Tx: 30.43, T: 38.86, Monetary: 2235}
	plain := CLV(bg, gg, s, CLVOptions{Horizon: 52})
	want := bg.ConditionalExpected(52, s.X, s.Tx, s.T) * gg.ConditionalSpend(s.X, s.Monetary)
	if !near(plain, want, 1e-12) {
		t.Errorf("undiscounted CLV %v, want E[Y]·E[M] = %v", plain, want)
	}
	monthly := CLVOptions{Horizon: 52, Period: 52.0 / 12, DiscountRate: 0.01}
	disc := CLV(bg, gg, s, monthly)
	if !(disc < plain && disc > plain/math.Pow(1.01, 12)) {
		t.Errorf("discounted CLV %v not between %v and %v", disc, plain/math.Pow(1.01, 12), plain)
	}
	if half := CLV(bg, gg, s, CLVOptions{Horizon: 52, Margin: 0.5}); !near(half, plain/2, 1e-12) {
		t.Errorf("margin 0.5: %v, want %v", half, plain/2)
	}
	longer := CLV(bg, gg, s, CLVOptions{Horizon: 104, Period: 52.0 / 12, DiscountRate: 0.01})
	if !(longer > disc) {
		t.Errorf("CLV over two years %v not above one year %v", longer, disc)
	}
	// The spend estimate shrinks the customer's mean toward the population's.
	if e := gg.ConditionalSpend(2, 2235); !(e < 2235 && e > gg.MeanSpend()) && !(e > 2235 && e < gg.MeanSpend()) {
		t.Errorf("E[M] = %v is not between m̄ and the population mean %v", e, gg.MeanSpend())
	}
	ps := Predict(bg, &gg, []Summary{s, {X: 0, T: 10}}, monthly)
	if !near(ps[0].CLV, disc, 1e-12) || ps[1].PAlive != 1 || !near(ps[1].Spend, gg.MeanSpend(), 1e-12) {
		t.Errorf("Predict: %+v", ps)
	}
	if ps := Predict(bg, nil, []Summary{s}, monthly); !math.IsNaN(ps[0].CLV) {
		t.Error("CLV without a spend model must be NaN")
	}
}
