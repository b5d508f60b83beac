package retention

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// ProbPurchases is P(X(t) = x), the probability that a new customer makes
// exactly x repeat purchases in the first t units (FHL 2005, eq. 8):
//
//	B(a, b+x)/B(a, b) · NB(x; r, α, t)
//	  + [x>0] B(a+1, b+x−1)/B(a, b) · (1 − Σ_{j<x} NB(j; r, α, t))
//
// where NB(j) = Γ(r+j)/(Γ(r) j!) (α/(α+t))^r (t/(α+t))^j.
func (m BGNBD) ProbPurchases(x int, t float64) float64 {
	if x < 0 {
		return 0
	}
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	lp := math.Log(al / (al + t))
	lq := math.Log(t / (al + t))
	if t == 0 {
		if x == 0 {
			return 1
		}
		return 0
	}
	fx := float64(x)
	lB := lbeta(a, b)
	lnb := r * lp // ln NB(0); NB(j+1) = NB(j) · (r+j)/(j+1) · t/(α+t)
	var cdf float64
	for j := 0; j < x; j++ {
		cdf += math.Exp(lnb)
		lnb += math.Log((r+float64(j))/float64(j+1)) + lq
	}
	v := math.Exp(lbeta(a, b+fx) - lB + lnb)
	if x > 0 {
		v += math.Exp(lbeta(a+1, b+fx-1)-lB) * math.Max(0, 1-cdf)
	}
	return v
}

// CLVOptions sets the horizon and discounting of the predicted customer
// lifetime value. Times are in the summaries' unit.
type CLVOptions struct {
	// Horizon is how far ahead to count purchases (e.g. 52 weeks).
	Horizon float64
	// Period is the discounting step (e.g. 52/12 weeks for monthly); 0 means
	// one step over the whole horizon.
	Period float64
	// DiscountRate is the rate per Period (e.g. 0.01 a month); 0 means no
	// discounting.
	DiscountRate float64
	// Margin is the share of revenue that is profit; 0 means 1 (CLV as
	// revenue).
	Margin float64
}

// CLV is the predicted value of one customer over the horizon:
//
//	CLV = margin · E[M | x, m̄] · Σ_{k=1..K} (E[Y(t_k)] − E[Y(t_{k−1})]) / (1+d)^k
//
// with t_k = min(kΔ, H), K = ⌈H/Δ⌉ and E[Y(t)] the conditional expected
// purchases of BGNBD.ConditionalExpected: the purchases expected in each
// discount period, discounted to now and valued at the expected spend.
// It treats purchases and their value as independent, as both models do.
func CLV(bg BGNBD, gg GammaGamma, s Summary, o CLVOptions) float64 {
	return discountedPurchases(bg, s, o) * gg.ConditionalSpend(s.X, s.Monetary) * margin(o)
}

func margin(o CLVOptions) float64 {
	if o.Margin == 0 {
		return 1
	}
	return o.Margin
}

func discountedPurchases(bg BGNBD, s Summary, o CLVOptions) float64 {
	if !(o.Horizon > 0) {
		return 0
	}
	step := o.Period
	if !(step > 0) || step > o.Horizon {
		step = o.Horizon
	}
	k := int(math.Ceil(o.Horizon/step - 1e-9))
	var total, prev float64
	for i := 1; i <= k; i++ {
		t := math.Min(float64(i)*step, o.Horizon)
		e := bg.ConditionalExpected(t, s.X, s.Tx, s.T)
		total += (e - prev) / math.Pow(1+o.DiscountRate, float64(i))
		prev = e
	}
	return total
}

// Prediction is what the models say about one customer.
type Prediction struct {
	Summary
	PAlive float64
	// Expected is the expected number of purchases over the horizon.
	Expected float64
	// Spend is the expected value of a future transaction (minor units);
	// NaN without a spend model.
	Spend float64
	// CLV is the discounted value over the horizon (minor units); NaN
	// without a spend model.
	CLV float64
}

