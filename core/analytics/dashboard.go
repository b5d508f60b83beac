package analytics

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/retain-crm/retain/core/retention"
)

// dashLen is how many periods of cohorts the dashboard shows.
func dashLen(p retention.Period) int64 {
	switch p {
	case retention.PeriodDay:
		return 30
	case retention.PeriodQuarter:
		return 8
	case retention.PeriodYear:
		return 5
	}
	return 12
}

// atRiskOnDashboard is the length of the dashboard's at-risk list.
const atRiskOnDashboard = 10

// dashState keeps the dashboard's sums for one period kind current: every
// figure but the RFM scores and the at-risk list is a sum over customers,
// so applyBatch takes a changed customer's old contribution out and puts
// the new one in (dashUpdate) instead of recomputing everything. It is
// valid for one day and one model; after that the next Dashboard call
// builds it again.
type dashState struct {
	per      retention.Period
	day      int32
	modelV   uint64
	spec     metricSpec
	sums     [2]metricSums
	cohorts  *retention.CohortBuilder
	cohEnd   int32
	rfm      *retention.RFMGridBuilder
	buf      []retention.PeriodActivity
	cached   *Dashboard
	cachedWM uint64
}

// add puts one customer's contribution in (sign +1) or takes it out (−1).
func (d *dashState) add(e *Engine, c *cust, sign int) {
	var one [2]metricSums
	d.spec.contribute(c, &one)
	d.sums[0].add(&one[0], sign)
	d.sums[1].add(&one[1], sign)
	if len(c.buys) > 0 && c.buys[0].day <= d.cohEnd {
		d.buf = c.periodActs(d.per, d.cohEnd, d.buf)
		d.cohorts.Add(d.per.Of(int64(c.buys[0].day)), d.buf, sign)
	}
	if c.extra != nil {
		d.cohorts.OtherCurrency += sign * int(c.extra.otherCurrency)
	}
	if r, f, m, ok := e.rfmValues(c, d.day); ok {
		d.rfm.Add(r, f, m, sign)
	}
}

// dashUpdate is called by applyBatch under the write lock around each
// changed customer's mutation. States of another day or model are dropped.
func (e *Engine) dashUpdate(c *cust, sign int) {
	today := e.today()
	v := e.currentModelV()
	if k := e.st.rank; k != nil && k.day == today {
		k.update(e, c, sign)
	}
	if sign > 0 && e.st.riskOK && e.st.riskDay == today && e.st.riskV == v {
		c.risk = float32(e.atRiskScore(c, e.model.Load(), today))
	}
	if len(e.dash) == 0 {
		return
	}
	for p, d := range e.dash {
		if d.day != today || d.modelV != v {
			delete(e.dash, p)
			continue
		}
		d.add(e, c, sign)
	}
}

func (e *Engine) currentModelV() uint64 {
	if m := e.model.Load(); m != nil {
		return m.version
	}
	return 0
}

