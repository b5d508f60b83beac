package retention

import (
	"context"
	"math"
)

// objective returns f(x) and writes ∇f(x) into g. It may return +Inf or NaN
// where the model is undefined; the line search then steps back.
type objective func(x, g []float64) float64

type optResult struct {
	X         []float64
	F         float64
	Grad      []float64
	Iter      int
	Evals     int
	Converged bool
	Reason    string // why it stopped, for FitInfo
}

// bfgs minimises f from x0 by BFGS with an inverse-Hessian update and a
// weak-Wolfe bisection line search (Lewis & Overton), which needs nothing
// but f and ∇f and never accepts a step that leaves the region where f is
// finite. It stops when the largest gradient component is below gtol
// (converged), when f stops changing over several iterations while the
// gradient is small (converged: flat optimum at machine precision), or at
// maxIter / a cancelled context (not converged).
func bfgs(ctx context.Context, f objective, x0 []float64, gtol float64, maxIter int) optResult {
	n := len(x0)
	x := append([]float64(nil), x0...)
	g := make([]float64, n)
	fx := f(x, g)
	res := optResult{Evals: 1}
	if !finite(fx) || !allFinite(g) {
		res.X, res.F, res.Grad, res.Reason = x, fx, g, "objective not finite at the start"
		return res
	}
	H := identity(n)
	d := make([]float64, n)
	xn := make([]float64, n)
	gn := make([]float64, n)
	s := make([]float64, n)
	y := make([]float64, n)
	Hy := make([]float64, n)
	flat := 0
	for it := 0; it < maxIter; it++ {
		res.Iter = it
		if maxAbs(g) < gtol {
			res.Converged, res.Reason = true, "gradient below tolerance"
			break
		}
		if ctx.Err() != nil {
			res.Reason = "cancelled"
			break
		}
		for i := range d {
			d[i] = 0
			for j := range d {
				d[i] -= H[i][j] * g[j]
			}
		}
		slope := dot(g, d)
		if !(slope < 0) {
			// Not a descent direction (H lost positive definiteness): restart
			// from steepest descent.
			H = identity(n)
			for i := range d {
				d[i] = -g[i]
			}
			slope = dot(g, d)
		}
		t := 1.0
		if it == 0 {
			t = math.Min(1, 1/maxAbs(g)) // a first step of at most one unit in log space
		}
		lo, hi := 0.0, math.Inf(1)
		const c1, c2 = 1e-4, 0.9
		var fn float64
		ok := false
		for ls := 0; ls < 80; ls++ {
			for i := range xn {
				xn[i] = x[i] + t*d[i]
			}
			fn = f(xn, gn)
			res.Evals++
			switch {
			case !finite(fn) || !allFinite(gn) || fn > fx+c1*t*slope:
				hi = t
			case dot(gn, d) < c2*slope:
				lo = t
			default:
				ok = true
			}
			if ok {
				break
			}
			if math.IsInf(hi, 1) {
				t = 2 * lo
			} else {
				t = (lo + hi) / 2
			}
			if hi-lo < 1e-16*math.Max(1, lo) && hi < math.Inf(1) {
				break
			}
			// Near the optimum (gradient already tiny) a step a million
			// times shorter than the quasi-Newton one that still does not
			// decrease f means f is flat to machine precision: stop the
			// search (the test below then reports convergence) instead of
			// bisecting fifty times more, each a full pass over the data.
			if ls >= 20 && hi < math.Inf(1) && maxAbs(g) < math.Sqrt(gtol) {
				break
			}
		}
		if !ok {
			// No step satisfies Wolfe: we are at the optimum to machine
			// precision if the gradient is small; otherwise report failure.
			if maxAbs(g) < math.Sqrt(gtol) {
				res.Converged, res.Reason = true, "no further descent at machine precision"
			} else {
				res.Reason = "line search failed"
			}
			break
		}
		for i := range s {
			s[i] = xn[i] - x[i]
			y[i] = gn[i] - g[i]
		}
		df := fx - fn
		copy(x, xn)
		copy(g, gn)
		fx = fn
		if df <= 1e-15*math.Max(1, math.Abs(fx)) {
			flat++
			if flat >= 5 && maxAbs(g) < math.Sqrt(gtol) {
				res.Converged, res.Reason = true, "objective flat at machine precision"
				break
			}
		} else {
			flat = 0
		}
		sy := dot(s, y)
		if sy <= 1e-12*math.Sqrt(dot(s, s)*dot(y, y)) {
			continue // curvature condition fails: keep the old H
		}
		if it == 0 {
			// Scale the initial guess so its size matches the curvature seen.
			sc := sy / dot(y, y)
			for i := range H {
				H[i][i] = sc
			}
		}
		// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
		rho := 1 / sy
		for i := range Hy {
			Hy[i] = 0
			for j := range Hy {
				Hy[i] += H[i][j] * y[j]
			}
		}
		yHy := dot(y, Hy)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				H[i][j] += rho*((1+rho*yHy)*s[i]*s[j]) - rho*(Hy[i]*s[j]+s[i]*Hy[j])
			}
		}
		res.Iter = it + 1
	}
	if res.Reason == "" {
		res.Reason = "iteration limit"
		if maxAbs(g) < gtol {
			res.Converged, res.Reason = true, "gradient below tolerance"
		}
	}
	res.X, res.F, res.Grad = x, fx, g
	return res
}

