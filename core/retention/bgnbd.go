package retention

import (
	"context"
	"math"
	"runtime"
	"sync"
)

// BGNBD holds the parameters of the beta-geometric/negative binomial
// distribution model of Fader, Hardie & Lee (2005): while alive a customer
// buys at Poisson rate λ ~ Gamma(shape R, rate Alpha); after each repeat
// purchase they drop out with probability p ~ Beta(A, B). Alpha is in the
// summaries' time unit.
type BGNBD struct {
	R, Alpha, A, B float64
}

// LogLikelihood is the log-likelihood of one customer's (x, t_x, T):
//
//	L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
//	  + [x > 0] B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
//
// computed as A1 + A2 + ln(e^A3 + [x>0] e^A4) (FHL 2005, eq. 6 and the
// note "Implementing the BG/NBD model in Excel"), so no term overflows.
func (m BGNBD) LogLikelihood(x int, tx, T float64) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	fx := float64(x)
	a1 := lgamma(r+fx) - lgamma(r) + r*math.Log(al)
	a2 := lgamma(a+b) + lgamma(b+fx) - lgamma(b) - lgamma(a+b+fx)
	a3 := -(r + fx) * math.Log(al+T)
	if x == 0 {
		return a1 + a2 + a3
	}
	a4 := math.Log(a) - math.Log(b+fx-1) - (r+fx)*math.Log(al+tx)
	hi, lo := a3, a4
	if a4 > a3 {
		hi, lo = a4, a3
	}
	return a1 + a2 + hi + math.Log1p(math.Exp(lo-hi))
}

// PAlive is the probability that a customer with history (x, t_x, T) is
// still active at T:
//
//	P(alive) = 1 / (1 + [x>0] a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
//
// In the model a customer can only drop out right after a repeat purchase,
// so a customer with x = 0 is alive with probability 1; read that as "no
// evidence yet", not as certainty.
func (m BGNBD) PAlive(x int, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	fx := float64(x)
	lr := math.Log(m.A) - math.Log(m.B+fx-1) + (m.R+fx)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+tx))
	return 1 / (1 + math.Exp(lr))
}

// ExpectedPurchases is E[X(t)], the expected number of repeat purchases in
// the first t time units after a new customer's first purchase:
//
//	E[X(t)] = (a+b−1)/(a−1) · [1 − (α/(α+t))^r · 2F1(r, b; a+b−1; t/(α+t))]
func (m BGNBD) ExpectedPurchases(t float64) float64 {
	if !(t > 0) {
		return 0
	}
	return m.expectAlive(0, 0, t)
}

// ConditionalExpected is E[Y(t) | x, t_x, T], the expected number of
// purchases in the next t units of a customer with history (x, t_x, T):
//
//	(a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(α+T+t))] · P(alive)
func (m BGNBD) ConditionalExpected(t float64, x int, tx, T float64) float64 {
	if !(t > 0) {
		return 0
	}
	return m.expectAlive(x, T, t) * m.PAlive(x, tx, T)
}

// expectAlive is the expected number of purchases in (T, T+t] of a customer
// known to be alive at T after x repeat purchases. The textbook form
//
//	c/(a−1) · [1 − (1−z)^(r+x) 2F1(r+x, b+x; c; z)],  c = a+b+x−1, z = t/(α+T+t)
//
// cancels badly (the 2F1 grows like (1−z)^−(r+x−a+1) for large x) and is
// 0/0 at a = 1. Euler's transformation 2F1(A,B;C;z) = (1−z)^(C−A−B)
// 2F1(C−A, C−B; C; z) turns it into
//
//	c · [ (1 − (1−z)^(a−1))/(a−1) − (1−z)^(a−1) · S ],
//	S = Σ_{n≥1} (a+b−1−r)_n (a)_(n−1) / ((c)_n n!) · z^n
//
// whose parameters do not grow with x and whose first part has a stable
// limit at a = 1. When c ≤ 0 (x = 0 with a+b ≤ 1, where the closed form
// does not apply) or the series has not converged, it integrates the
// defining expression over the posterior of p instead.
func (m BGNBD) expectAlive(x int, T, t float64) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	fx := float64(x)
	c := a + b + fx - 1
	z := t / (al + T + t)
	if c > 1e-9 {
		if v, ok := bgSeries(a+b-1-r, a, c, z); ok {
			res := c * (expm1Ratio(a-1, z) - math.Exp((a-1)*math.Log1p(-z))*v)
			if res >= 0 && finite(res) {
				return res
			}
		}
	}
	return m.expectAliveQuad(x, T, t)
}

