package analytics

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/retention"
)

// periodActs lists the customer's purchase and refund activity per period
// up to day end (inclusive), as retention.CohortBuilder takes it.
func (c *cust) periodActs(p retention.Period, end int32, buf []retention.PeriodActivity) []retention.PeriodActivity {
	buf = buf[:0]
	at := func(k int64) *retention.PeriodActivity {
		if n := len(buf); n > 0 && buf[n-1].Period == k {
			return &buf[n-1]
		}
		// Refunds come after the purchases of their period is not
		// guaranteed: find or insert in order.
		i, found := slices.BinarySearchFunc(buf, k, func(a retention.PeriodActivity, k int64) int { return cmp.Compare(a.Period, k) })
		if !found {
			buf = slices.Insert(buf, i, retention.PeriodActivity{Period: k})
		}
		return &buf[i]
	}
	for _, b := range c.buys {
		if b.day > end {
			break
		}
		a := at(p.Of(int64(b.day)))
		a.Orders += int(b.orders)
		a.Sales = satAdd(a.Sales, b.gross)
		a.Net = satAdd(a.Net, b.gross)
	}
	if c.extra != nil {
		for _, r := range c.extra.amounts {
			if r.typ == typeRefund && r.day <= end {
				a := at(p.Of(int64(r.day)))
				a.Net = satAdd(a.Net, -r.amount)
			}
		}
	}
	return buf
}

// cohortWindow returns the builder for q's window over st.
func (e *Engine) cohortBuilder(st *state, p retention.Period, from, to time.Time) (*retention.CohortBuilder, int32) {
	loc := e.opt.Location
	if to.IsZero() {
		to = e.opt.Now()
	}
	end := clampDay(to.Add(-time.Nanosecond), loc) // last day in the window
	endP := p.Of(int64(end))
	var startP int64
	if from.IsZero() {
		first := int32(maxDay)
		for i := range st.cs {
			if b := st.cs[i].buys; len(b) > 0 && b[0].day < first {
				first = b[0].day
			}
		}
		startP = min(p.Of(int64(first)), endP)
	} else {
		startP = p.Of(int64(clampDay(from, loc)))
	}
	// A window of more than 400 periods (days over years) is cut to the
	// newest 400: the matrix is quadratic in the number of periods.
	startP = max(startP, endP-399)
	return retention.NewCohortBuilder(p, loc, e.opt.Currency, startP, endP), end
}

func (e *Engine) cohorts(ctx context.Context, q CohortQuery) (*retention.CohortReport, error) {
	if !q.Period.Valid() {
		return nil, fieldErr("period", "must be day, week, month, quarter or year")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, fieldErr("from", "must be before to")
	}
	st, unlock, err := e.readState()
	if err != nil {
		return nil, err
	}
	defer unlock()
	b, end := e.cohortBuilder(st, q.Period, q.From, q.To)
	var buf []retention.PeriodActivity
	other := 0
	for i := range st.cs {
		c := &st.cs[i]
		if q.Filter != nil && !q.Filter(c.id) {
			continue
		}
		if c.extra != nil {
			other += int(c.extra.otherCurrency)
		}
		if len(c.buys) == 0 || c.buys[0].day > end {
			continue
		}
		buf = c.periodActs(q.Period, end, buf)
		b.Add(q.Period.Of(int64(c.buys[0].day)), buf, 1)
	}
	b.OtherCurrency = other
	return b.Report(), nil
}

func (e *Engine) rfm(ctx context.Context, q RFMQuery) (*retention.RFMResult, error) {
	if q.WindowDays < 0 {
		return nil, fieldErr("window_days", "must not be negative")
	}
	st, unlock, err := e.readState()
	if err != nil {
		return nil, err
	}
	today := e.today()
	from := int32(minDay)
	if q.WindowDays > 0 {
		from = today - int32(min(q.WindowDays, maxDay)) + 1
	}
	var cs []retention.RFMCustomer
	other := 0
	for i := range st.cs {
		c := &st.cs[i]
		if q.Filter != nil && !q.Filter(c.id) {
			continue
		}
		if c.extra != nil {
			other += int(c.extra.otherCurrency)
		}
		o, g := c.buysIn(from, today)
		if o == 0 {
			continue
		}
		last, _ := c.lastBuyOnOrBefore(today)
		cs = append(cs, retention.RFMCustomer{CustomerID: c.id, RecencyDays: int(today - last), Frequency: o,
			Monetary: satAdd(g, -c.refundsIn(from, today))})
	}
	unlock()
	res := retention.ScoreRFM(cs, e.opt.Currency)
	res.OtherCurrency = other
	return res, nil
}

