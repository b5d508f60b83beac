package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/retention"
)

func itoa(n int) string { return strconv.Itoa(n) }

func fieldErr(field, msg string) error { return core.FieldErr(field, "%s", msg) }

// fitted is a model fit the engine uses for predictions.
type fitted struct {
	report  ModelReport
	trusted bool
	bg      retention.BGNBD
	gg      *retention.GammaGamma // nil: no trusted spend model
	ggWhy   string
	version uint64
}

// FitQuery fits the models on a chosen calibration window (tests, the
// CLI): purchases up to CalibrationEnd's day calibrate, those after it up
// to HoldoutEnd's day validate. Zero CalibrationEnd: the engine's choice
// (the last quarter of the history, at most a year, as holdout).
type FitQuery struct {
	CalibrationEnd, HoldoutEnd time.Time
	Guard                      retention.Guard
}

// Fit fits BG/NBD and Gamma-Gamma on the current state for q and returns
// the report without installing it (Refit installs).
func (e *Engine) Fit(ctx context.Context, q FitQuery) (ModelReport, error) {
	f, err := e.fit(ctx, q)
	if err != nil {
		return ModelReport{}, err
	}
	return f.report, nil
}

func (e *Engine) fit(ctx context.Context, q FitQuery) (*fitted, error) {
	loc := e.opt.Location
	unit := e.opt.Unit.Days()
	today := e.today()
	st, unlock, err := e.readState()
	if err != nil {
		return nil, err
	}
	var full, cal []retention.Summary
	calEnd, holdEnd := today, today
	if !q.CalibrationEnd.IsZero() {
		calEnd = clampDay(q.CalibrationEnd, loc)
		holdEnd = calEnd
		if !q.HoldoutEnd.IsZero() {
			holdEnd = clampDay(q.HoldoutEnd, loc)
		}
	}
	firstDay := int32(maxDay)
	for i := range st.cs {
		if b := st.cs[i].buys; len(b) > 0 && b[0].day < firstDay {
			firstDay = b[0].day
		}
	}
	if q.CalibrationEnd.IsZero() && firstDay < today {
		// Holdout: the last quarter of the history, 4 weeks to a year.
		h := min(max((today-firstDay)/4, 28), 364)
		calEnd = today - h
	}
	for i := range st.cs {
		c := &st.cs[i]
		if s, ok := c.summary(holdEnd, holdEnd, unit); ok && q.CalibrationEnd.IsZero() {
			full = append(full, s)
		}
		if s, ok := c.summary(calEnd, holdEnd, unit); ok {
			cal = append(cal, s)
		}
	}
	unlock()
	if !q.CalibrationEnd.IsZero() {
		full = cal // fit on the calibration window the caller chose
	}
	f := &fitted{report: ModelReport{FittedAt: e.opt.Now(), Unit: e.opt.Unit.String(), Customers: len(full), Repeaters: retention.Repeaters(full)}}
	bg, err := retention.FitBGNBD(ctx, full, q.Guard)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		f.report.Reason = reasonOf(err)
		if !errors.Is(err, retention.ErrNotEnoughData) && bg.Converged {
			b := bg.BGNBD
			f.report.BGNBD = &b // shown for diagnostics, not trusted
		}
		return f, nil
	}
	f.trusted, f.bg = true, bg.BGNBD
	f.report.Trusted = true
	b := bg.BGNBD
	f.report.BGNBD = &b
	gg, err := retention.FitGammaGamma(ctx, full, q.Guard)
	if err == nil {
		g := gg.GammaGamma
		f.gg, f.report.GammaGamma = &g, &g
	} else {
		f.ggWhy = reasonOf(err)
		f.report.Reason = "lifetime value unavailable: " + f.ggWhy
	}
	// Holdout validation: a second fit on the calibration window, compared
	// with what the customers did in the holdout.
	if holdEnd > calEnd {
		vfit := bg
		if q.CalibrationEnd.IsZero() {
			vfit, err = retention.FitBGNBD(ctx, cal, q.Guard)
		}
		if err == nil || vfit.Converged {
			if v, verr := retention.Validate(vfit.BGNBD, cal, float64(holdEnd-calEnd)/unit, 7); verr == nil {
				f.report.Validation = &v
			}
		}
	}
	return f, nil
}

func reasonOf(err error) string {
	if r := retention.Reason(err); r != "" {
		return r
	}
	return err.Error()
}

// refit fits on the current state and installs the result.
func (e *Engine) refit(ctx context.Context) (ModelReport, error) {
	e.fitMu.Lock()
	defer e.fitMu.Unlock()
	f, err := e.fit(ctx, FitQuery{})
	if err != nil {
		return ModelReport{}, err
	}
	f.version = e.modelV.Add(1)
	e.model.Store(f)
	e.rfmSnap.Store(nil) // refreshed with the model
	e.notify(nil)
	return f.report, nil
}