// dashboard returns the cached dashboard when nothing changed, finishes
// one from the kept sums when only events arrived, and builds the sums
// from every customer otherwise (first call, new day, new model).
func (e *Engine) dashboard(ctx context.Context, p retention.Period) (*Dashboard, error) {
	if !p.Valid() {
		return nil, fieldErr("period", "must be day, week, month, quarter or year")
	}
	// The write lock: the sums are built and read here and changed by
	// applyBatch; a build takes well under the targets' 2 s.
	e.mu.Lock()
	if e.st == nil || !e.ready.Load() {
		e.mu.Unlock()
		_, _, err := e.readState()
		return nil, err
	}
	st := e.st
	today := e.today()
	m := e.model.Load()
	v := e.currentModelV()
	wm := e.wm.Load()
	d := e.dash[p]
	if d != nil && (d.day != today || d.modelV != v) {
		d = nil
	}
	if d != nil && d.cached != nil && d.cachedWM == wm {
		out := *d.cached
		e.mu.Unlock()
		out.Status = e.status()
		return &out, nil
	}
	if d == nil {
		d = &dashState{per: p, day: today, modelV: v, spec: e.newSpec(st, p, time.Time{}), rfm: retention.NewRFMGridBuilder(e.opt.Currency)}
		endP := p.Of(int64(today))
		d.cohEnd = today
		d.cohorts = retention.NewCohortBuilder(p, e.opt.Location, e.opt.Currency, endP-dashLen(p)+1, endP)
		// Both cores: each builds the sums of a share of the customers,
		// then the shares are merged (every figure is a sum).
		parts := make([]*dashState, 0, 8)
		var pmu sync.Mutex
		parallel(len(st.cs), func(lo, hi int) {
			part := &dashState{per: p, day: today, spec: d.spec, rfm: retention.NewRFMGridBuilder(e.opt.Currency),
				cohorts: retention.NewCohortBuilder(p, e.opt.Location, e.opt.Currency, endP-dashLen(p)+1, endP), cohEnd: today}
			for i := lo; i < hi; i++ {
				if i%65536 == 0 && ctx.Err() != nil {
					return
				}
				part.add(e, &st.cs[i], 1)
			}
			pmu.Lock()
			parts = append(parts, part)
			pmu.Unlock()
		})
		if err := ctx.Err(); err != nil {
			e.mu.Unlock()
			return nil, err
		}
		for _, part := range parts {
			d.sums[0].add(&part.sums[0], 1)
			d.sums[1].add(&part.sums[1], 1)
			d.cohorts.Merge(part.cohorts)
			d.rfm.Merge(part.rfm)
		}
		if e.dash == nil {
			e.dash = map[retention.Period]*dashState{}
		}
		e.dash[p] = d
	}
	out := &Dashboard{
		Metrics:  e.report(&d.spec, &d.sums),
		Cohorts:  d.cohorts.Report(),
		RFM:      d.rfm.Result(),
		Reasons:  e.reasons(st),
		Computed: e.opt.Now(),
	}
	if m != nil {
		out.Model = m.report
	} else {
		out.Model = ModelReport{Unit: e.opt.Unit.String(), Reason: "the models are being fitted"}
	}
	e.ensureRisk(st, m, today, v)
	top := e.topAtRisk(st, atRiskOnDashboard, func(i int) float64 { return float64(st.cs[i].risk) })
	out.AtRisk = e.atRiskList(st, top, m, today)
	d.cached, d.cachedWM = out, wm
	e.mu.Unlock()
	out.AtRisk = e.withNames(ctx, out.AtRisk)
	res := *out
	res.Status = e.status()
	return &res, nil
}

// ensureRisk recomputes every customer's at-risk score when the day or the
// model changed; the caller holds the write lock.
func (e *Engine) ensureRisk(st *state, m *fitted, today int32, v uint64) {
	if st.riskOK && st.riskDay == today && st.riskV == v {
		return
	}
	parallel(len(st.cs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			st.cs[i].risk = float32(e.atRiskScore(&st.cs[i], m, today))
		}
	})
	st.riskOK, st.riskDay, st.riskV = true, today, v
}

// parallel splits [0, n) over the cores.
func parallel(n int, fn func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), 8)
	if n < parallelMin || w < 2 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { fn(lo, min(lo+chunk, n)) })
	}
	wg.Wait()
}

// parallelMin is the number of customers from which work is split over
// the cores (tests lower it so the merging paths run on small data).
var parallelMin = 50000

// precomputeRisk computes every customer's at-risk score under the read
// lock (readers go on) and installs the scores if nothing changed
// meanwhile, so the first dashboard after a refit or a new day does not
// pay for a million P(alive).
func (e *Engine) precomputeRisk() {
	e.mu.RLock()
	st := e.st
	if st == nil {
		e.mu.RUnlock()
		return
	}
	gen, today, m, v := st.mut, e.today(), e.model.Load(), e.currentModelV()
	if st.riskOK && st.riskDay == today && st.riskV == v {
		e.mu.RUnlock()
		return
	}
	scores := make([]float32, len(st.cs))
	parallel(len(st.cs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			scores[i] = float32(e.atRiskScore(&st.cs[i], m, today))
		}
	})
	e.mu.RUnlock()
	e.mu.Lock()
	if e.st == st && st.mut == gen && len(st.cs) == len(scores) {
		for i := range scores {
			st.cs[i].risk = scores[i]
		}
		st.riskOK, st.riskDay, st.riskV = true, today, v
	}
	e.mu.Unlock()
}