func (e *Engine) dayN(ctx context.Context, q DayNQuery) ([]retention.DayNRetention, error) {
	days := q.Days
	if len(days) == 0 {
		days = []int{1, 7, 30}
	}
	for _, d := range days {
		if d < 1 || d > 3660 {
			return nil, fieldErr("days", "must be between 1 and 3660")
		}
	}
	types := q.Types
	if len(types) == 0 {
		types = []core.InteractionType{core.TypeSession}
	}
	st, unlock, err := e.readState()
	if err != nil {
		return nil, err
	}
	defer unlock()
	want := map[uint16]bool{}
	purchases := false
	for _, t := range types {
		if t == core.TypePurchase {
			purchases = true
		}
		if n, ok := st.types.lookup(t); ok {
			want[n] = true
		}
	}
	today := e.today()
	out := make([]retention.DayNRetention, len(days))
	for i, d := range days {
		out[i].Day = d
	}
	var active []int32
	for i := range st.cs {
		c := &st.cs[i]
		if q.Filter != nil && !q.Filter(c.id) {
			continue
		}
		active = active[:0]
		for _, a := range c.acts {
			if want[a.typ()] && a.day() <= today {
				active = append(active, a.day())
			}
		}
		if purchases {
			for _, b := range c.buys {
				if b.day <= today {
					active = append(active, b.day)
				}
			}
			slices.Sort(active)
		}
		if len(active) == 0 {
			continue
		}
		first := active[0]
		for j, d := range days {
			if int64(first)+int64(d) > int64(today) {
				continue
			}
			out[j].Eligible++
			if _, ok := slices.BinarySearch(active, first+int32(d)); ok {
				out[j].Retained++
			}
		}
	}
	for i := range out {
		out[i].Rate = ratio(float64(out[i].Retained), float64(out[i].Eligible))
	}
	return out, nil
}

// atRiskScore ranks customers for the at-risk list: the value at stake
// (net revenue so far) times the risk of having left (1 − P(alive) with a
// trusted model, else the share of the churn window elapsed since the last
// purchase). Customers still safe (P(alive) ≥ 0.7, or within half the
// churn window) and customers already lost for good (P(alive) < 0.05, or
// beyond the churn window) score 0: they need no rescue now, or none
// would help.
func (e *Engine) atRiskScore(c *cust, m *fitted, today int32) float64 {
	if len(c.buys) == 0 || c.buys[0].day > today {
		return 0
	}
	o, g := c.buysIn(minDay, today)
	value := float64(satAdd(g, -c.refundsIn(minDay, today)))
	if !(value > 0) || o == 0 {
		return 0
	}
	if m != nil && m.trusted {
		s, _ := c.summary(today, 0, e.opt.Unit.Days())
		pa := m.bg.PAlive(s.X, s.Tx, s.T)
		if pa >= 0.7 || pa < 0.05 {
			return 0
		}
		return value * (1 - pa)
	}
	last, _ := c.lastBuyOnOrBefore(today)
	risk := float64(today-last) / float64(e.opt.ChurnDays)
	if risk < 0.5 || risk > 1 {
		return 0
	}
	return value * risk
}

type scored struct {
	slot  int32
	score float64
}

// topAtRisk returns the slots of the limit highest scores (score > 0).
func (e *Engine) topAtRisk(st *state, limit int, score func(i int) float64) []scored {
	var top []scored // kept sorted descending; limit is small
	for i := range st.cs {
		s := score(i)
		if !(s > 0) || (len(top) == limit && s <= top[limit-1].score) {
			continue
		}
		j, _ := slices.BinarySearchFunc(top, s, func(a scored, s float64) int { return cmp.Compare(s, a.score) })
		top = slices.Insert(top, j, scored{int32(i), s})
		if len(top) > limit {
			top = top[:limit]
		}
	}
	return top
}