func (e *Engine) modelReport(ctx context.Context) (ModelReport, error) {
	if m := e.model.Load(); m != nil {
		return m.report, nil
	}
	if _, unlock, err := e.readState(); err != nil {
		return ModelReport{}, err
	} else {
		unlock()
	}
	return e.refit(ctx)
}

// clvOptions: monthly discount steps over the horizon, in model units.
func (e *Engine) clvOptions() retention.CLVOptions {
	u := e.opt.Unit.Days()
	return retention.CLVOptions{
		Horizon:      float64(e.opt.HorizonDays) / u,
		Period:       365.25 / 12 / u,
		DiscountRate: math.Pow(1+e.opt.AnnualDiscountRate, 1.0/12) - 1,
	}
}

// predictOne fills the model part of a prediction for customer c as of today.
func (e *Engine) predictOne(c *cust, m *fitted, today int32, p *Prediction) {
	p.CustomerID = c.id
	p.HorizonDays = e.opt.HorizonDays
	p.Currency = e.opt.Currency
	if len(c.buys) > 0 {
		p.FirstPurchase = retention.DayStart(int64(c.buys[0].day), e.opt.Location)
		p.LastPurchase = retention.DayStart(int64(c.buys[len(c.buys)-1].day), e.opt.Location)
		o, g := c.buysIn(minDay, maxDay)
		p.Orders, p.Revenue = o, satAdd(g, -c.refundsIn(minDay, maxDay))
	}
	switch {
	case m == nil:
		p.Reason = "the models have not been fitted yet"
		return
	case !m.trusted:
		p.Reason = m.report.Reason
		return
	case len(c.buys) == 0:
		p.Reason = "no purchase yet"
		return
	}
	s, ok := c.summary(max(today, c.buys[0].day), 0, e.opt.Unit.Days())
	if !ok {
		p.Reason = "no purchase yet"
		return
	}
	o := e.clvOptions()
	p.Available = true
	p.PAlive = m.bg.PAlive(s.X, s.Tx, s.T)
	p.ExpectedPurchases = m.bg.ConditionalExpected(o.Horizon, s.X, s.Tx, s.T)
	if m.gg != nil {
		p.ExpectedSpend = m.gg.ConditionalSpend(s.X, s.Monetary)
		p.CLV = retention.CLV(m.bg, *m.gg, s, o)
	} else {
		p.Reason = "lifetime value unavailable: " + m.ggWhy
	}
}

// rfmSnapshot holds the sorted recency, frequency and monetary values of
// all customers at one time, so one customer's scores are a binary search
// away (Facts, Predict). It is refreshed with every fit and every day;
// customers who changed since are scored against it at once.
type rfmSnapshot struct {
	today        int32
	rec, fr, mon []int64
}

func (e *Engine) rfmValues(c *cust, today int32) (rec, freq int, mon int64, ok bool) {
	o, g := c.buysIn(minDay, today)
	if o == 0 {
		return 0, 0, 0, false
	}
	last, _ := c.lastBuyOnOrBefore(today)
	return int(today - last), o, satAdd(g, -c.refundsIn(minDay, today)), true
}

// snapshot returns a current RFM snapshot, building it under the caller's
// read lock when missing or a day old.
func (e *Engine) snapshot(st *state) *rfmSnapshot {
	today := e.today()
	if s := e.rfmSnap.Load(); s != nil && s.today == today {
		return s
	}
	s := &rfmSnapshot{today: today}
	for i := range st.cs {
		if r, f, m, ok := e.rfmValues(&st.cs[i], today); ok {
			s.rec = append(s.rec, int64(r))
			s.fr = append(s.fr, int64(f))
			s.mon = append(s.mon, m)
		}
	}
	slices.Sort(s.rec)
	slices.Sort(s.fr)
	slices.Sort(s.mon)
	e.rfmSnap.Store(s)
	return s
}

func (s *rfmSnapshot) scores(rec, freq int, mon int64) (r, f, m int) {
	n := len(s.rec)
	below := func(sorted []int64, v int64) int { i, _ := slices.BinarySearch(sorted, v); return i }
	return retention.QuintileScore(n-below(s.rec, int64(rec)+1), n),
		retention.QuintileScore(below(s.fr, int64(freq)), n),
		retention.QuintileScore(below(s.mon, mon), n)
}

func (e *Engine) predict(ctx context.Context, id core.ID) (Prediction, error) {
	st, unlock, err := e.readState()
	if err != nil {
		return Prediction{}, err
	}
	defer unlock()
	c := st.get(id, false)
	if c == nil {
		return Prediction{}, core.NotFoundf("customer %d has no interactions known to analytics", id)
	}
	var p Prediction
	today := e.today()
	e.predictOne(c, e.model.Load(), today, &p)
	if r, f, m, ok := e.rfmValues(c, today); ok {
		p.R, p.F, p.M = e.snapshot(st).scores(r, f, m)
		p.RFMSegment = retention.SegmentOf(p.R, p.F)
	}
	return p, nil
}

var _ = fmt.Sprint
