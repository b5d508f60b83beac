package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
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
	SkipSpend                  bool // fit BG/NBD only (benchmarks)
	// From, if set, starts the BG/NBD fits from these estimates only
	// (retention.FitBGNBDFrom): refits converge in a few steps.
	From *retention.BGNBD
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
	cal = make([]retention.Summary, 0, len(st.cs))
	if q.CalibrationEnd.IsZero() {
		full = make([]retention.Summary, 0, len(st.cs))
	}
	for i := range st.cs {
		c := &st.cs[i]
		if q.CalibrationEnd.IsZero() {
			if s, ok := c.summary(holdEnd, holdEnd, unit); ok {
				full = append(full, s)
			}
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
	fitBG := func(data []retention.Summary) (retention.BGNBDFit, error) {
		if q.From != nil {
			return retention.FitBGNBDFrom(ctx, data, q.Guard, *q.From)
		}
		return retention.FitBGNBD(ctx, data, q.Guard)
	}
	bg, err := fitBG(full)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if bg.Customers > 0 {
		info := bg.FitInfo
		f.report.Fit = &info
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
	var gg retention.GammaGammaFit
	if q.SkipSpend {
		err = fmt.Errorf("not fitted: %w", core.ErrInvalid)
	} else {
		gg, err = retention.FitGammaGamma(ctx, full, q.Guard)
	}
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
			vfit, err = fitBG(cal)
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
func (e *Engine) refit(ctx context.Context) (ModelReport, error) { return e.refitIf(ctx, true) }

// refitIf fits unless (force false) a fit exists, perhaps made by the fit
// that was running while this call waited.
func (e *Engine) refitIf(ctx context.Context, force bool) (ModelReport, error) {
	e.fitMu.Lock()
	defer e.fitMu.Unlock()
	prev := e.model.Load()
	if prev != nil && !force {
		return prev.report, nil
	}
	// Refits start from the current estimates; once a day (and whenever
	// there is no trusted model) the fit starts from scratch from several
	// points, which also guards against a drifting local optimum.
	var q FitQuery
	if prev != nil && prev.trusted && time.Since(e.lastCold) < 24*time.Hour {
		b := prev.bg
		q.From = &b
	}
	f, err := e.fit(ctx, q)
	if err == nil && q.From == nil {
		e.lastCold = time.Now()
	}
	if err != nil {
		return ModelReport{}, err
	}
	f.version = e.modelV.Add(1)
	e.model.Store(f)
	e.mu.RLock()
	small := e.st == nil || len(e.st.cs) <= predInline
	e.mu.RUnlock()
	if small {
		e.afterFit(f)
	} else {
		go e.afterFit(f) // seconds at a million customers: Facts is lazy meanwhile
	}
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
	return e.refitIf(ctx, false)
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

// rfmRank holds every customer's all-time recency (negated, so that
// "less" is "worse"), frequency and monetary value as of one day in rank
// sets, so one customer's RFM scores are exact and a lookup away (Facts,
// Predict, the at-risk list). applyBatch keeps it current; a new day
// rebuilds it.
type rfmRank struct {
	day          int32
	rec, fr, mon *rankSet
}

func (e *Engine) rfmValues(c *cust, today int32) (rec, freq int, mon int64, ok bool) {
	o, g := c.buysIn(minDay, today)
	if o == 0 {
		return 0, 0, 0, false
	}
	last, _ := c.lastBuyOnOrBefore(today)
	return int(today - last), o, satAdd(g, -c.refundsIn(minDay, today)), true
}

func (e *Engine) newRank(st *state, today int32) *rfmRank {
	var rec, fr, mon []int64
	for i := range st.cs {
		if r, f, m, ok := e.rfmValues(&st.cs[i], today); ok {
			rec = append(rec, -int64(r))
			fr = append(fr, int64(f))
			mon = append(mon, m)
		}
	}
	return &rfmRank{day: today, rec: newRankSet(rec), fr: newRankSet(fr), mon: newRankSet(mon)}
}

func (k *rfmRank) update(e *Engine, c *cust, sign int) {
	r, f, m, ok := e.rfmValues(c, k.day)
	if !ok {
		return
	}
	if sign > 0 {
		k.rec.Add(-int64(r))
		k.fr.Add(int64(f))
		k.mon.Add(m)
	} else {
		k.rec.Remove(-int64(r))
		k.fr.Remove(int64(f))
		k.mon.Remove(m)
	}
}

func (k *rfmRank) fix() {
	k.rec.fix()
	k.fr.fix()
	k.mon.fix()
}

func (k *rfmRank) scores(rec, freq int, mon int64) (r, f, m int) {
	n := k.rec.Len()
	clamp := func(s int) int { return min(max(s, 1), 5) }
	return clamp(retention.QuintileScore(k.rec.Less(-int64(rec)), n)),
		clamp(retention.QuintileScore(k.fr.Less(int64(freq)), n)),
		clamp(retention.QuintileScore(k.mon.Less(mon), n))
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
		p.R, p.F, p.M = st.rank.scores(r, f, m)
		p.RFMSegment = retention.SegmentOf(p.R, p.F)
	}
	return p, nil
}