// hessianFD estimates the Hessian of f at x by central differences of the
// analytic gradient; it is symmetrised. Used for standard errors.
func hessianFD(f objective, x []float64) [][]float64 {
	n := len(x)
	H := make([][]float64, n)
	gp := make([]float64, n)
	gm := make([]float64, n)
	xp := make([]float64, n)
	for i := 0; i < n; i++ {
		H[i] = make([]float64, n)
		h := 1e-5 * math.Max(1, math.Abs(x[i]))
		copy(xp, x)
		xp[i] = x[i] + h
		f(xp, gp)
		xp[i] = x[i] - h
		f(xp, gm)
		for j := 0; j < n; j++ {
			H[i][j] = (gp[j] - gm[j]) / (2 * h)
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			v := (H[i][j] + H[j][i]) / 2
			H[i][j], H[j][i] = v, v
		}
	}
	return H
}

// invertSPD inverts a small symmetric positive-definite matrix by Cholesky;
// ok is false if it is not positive definite.
func invertSPD(A [][]float64) ([][]float64, bool) {
	n := len(A)
	L := make([][]float64, n)
	for i := range L {
		L[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			s := A[i][j]
			for k := 0; k < j; k++ {
				s -= L[i][k] * L[j][k]
			}
			if i == j {
				if !(s > 0) {
					return nil, false
				}
				L[i][i] = math.Sqrt(s)
			} else {
				L[i][j] = s / L[j][j]
			}
		}
	}
	inv := make([][]float64, n)
	for c := 0; c < n; c++ {
		// solve L Lᵀ x = e_c
		z := make([]float64, n)
		for i := 0; i < n; i++ {
			s := 0.0
			if i == c {
				s = 1
			}
			for k := 0; k < i; k++ {
				s -= L[i][k] * z[k]
			}
			z[i] = s / L[i][i]
		}
		xv := make([]float64, n)
		for i := n - 1; i >= 0; i-- {
			s := z[i]
			for k := i + 1; k < n; k++ {
				s -= L[k][i] * xv[k]
			}
			xv[i] = s / L[i][i]
		}
		inv[c] = xv
	}
	return inv, true
}

func identity(n int) [][]float64 {
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		m[i][i] = 1
	}
	return m
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func maxAbs(a []float64) float64 {
	var m float64
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func allFinite(a []float64) bool {
	for _, v := range a {
		if !finite(v) {
			return false
		}
	}
	return true
}

// multiStart runs BFGS from every starting point (given in natural units;
// the optimiser works on their logarithms), records the effort and how many
// starts agree in info, and returns the best optimum found.
func multiStart(ctx context.Context, negLL objective, starts [][]float64, info *FitInfo) (optResult, error) {
	var best optResult
	fs := make([]float64, 0, len(starts))
	for k, st := range starts {
		x0 := make([]float64, len(st))
		for i, v := range st {
			x0[i] = math.Log(v)
		}
		res := bfgs(ctx, negLL, x0, 1e-9, 500)
		info.Iterations += res.Iter
		info.Evaluations += res.Evals
		fs = append(fs, res.F)
		if k == 0 || (finite(res.F) && (!finite(best.F) || res.F < best.F)) {
			best = res
		}
		if err := ctx.Err(); err != nil {
			return best, err
		}
	}
	info.Starts = len(starts)
	for _, f := range fs {
		if math.Abs(f-best.F) < 1e-6 {
			info.Agreeing++
		}
	}
	return best, nil
}
