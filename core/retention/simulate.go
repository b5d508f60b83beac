package retention

import (
	"math"
	"math/rand/v2"

	"github.com/retain-crm/retain/core"
)

// SimulateBGNBD draws one customer per entry of T from the BG/NBD model
// (times in the model's unit): λ ~ Gamma(r, α), p ~ Beta(a, b); purchases
// follow a Poisson process of rate λ from the first purchase at time 0, and
// after each repeat purchase the customer drops out with probability p.
// Purchases in (0, T] give X and Tx; those in (T, T+holdout] give HoldoutX.
// It serves the tests (recovering known parameters), benchmarks and demo
// data. Customer IDs are 1, 2, ... in order.
func SimulateBGNBD(rng *rand.Rand, m BGNBD, T []float64, holdout float64) []Summary {
	out := make([]Summary, len(T))
	for i, Ti := range T {
		lambda := gammaRand(rng, m.R) / m.Alpha
		p := betaRand(rng, m.A, m.B)
		s := Summary{CustomerID: core.ID(i + 1), T: Ti}
		t := 0.0
		for {
			t += rng.ExpFloat64() / lambda
			if t > Ti+holdout || math.IsInf(t, 0) {
				break
			}
			if t <= Ti {
				s.X++
				s.Tx = t
			} else {
				s.HoldoutX++
			}
			if rng.Float64() < p {
				break
			}
		}
		out[i] = s
	}
	return out
}

// SimulateGammaGamma gives every customer with X > 0 a mean spend drawn
// from the Gamma-Gamma model: ν ~ Gamma(q, γ), each of the X transaction
// values ~ Gamma(p, ν). It overwrites Monetary in place.
func SimulateGammaGamma(rng *rand.Rand, g GammaGamma, data []Summary) {
	for i := range data {
		if data[i].X == 0 {
			data[i].Monetary = 0
			continue
		}
		nu := gammaRand(rng, g.Q) / g.Gamma
		var sum float64
		for k := 0; k < data[i].X; k++ {
			sum += gammaRand(rng, g.P) / nu
		}
		data[i].Monetary = sum / float64(data[i].X)
	}
}

// gammaRand draws from Gamma(shape k, rate 1) by Marsaglia & Tsang (2000),
// with the U^(1/k) boost for k < 1.
func gammaRand(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		return gammaRand(rng, k+1) * math.Pow(u, 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

func betaRand(rng *rand.Rand, a, b float64) float64 {
	x := gammaRand(rng, a)
	y := gammaRand(rng, b)
	if x+y == 0 {
		return 0.5
	}
	return x / (x + y)
}
