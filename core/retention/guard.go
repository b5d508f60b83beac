package retention

import (
	"errors"
	"fmt"
	"math"

	"github.com/retain-crm/retain/core"
)

// ErrNotEnoughData says the sample is too small or too uniform for a model
// to be estimated; ErrUntrusted says an estimate was made but should not be
// shown as a prediction. Both are core.ErrInvalid kinds, and both come
// wrapped in a *GuardError whose Reason is a sentence for the user.
var (
	ErrNotEnoughData = fmt.Errorf("%w: not enough data", core.ErrInvalid)
	ErrUntrusted     = fmt.Errorf("%w: model fit not trustworthy", core.ErrInvalid)
)

// GuardError carries a reason to show instead of numbers.
type GuardError struct {
	Kind   error // ErrNotEnoughData or ErrUntrusted
	Reason string
}

func (e *GuardError) Error() string { return e.Kind.Error() + ": " + e.Reason }
func (e *GuardError) Unwrap() error { return e.Kind }

// Reason returns the user-facing reason of a guard error ("" otherwise).
func Reason(err error) string {
	var ge *GuardError
	if errors.As(err, &ge) {
		return ge.Reason
	}
	return ""
}

func notEnough(format string, args ...any) error {
	return &GuardError{Kind: ErrNotEnoughData, Reason: fmt.Sprintf(format, args...)}
}

func untrusted(format string, args ...any) error {
	return &GuardError{Kind: ErrUntrusted, Reason: fmt.Sprintf(format, args...)}
}

// Guard holds the thresholds that decide whether a fit is trustworthy.
// Zero fields take the defaults of DefaultGuard.
type Guard struct {
	// MinCustomers and MinRepeaters are the smallest sample and the fewest
	// customers with a repeat purchase for which a fit is attempted.
	// BG/NBD has 4 parameters and Gamma-Gamma 3; with fewer than a few dozen
	// repeaters their estimates swing from one month's data to the next.
	MinCustomers int
	MinRepeaters int
	// MaxRelStdErr is the largest relative standard error (SE / estimate)
	// allowed for any parameter. Large values mean the data barely
	// identify the parameter: predictions may still be fine in the range
	// seen, but extrapolations are noise.
	MaxRelStdErr float64
}

// DefaultGuard is used for zero fields of a Guard.
var DefaultGuard = Guard{MinCustomers: 100, MinRepeaters: 30, MaxRelStdErr: 1}

func (g Guard) withDefaults() Guard {
	if g.MinCustomers == 0 {
		g.MinCustomers = DefaultGuard.MinCustomers
	}
	if g.MinRepeaters == 0 {
		g.MinRepeaters = DefaultGuard.MinRepeaters
	}
	if g.MaxRelStdErr == 0 {
		g.MaxRelStdErr = DefaultGuard.MaxRelStdErr
	}
	return g
}

// CheckData says whether a sample is large and varied enough for BG/NBD.
// Whatever the thresholds, a fit needs at least two customers, one repeat
// purchase and some elapsed time: without them the likelihood has no
// maximum (it increases forever as the parameters run off to 0 or ∞).
func (g Guard) CheckData(data []Summary) error {
	g = g.withDefaults()
	n, rep := len(data), Repeaters(data)
	var maxT float64
	for _, s := range data {
		maxT = math.Max(maxT, s.T)
	}
	switch {
	case n == 0:
		return notEnough("no customers with a purchase in the calibration period")
	case n < 2 || n < g.MinCustomers:
		return notEnough("%d customers; the model needs at least %d", n, max(2, g.MinCustomers))
	case rep == 0:
		return notEnough("no customer has bought a second time yet, so nothing tells how often customers return")
	case rep < g.MinRepeaters:
		return notEnough("only %d customers have bought more than once; the model needs at least %d", rep, g.MinRepeaters)
	case maxT == 0:
		return notEnough("all first purchases are on the last day of the period; no time has passed to observe repeat purchases")
	}
	return nil
}

// CheckBGNBD says whether a BG/NBD fit can be shown: the optimiser
// converged, the estimates are finite and within sane bounds, and the data
// pin them down (relative standard errors).
func (g Guard) CheckBGNBD(f BGNBDFit) error {
	g = g.withDefaults()
	if !f.Converged {
		return untrusted("the estimation did not converge (%s)", f.Reason)
	}
	ps := []struct {
		name   string
		v, se  float64
		lo, hi float64
	}{
		{"r", f.R, f.StdErr.R, 1e-4, 1e4},
		// α is in time units; bounds relative to nothing would be arbitrary,
		// so only finiteness and positivity are checked.
		{"alpha", f.Alpha, f.StdErr.Alpha, 1e-300, math.MaxFloat64},
		{"a", f.A, f.StdErr.A, 1e-4, 1e4},
		{"b", f.B, f.StdErr.B, 1e-4, 1e6},
	}
	for _, p := range ps {
		if !finite(p.v) || p.v < p.lo || p.v > p.hi {
			return untrusted("parameter %s = %g is outside the range [%g, %g] where the model makes sense; the data may not follow its assumptions", p.name, p.v, p.lo, p.hi)
		}
	}
	for _, p := range ps {
		if p.se == 0 {
			return untrusted("the data do not determine parameter %s (no curvature at the optimum)", p.name)
		}
		if p.se/p.v > g.MaxRelStdErr {
			return untrusted("parameter %s = %.3g is poorly determined (standard error %.2g); more customers or a longer history are needed", p.name, p.v, p.se)
		}
	}
	return nil
}

// CheckGammaGamma says whether a Gamma-Gamma fit can be shown. Beyond
// convergence and finiteness it needs q > 1, since the population mean
// spend pγ/(q−1) does not exist otherwise.
func (g Guard) CheckGammaGamma(f GammaGammaFit) error {
	g = g.withDefaults()
	if !f.Converged {
		return untrusted("the spend model's estimation did not converge (%s)", f.Reason)
	}
	ps := []struct {
		name  string
		v, se float64
	}{{"p", f.P, f.StdErr.P}, {"q", f.Q, f.StdErr.Q}, {"gamma", f.Gamma, f.StdErr.Gamma}}
	for _, p := range ps {
		if !finite(p.v) || p.v <= 0 {
			return untrusted("spend parameter %s = %g is not a positive finite number", p.name, p.v)
		}
	}
	if f.Q <= 1 {
		return untrusted("spend parameter q = %.3g ≤ 1: average spend varies so much between customers that it has no finite mean", f.Q)
	}
	for _, p := range ps {
		if p.se == 0 {
			return untrusted("the data do not determine spend parameter %s", p.name)
		}
		if p.se/p.v > g.MaxRelStdErr {
			return untrusted("spend parameter %s = %.3g is poorly determined (standard error %.2g)", p.name, p.v, p.se)
		}
	}
	return nil
}