// bgSeries sums S of expectAlive with the tail test of hyp2f1Series.
func bgSeries(e, a, c, z float64) (float64, bool) {
	if z == 0 {
		return 0, true
	}
	term := e * z / c
	sum := term
	start := math.Abs(e) + math.Abs(a) + math.Abs(c) + 2
	for n := 1; n < 500000; n++ {
		fn := float64(n)
		ratio := (e + fn) * (a + fn - 1) / ((c + fn) * (fn + 1)) * z
		term *= ratio
		sum += term
		if term == 0 {
			return sum, true
		}
		rho := math.Max(math.Abs(ratio), z)
		if rho < 1 && fn > start && math.Abs(term)*rho/(1-rho) <= 1e-14*math.Max(math.Abs(sum), 1e-300) {
			return sum, true
		}
		if !finite(sum) {
			return sum, false
		}
	}
	return sum, false
}

// expectAliveQuad computes expectAlive from its definition:
//
//	E = ∫₀¹ (1/p)(1 − (1 + p t/(α+T))^−(r+x)) · Beta(p; a, b+x) dp
//
// (given λ and p, an alive customer buys (1 − e^−λpt)/p in expectation;
// λ integrates out to the bracket). It is the fallback of expectAlive and
// the independent check of its series in the tests.
func (m BGNBD) expectAliveQuad(x int, T, t float64) float64 {
	fx := float64(x)
	bb := m.B + fx
	rho := m.R + fx
	s := t / (m.Alpha + T)
	lnB := lbeta(m.A, bb)
	lns := math.Log(s)
	v, _ := deQuad01(func(p, lnp, ln1mp float64) float64 {
		var lbr float64
		if lnp+lns < -30 {
			lbr = math.Log(rho) + lnp + lns // 1 − (1+ps)^−ρ ≈ ρps
		} else {
			lbr = math.Log(-math.Expm1(-rho * math.Log1p(p*s)))
		}
		return (m.A-2)*lnp + (bb-1)*ln1mp - lnB + lbr
	}, 1e-12)
	return v
}

// bgData is a sample compressed for fitting: customers with equal (x, t_x,
// T) become one record with a weight, and logarithms of α + time are taken
// once per distinct time value, so an evaluation costs one exp and one log1p
// per distinct repeat customer.
type bgData struct {
	xs    []float64 // distinct x > 0
	wx    []float64 // weight per distinct x
	times []float64 // distinct T and t_x values
	wzero []float64 // weight of x = 0 customers per time index (their T)
	recs  []bgRec   // x > 0
	n     float64   // customers
	sumX  float64
}

type bgRec struct {
	xi, ti, txi int32
	w           float64
}

func compressBG(data []Summary, scale float64) *bgData {
	d := &bgData{}
	timeIdx := map[float64]int32{}
	xIdx := map[int]int32{}
	ti := func(v float64) int32 {
		v /= scale
		i, ok := timeIdx[v]
		if !ok {
			i = int32(len(d.times))
			timeIdx[v] = i
			d.times = append(d.times, v)
			d.wzero = append(d.wzero, 0)
		}
		return i
	}
	type key struct {
		x     int
		tx, T float64
	}
	recIdx := map[key]int{}
	for _, s := range data {
		d.n++
		d.sumX += float64(s.X)
		if s.X == 0 {
			d.wzero[ti(s.T)]++
			continue
		}
		k := key{s.X, s.Tx, s.T}
		if i, ok := recIdx[k]; ok {
			d.recs[i].w++
			continue
		}
		xi, ok := xIdx[s.X]
		if !ok {
			xi = int32(len(d.xs))
			xIdx[s.X] = xi
			d.xs = append(d.xs, float64(s.X))
			d.wx = append(d.wx, 0)
		}
		recIdx[k] = len(d.recs)
		d.recs = append(d.recs, bgRec{xi: xi, ti: ti(s.T), txi: ti(s.Tx), w: 1})
	}
	for _, r := range d.recs {
		d.wx[r.xi] += r.w
	}
	return d
}

