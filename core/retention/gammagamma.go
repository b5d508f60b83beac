package retention

import (
	"cmp"
	"context"
	"math"
	"slices"
)

// GammaGamma holds the parameters of the Gamma-Gamma spend model (Fader,
// Hardie & Lee 2005 "RFM and CLV"; Fader & Hardie 2013, "The Gamma-Gamma
// Model of Monetary Value"): a customer's transaction values are
// Gamma(shape P, rate ν), and ν varies across customers as
// Gamma(shape Q, rate Gamma). Gamma is in the monetary unit of the data
// (minor units here).
type GammaGamma struct {
	P, Q, Gamma float64
}

// LogLikelihood is the log-likelihood of one customer's mean spend m over
// x transactions (x ≥ 1, m > 0):
//
//	f(m | x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q (m x)^(px−1) x / (γ + m x)^(px+q)
func (g GammaGamma) LogLikelihood(x int, m float64) float64 {
	fx := float64(x)
	px := g.P * fx
	return lgamma(px+g.Q) - lgamma(px) - lgamma(g.Q) + g.Q*math.Log(g.Gamma) +
		(px-1)*math.Log(m*fx) + math.Log(fx) - (px+g.Q)*math.Log(g.Gamma+m*fx)
}

// MeanSpend is the population mean transaction value pγ/(q−1) (+Inf when
// q ≤ 1).
func (g GammaGamma) MeanSpend() float64 {
	if g.Q <= 1 {
		return math.Inf(1)
	}
	return g.P * g.Gamma / (g.Q - 1)
}

// ConditionalSpend is E[M | x, m̄], the expected value of a customer's future
// transactions given x observed repeat transactions with mean m̄:
//
//	E[M | x, m̄] = (γ + m̄x) p / (px + q − 1)
//	            = (q−1)/(px+q−1) · pγ/(q−1) + px/(px+q−1) · m̄
//
// a weighted average of the population mean and the customer's own mean
// that trusts the latter more as x grows. With x = 0 it is the population
// mean.
func (g GammaGamma) ConditionalSpend(x int, m float64) float64 {
	if x <= 0 {
		return g.MeanSpend()
	}
	fx := float64(x)
	return (g.Gamma + m*fx) * g.P / (g.P*fx + g.Q - 1)
}

// GammaGammaFit is a fitted spend model.
type GammaGammaFit struct {
	GammaGamma
	StdErr GammaGamma
	FitInfo
	// Excluded counts repeat customers left out because their mean spend
	// was not positive (free orders, refunds booked as purchases); the
	// model is defined for positive amounts only.
	Excluded int
}

type ggRec struct {
	x, m, w float64
	lmx     float64 // ln(m x)
}

// FitGammaGamma estimates (p, q, γ) by maximum likelihood on the customers
// with X ≥ 1 and Monetary > 0 (the others carry no spend information).
// Like FitBGNBD it optimises log-parameters with BFGS from several starts
// and checks the result with the guard.
func FitGammaGamma(ctx context.Context, data []Summary, g Guard) (GammaGammaFit, error) {
	g = g.withDefaults()
	var fit GammaGammaFit
	type key struct {
		x int
		m float64
	}
	idx := map[key]int{}
	var recs []ggRec
	var n, sumM float64
	for i, s := range data {
		if err := checkSummary(i, s); err != nil {
			return fit, err
		}
		if s.X == 0 {
			continue
		}
		if !(s.Monetary > 0) || math.IsInf(s.Monetary, 0) {
			fit.Excluded++
			continue
		}
		n++
		sumM += s.Monetary
		k := key{s.X, s.Monetary}
		if j, ok := idx[k]; ok {
			recs[j].w++
			continue
		}
		idx[k] = len(recs)
		recs = append(recs, ggRec{x: float64(s.X), m: s.Monetary, w: 1})
	}
	fit.Customers, fit.Repeaters = len(data), int(n)
	switch {
	case n == 0:
		return fit, notEnough("no customer has a repeat purchase with a positive amount, so there is no spend to model")
	case int(n) < max(2, g.MinRepeaters):
		return fit, notEnough("only %d customers have repeat purchases with amounts; the spend model needs at least %d", int(n), max(2, g.MinRepeaters))
	}
	scale := sumM / n // fit in units of the average spend: γ near 1
	distinct := false
	for i := range recs {
		recs[i].m /= scale
		recs[i].lmx = math.Log(recs[i].m * recs[i].x)
		if recs[i].m != recs[0].m {
			distinct = true
		}
	}
	if !distinct {
		return fit, notEnough("every repeat customer spends the same amount on average; spend varies too little to model")
	}
	// The gamma-function terms depend on a record's x only: group the
	// records by x and compute them once per distinct x and evaluation
	// (a million repeat customers have a few dozen distinct x), leaving one
	// logarithm per record.
	slices.SortFunc(recs, func(a, b ggRec) int { return cmp.Compare(a.x, b.x) })
	type xGroup struct {
		x      float64
		lo, hi int
	}
	var groups []xGroup
	for i, r := range recs {
		if len(groups) == 0 || groups[len(groups)-1].x != r.x {
			groups = append(groups, xGroup{x: r.x, lo: i})
		}
		groups[len(groups)-1].hi = i + 1
	}
	negLL := func(theta, grad []float64) float64 {
		for _, v := range theta {
			if !(math.Abs(v) < 30) {
				return math.Inf(1)
			}
		}
		p, q, gm := math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2])
		lq, dq, lgm := lgamma(q), digamma(q), math.Log(gm)
		var ll, gp, gq, gg float64
		for _, g := range groups {
			px := p * g.x
			a := lgamma(px+q) - lgamma(px) - lq + q*lgm + math.Log(g.x)
			dpq := digamma(px + q)
			dpx := digamma(px)
			for _, r := range recs[g.lo:g.hi] {
				mx := r.m * r.x
				lgx := math.Log(gm + mx)
				ll += r.w * (a + (px-1)*r.lmx - (px+q)*lgx)
				gp += r.w * r.x * (dpq - dpx + r.lmx - lgx)
				gq += r.w * (dpq - dq + lgm - lgx)
				gg += r.w * (q/gm - (px+q)/(gm+mx))
			}
		}
		if grad != nil {
			grad[0], grad[1], grad[2] = -gp*p/n, -gq*q/n, -gg*gm/n
		}
		return -ll / n
	}
	starts := [][]float64{{1, 1, 1}, {5, 3, 1}, {0.5, 5, 5}}
	best, err := multiStart(ctx, negLL, starts, &fit.FitInfo)
	if err != nil {
		return fit, err
	}
	fit.P, fit.Q, fit.Gamma = math.Exp(best.X[0]), math.Exp(best.X[1]), math.Exp(best.X[2])*scale
	// Undo the money scaling: the density of m is 1/scale times that of m/scale.
	fit.LogLik = -best.F*n - n*math.Log(scale)
	fit.Converged, fit.Reason, fit.GradNorm = best.Converged, best.Reason, maxAbs(best.Grad)
	if cov, ok := invertSPD(hessianFD(negLL, best.X)); ok {
		se := func(i int, v float64) float64 {
			if c := cov[i][i] / n; c > 0 {
				return v * math.Sqrt(c)
			}
			return 0
		}
		fit.StdErr = GammaGamma{P: se(0, fit.P), Q: se(1, fit.Q), Gamma: se(2, fit.Gamma)}
	}
	return fit, g.CheckGammaGamma(fit)
}