// Predict scores every customer. gg may be nil when there is no spend
// model (then Spend and CLV are NaN).
func Predict(bg BGNBD, gg *GammaGamma, data []Summary, o CLVOptions) []Prediction {
	out := make([]Prediction, len(data))
	one := func(i int) {
		s := data[i]
		p := Prediction{Summary: s, PAlive: bg.PAlive(s.X, s.Tx, s.T), Spend: math.NaN(), CLV: math.NaN()}
		p.Expected = bg.ConditionalExpected(o.Horizon, s.X, s.Tx, s.T)
		if gg != nil {
			p.Spend = gg.ConditionalSpend(s.X, s.Monetary)
			p.CLV = discountedPurchases(bg, s, o) * p.Spend * margin(o)
		}
		out[i] = p
	}
	// Customers are independent: split them over the cores.
	workers := min(runtime.GOMAXPROCS(0), 8)
	if len(data) < 10000 || workers < 2 {
		for i := range data {
			one(i)
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(data) + workers - 1) / workers
	for k := 0; k < workers; k++ {
		lo, hi := k*chunk, min((k+1)*chunk, len(data))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				one(i)
			}
		}()
	}
	wg.Wait()
	return out
}

// ValidationRow compares model and data for the customers whose
// calibration repeat count is X (the last row: X or more).
type ValidationRow struct {
	Label     string // "0", "1", ..., "7+"
	X         int
	Customers int
	// Actual and Predicted are mean holdout purchases per customer.
	Actual, Predicted float64
}

// Validation is the holdout check of a BG/NBD fit (FHL 2005, fig. 4): fit
// on the calibration period, predict each customer's purchases in the
// holdout and compare with what they did.
type Validation struct {
	Rows                        []ValidationRow
	Customers                   int
	HoldoutLength               float64
	TotalActual, TotalPredicted float64
	// MAE is the mean absolute error per customer; RMSE its root mean
	// square; ClassMAE the mean absolute error of the rows' means,
	// weighted by their customers (what the chart shows).
	MAE, RMSE, ClassMAE float64
	// Calibration compares the number of customers with 0, 1, ... repeat
	// purchases in the calibration period with the number the model
	// expects given each customer's T (FHL 2005, fig. 2).
	Calibration []CalibrationRow
}

// CalibrationRow is one bar pair of the calibration-period fit.
type CalibrationRow struct {
	Label            string
	X                int
	Actual, Expected float64 // customers
}

// Validate compares predicted and actual holdout purchases by calibration
// frequency class 0, 1, ..., maxClass−1 and maxClass+ (7 gives the usual
// 0..7+). holdout is the holdout length in the summaries' unit.
func Validate(m BGNBD, data []Summary, holdout float64, maxClass int) (Validation, error) {
	v := Validation{Customers: len(data), HoldoutLength: holdout}
	if len(data) == 0 {
		return v, notEnough("no customers to validate on")
	}
	if !(holdout > 0) {
		return v, notEnough("no holdout period: choose a calibration end before the last purchase date")
	}
	if maxClass < 1 {
		maxClass = 7
	}
	v.Rows = make([]ValidationRow, maxClass+1)
	v.Calibration = make([]CalibrationRow, maxClass+1)
	for i := range v.Rows {
		lbl := fmt.Sprint(i)
		if i == maxClass {
			lbl += "+"
		}
		v.Rows[i] = ValidationRow{Label: lbl, X: i}
		v.Calibration[i] = CalibrationRow{Label: lbl, X: i}
	}
	var se float64
	for _, s := range data {
		pred := m.ConditionalExpected(holdout, s.X, s.Tx, s.T)
		act := float64(s.HoldoutX)
		k := min(s.X, maxClass)
		r := &v.Rows[k]
		r.Customers++
		r.Actual += act
		r.Predicted += pred
		v.TotalActual += act
		v.TotalPredicted += pred
		v.MAE += math.Abs(pred - act)
		se += (pred - act) * (pred - act)
		v.Calibration[k].Actual++
		var cum float64
		for j := 0; j < maxClass; j++ {
			pj := m.ProbPurchases(j, s.T)
			v.Calibration[j].Expected += pj
			cum += pj
		}
		v.Calibration[maxClass].Expected += math.Max(0, 1-cum)
	}
	n := float64(len(data))
	v.MAE /= n
	v.RMSE = math.Sqrt(se / n)
	for i := range v.Rows {
		r := &v.Rows[i]
		if r.Customers > 0 {
			v.ClassMAE += math.Abs(r.Predicted-r.Actual) / n
			r.Actual /= float64(r.Customers)
			r.Predicted /= float64(r.Customers)
		}
	}
	return v, nil
}