// negLL returns −(mean log-likelihood) at θ = ln(r, α, a, b) and its
// gradient in θ, for the scaled times of d.
func (d *bgData) negLL(theta, grad []float64) float64 {
	for _, v := range theta {
		if !(math.Abs(v) < 30) {
			return math.Inf(1)
		}
	}
	r, al, a, b := math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])
	lt := make([]float64, len(d.times))
	it := make([]float64, len(d.times))
	var ll, gr, gal, ga, gb float64
	for i, v := range d.times {
		lt[i] = math.Log(al + v)
		it[i] = 1 / (al + v)
		if w := d.wzero[i]; w > 0 {
			// x = 0: ℓ = r ln α − r ln(α+T) (A1, A2 vanish at x = 0)
			ll -= w * r * lt[i]
			gr -= w * lt[i]
			gal -= w * r * it[i]
		}
	}
	// Terms that depend on x only, including A1 and A2 of every customer.
	lnA, lnAl := math.Log(a), math.Log(al)
	ll += d.n * r * lnAl
	gr += d.n * lnAl
	gal += d.n * r / al
	lgr, lgab, dgr, dgab := lgamma(r), lgamma(a+b), digamma(r), digamma(a+b)
	lgb, dgb := lgamma(b), digamma(b)
	lbx := make([]float64, len(d.xs))
	ibx := make([]float64, len(d.xs))
	for i, x := range d.xs {
		w := d.wx[i]
		ll += w * (lgamma(r+x) - lgr + lgab + lgamma(b+x) - lgb - lgamma(a+b+x))
		gr += w * (digamma(r+x) - dgr)
		dab := dgab - digamma(a+b+x)
		ga += w * dab
		gb += w * (dab + digamma(b+x) - dgb)
		lbx[i] = math.Log(b + x - 1)
		ibx[i] = 1 / (b + x - 1)
	}
	// The mixture ln(e^A3 + e^A4) per distinct repeat customer.
	type part struct{ ll, gr, gal, ga, gb float64 }
	eval := func(recs []bgRec) part {
		var p part
		for _, rc := range recs {
			x := d.xs[rc.xi]
			rx := r + x
			a3 := -rx * lt[rc.ti]
			a4 := lnA - lbx[rc.xi] - rx*lt[rc.txi]
			var l, w4 float64
			if dd := a4 - a3; dd > 0 {
				e := math.Exp(-dd)
				l = a4 + math.Log1p(e)
				w4 = 1 / (1 + e)
			} else {
				e := math.Exp(dd)
				l = a3 + math.Log1p(e)
				w4 = e / (1 + e)
			}
			w3 := 1 - w4
			w := rc.w
			p.ll += w * l
			p.gr -= w * (w3*lt[rc.ti] + w4*lt[rc.txi])
			p.gal -= w * rx * (w3*it[rc.ti] + w4*it[rc.txi])
			p.ga += w * w4
			p.gb -= w * w4 * ibx[rc.xi]
		}
		return p
	}
	var tot part
	if workers := min(runtime.GOMAXPROCS(0), 8); len(d.recs) >= 50000 && workers > 1 {
		parts := make([]part, workers)
		var wg sync.WaitGroup
		chunk := (len(d.recs) + workers - 1) / workers
		for k := 0; k < workers; k++ {
			lo, hi := k*chunk, min((k+1)*chunk, len(d.recs))
			wg.Add(1)
			go func() {
				defer wg.Done()
				parts[k] = eval(d.recs[lo:hi])
			}()
		}
		wg.Wait()
		for _, p := range parts { // fixed order: the same result on every run
			tot.ll += p.ll
			tot.gr += p.gr
			tot.gal += p.gal
			tot.ga += p.ga
			tot.gb += p.gb
		}
	} else {
		tot = eval(d.recs)
	}
	ll += tot.ll
	gr += tot.gr
	gal += tot.gal
	ga += tot.ga / a
	gb += tot.gb
	if grad != nil {
		// chain rule to log-parameters, sign for minimisation, per customer
		grad[0] = -gr * r / d.n
		grad[1] = -gal * al / d.n
		grad[2] = -ga * a / d.n
		grad[3] = -gb * b / d.n
	}
	return -ll / d.n
}

// BGNBDLogLikelihood sums LogLikelihood over a sample.
func BGNBDLogLikelihood(m BGNBD, data []Summary) float64 {
	var s float64
	for _, c := range data {
		s += m.LogLikelihood(c.X, c.Tx, c.T)
	}
	return s
}