func (e *Engine) atRisk(ctx context.Context, limit int) ([]AtRisk, error) {
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, 1000)
	st, unlock, err := e.readState()
	if err != nil {
		return nil, err
	}
	unlock()
	e.mu.Lock() // the scores are cached in the state
	st = e.st
	m := e.model.Load()
	today := e.today()
	e.ensureRisk(st, m, today, e.currentModelV())
	top := e.topAtRisk(st, limit, func(i int) float64 { return float64(st.cs[i].risk) })
	out := e.atRiskList(st, top, m, today)
	e.mu.Unlock()
	return e.withNames(ctx, out), nil
}

func (e *Engine) atRiskList(st *state, top []scored, m *fitted, today int32) []AtRisk {
	out := make([]AtRisk, len(top))
	for i, t := range top {
		c := &st.cs[t.slot]
		e.predictOne(c, m, today, &out[i].Prediction)
		if r, f, mo, ok := e.rfmValues(c, today); ok {
			out[i].R, out[i].F, out[i].M = st.rank.scores(r, f, mo)
			out[i].RFMSegment = retention.SegmentOf(out[i].R, out[i].F)
		}
	}
	return out
}

// withNames fills display names from the feed (outside the state lock).
func (e *Engine) withNames(ctx context.Context, list []AtRisk) []AtRisk {
	if len(list) == 0 {
		return list
	}
	ids := make([]core.ID, len(list))
	for i := range list {
		ids[i] = list[i].CustomerID
	}
	cs, err := e.feed.GetCustomers(ctx, ids)
	if err != nil {
		e.log.Warn("analytics: reading names of customers at risk", "err", err)
		return list
	}
	names := make(map[core.ID]string, len(cs))
	for i := range cs {
		names[cs[i].ID] = cs[i].DisplayName()
	}
	out := list[:0]
	for _, a := range list {
		n, ok := names[a.CustomerID]
		if !ok {
			continue // erased meanwhile
		}
		a.Name = n
		out = append(out, a)
	}
	return out
}

func (e *Engine) reasons(st *state) []ChurnReason {
	var out []ChurnReason
	for i, n := range st.reasonCount {
		if n > 0 {
			out = append(out, ChurnReason{Reason: st.reasons[i], Customers: n})
		}
	}
	slices.SortFunc(out, func(a, b ChurnReason) int {
		if a.Customers != b.Customers {
			return b.Customers - a.Customers
		}
		return cmp.Compare(a.Reason, b.Reason)
	})
	return out
}

// facts returns one customer's facts; the closures read a private copy.
func (e *Engine) facts(id core.ID) (Facts, bool) { return e.factsOf(id, true) }

// factsOf is facts; without scores it leaves out P(alive), CLV and the RFM
// scores (PAlive and CLV −1, R F M 0), which cost most of a call. The
// closures read a private copy of the customer's records, so the result
// outlives the read lock (FactsReader reads in place instead).
func (e *Engine) factsOf(id core.ID, scores bool) (Facts, bool) {
	st, unlock, err := e.readState()
	if err != nil {
		return Facts{}, false
	}
	defer unlock()
	slot, ok := st.idx.get(id)
	if !ok {
		return Facts{}, false
	}
	c := &st.cs[slot]
	today := e.today()
	loc := e.opt.Location
	cp := cust{id: c.id, buys: slices.Clone(c.buys), acts: slices.Clone(c.acts)}
	if c.extra != nil {
		x := *c.extra
		x.amounts = slices.Clone(x.amounts)
		cp.extra = &x
	}
	f := Facts{CustomerID: id, PAlive: -1, CLV: -1}
	need := NeedEvents
	var m *fitted
	var o retention.CLVOptions
	if scores {
		need, m, o = NeedAll, e.model.Load(), e.clvOptions()
	}
	e.fillFacts(st, c, slot, today, need, m, e.validPreds(st, m, today), o, &f)
	// Type numbers are looked up under the read lock when asked: the
	// table only grows, and a type unknown now has no records in the copy.
	types := st.types
	f.Count = func(t core.InteractionType, days int) (int, int64) {
		e.mu.RLock()
		defer e.mu.RUnlock()
		return countIn(&cp, types, today, t, days)
	}
	f.Last = func(t core.InteractionType) time.Time {
		e.mu.RLock()
		defer e.mu.RUnlock()
		return lastOf(&cp, types, t, loc)
	}
	return f, true
}
