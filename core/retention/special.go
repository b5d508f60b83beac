package retention

import (
	"math"
)

// lgamma is log|Γ(x)|; the models only call it with x > 0, where Γ > 0.
func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// lbeta is ln B(a, b) for a, b > 0.
func lbeta(a, b float64) float64 { return lgamma(a) + lgamma(b) - lgamma(a+b) }

// digamma is ψ(x) = d/dx ln Γ(x) for x > 0: the recurrence ψ(x) = ψ(x+1) − 1/x
// lifts x above 6, then the asymptotic (Bernoulli) series is accurate to
// about 1e-15. Non-positive or NaN arguments give NaN.
func digamma(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 1) {
		if math.IsInf(x, 1) {
			return math.Inf(1)
		}
		return math.NaN()
	}
	var acc float64
	for x < 6 {
		acc -= 1 / x
		x++
	}
	f := 1 / (x * x)
	// ψ(x) ≈ ln x − 1/(2x) − Σ B_2k / (2k x^2k)
	s := f * (1.0/12 - f*(1.0/120-f*(1.0/252-f*(1.0/240-f*(1.0/132-f*(691.0/32760-f/12))))))
	return acc + math.Log(x) - 0.5/x - s
}

// log1pexp is ln(1 + e^x) without overflow.
func log1pexp(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// hyp2f1Series sums the Gauss hypergeometric series
//
//	2F1(a, b; c; z) = Σ_n (a)_n (b)_n / ((c)_n n!) z^n
//
// for 0 ≤ z < 1. ok is false when c is a non-positive integer-like value or
// the series has not met its convergence test within maxTerms terms (it
// converges for every z < 1, but slowly as z → 1). The stopping rule bounds
// the tail by a geometric series with ratio max(current term ratio, z): the
// ratio tends to z, and once it is below 1 and no larger than its limit's
// bound, the tail is smaller than term·ρ/(1−ρ).
func hyp2f1Series(a, b, c, z float64) (float64, bool) {
	if !(z >= 0 && z < 1) || c <= 0 && c == math.Floor(c) {
		return math.NaN(), false
	}
	sum, term := 1.0, 1.0
	const maxTerms = 500000
	for n := 0; n < maxTerms; n++ {
		fn := float64(n)
		ratio := (a + fn) * (b + fn) / ((c + fn) * (fn + 1)) * z
		term *= ratio
		sum += term
		if term == 0 {
			return sum, true
		}
		rho := math.Max(math.Abs(ratio), z)
		// Past the point where the terms shrink monotonically (n > |a|+|b|+|c|
		// is enough for the ratio to be decreasing toward z or below it).
		if rho < 1 && fn > math.Abs(a)+math.Abs(b)+math.Abs(c) {
			if math.Abs(term)*rho/(1-rho) <= 1e-16*math.Abs(sum) {
				return sum, true
			}
		}
		if math.IsInf(sum, 0) || math.IsNaN(sum) {
			return sum, false
		}
	}
	return sum, false
}

// expm1Ratio returns −expm1(u·ln(1−z))/u = (1 − (1−z)^u)/u, with its limit
// −ln(1−z) at u = 0; it is what the BG/NBD expectations reduce to when
// a → 1, where the textbook form divides zero by zero.
func expm1Ratio(u, z float64) float64 {
	l := math.Log1p(-z)
	if math.Abs(u*l) < 1e-300 || u == 0 {
		return -l
	}
	return -math.Expm1(u*l) / u
}

// deQuad01 integrates exp(logf(p, ln p, ln(1−p))) over (0, 1) by the
// tanh-sinh (double exponential) rule, which copes with integrable endpoint
// singularities such as p^(a−2) for a > 1 or (1−p)^(b−1) for b < 1. logf
// receives ln p and ln(1−p) computed without cancellation, so integrands
// with mass right at the ends stay accurate. It halves the step until two
// levels agree to tol (relative) and reports whether they did.
func deQuad01(logf func(p, lnp, ln1mp float64) float64, tol float64) (float64, bool) {
	const umax = 6.5 // p reaches e^-1000 there: every integrand here is negligible past it
	eval := func(u float64) float64 {
		v := math.Pi / 2 * math.Sinh(u)
		// p = 1/(1+e^{−2v}), 1−p = 1/(1+e^{2v}), dp/du = π cosh u · p(1−p)
		lnp := -log1pexp(-2 * v)
		ln1mp := -log1pexp(2 * v)
		p := math.Exp(lnp)
		lw := math.Log(math.Pi*math.Cosh(u)) + lnp + ln1mp
		lf := logf(p, lnp, ln1mp)
		if math.IsInf(lf, -1) {
			return 0
		}
		return math.Exp(lw + lf)
	}
	h := 0.5
	sum := eval(0)
	for k := 1; float64(k)*h <= umax; k++ {
		sum += eval(float64(k)*h) + eval(-float64(k)*h)
	}
	prev := sum * h
	for level := 0; level < 10; level++ {
		h /= 2
		// add the new midpoints
		for k := 1; float64(k)*h <= umax; k += 2 {
			sum += eval(float64(k)*h) + eval(-float64(k)*h)
		}
		cur := sum * h
		if math.Abs(cur-prev) <= tol*math.Abs(cur) || cur == 0 {
			return cur, true
		}
		prev = cur
	}
	return prev, false
}