// BGNBDFit is a fitted BG/NBD model with what is needed to judge it.
type BGNBDFit struct {
	BGNBD
	// StdErr holds asymptotic standard errors of the estimates (from the
	// inverse observed information); zero where they could not be computed.
	StdErr BGNBD
	FitInfo
}

// FitInfo describes a maximum-likelihood fit.
type FitInfo struct {
	Customers   int     // customers in the sample
	Repeaters   int     // customers with at least one repeat transaction
	LogLik      float64 // maximised log-likelihood
	Iterations  int
	Evaluations int
	Converged   bool
	Reason      string  // why the optimiser stopped
	GradNorm    float64 // largest gradient component of the mean log-likelihood in log-parameters at the end
	Starts      int     // starting points tried
	// Agreeing counts the starting points that reached the same optimum
	// (log-likelihood within 1e-6 per customer); fewer than Starts hints
	// at a flat or multi-modal surface.
	Agreeing int
}

// FitBGNBD estimates the BG/NBD parameters by maximum likelihood. It
// optimises over log-parameters (so they stay positive) with BFGS and the
// analytic gradient, from several starting points, and keeps the best. It
// fails with ErrNotEnoughData when the guard's minimums are not met and
// with ErrUntrusted when the result does not pass Guard.CheckBGNBD; in the
// second case the fit is returned too, for diagnostics.
func FitBGNBD(ctx context.Context, data []Summary, g Guard) (BGNBDFit, error) {
	return fitBGNBD(ctx, data, g, nil)
}

// FitBGNBDFrom is FitBGNBD started only from prev, a previous fit's
// estimates: a refit on data that changed a little since converges in a
// few steps instead of three full searches. An unusable prev (not
// positive and finite) falls back to FitBGNBD's starting points. The
// result's Starts is 1, so Agreeing says nothing about multiple optima:
// fit from scratch now and then.
func FitBGNBDFrom(ctx context.Context, data []Summary, g Guard, prev BGNBD) (BGNBDFit, error) {
	for _, v := range []float64{prev.R, prev.Alpha, prev.A, prev.B} {
		if !(v > 0) || math.IsInf(v, 0) {
			return fitBGNBD(ctx, data, g, nil)
		}
	}
	return fitBGNBD(ctx, data, g, &prev)
}

func fitBGNBD(ctx context.Context, data []Summary, g Guard, prev *BGNBD) (BGNBDFit, error) {
	g = g.withDefaults()
	var fit BGNBDFit
	for i, s := range data {
		if err := checkSummary(i, s); err != nil {
			return fit, err
		}
	}
	if err := g.CheckData(data); err != nil {
		return fit, err
	}
	var sumT float64
	for _, s := range data {
		sumT += s.T
	}
	scale := sumT / float64(len(data)) // mean T: fit in units where the average T is 1
	d := compressBG(data, scale)
	rate := math.Max(d.sumX/float64(len(data)), 0.05) // repeat purchases per (scaled) unit
	starts := [][]float64{
		{1, 1 / rate, 1, 1},
		{0.3, 0.3 / rate, 0.5, 3},
		{3, 3 / rate, 2, 8},
	}
	if prev != nil {
		starts = [][]float64{{prev.R, prev.Alpha / scale, prev.A, prev.B}}
	}
	best, err := multiStart(ctx, d.negLL, starts, &fit.FitInfo)
	if err != nil {
		return fit, err
	}
	fit.R, fit.Alpha, fit.A, fit.B = math.Exp(best.X[0]), math.Exp(best.X[1])*scale, math.Exp(best.X[2]), math.Exp(best.X[3])
	fit.Customers, fit.Repeaters = len(data), Repeaters(data)
	// Undo the time scaling: ℓ(α, T) = ℓ'(α/τ, T/τ) − x ln τ.
	fit.LogLik = -best.F*d.n - d.sumX*math.Log(scale)
	fit.Converged, fit.Reason, fit.GradNorm = best.Converged, best.Reason, maxAbs(best.Grad)
	if cov, ok := invertSPD(hessianFD(d.negLL, best.X)); ok {
		se := func(i int, v float64) float64 {
			if c := cov[i][i] / d.n; c > 0 {
				return v * math.Sqrt(c) // delta method from ln v to v
			}
			return 0
		}
		fit.StdErr = BGNBD{R: se(0, fit.R), Alpha: se(1, fit.Alpha), A: se(2, fit.A), B: se(3, fit.B)}
	}
	return fit, g.CheckBGNBD(fit)
}
