package analytics

import (
	"context"
	"math"
	"time"

	"github.com/retain-crm/retain/core/retention"
)

// metricSpec fixes everything a customer's contribution to the metrics of
// a period and the one before depends on: the periods' days, today, the
// churn definition and (for p_alive) the model.
type metricSpec struct {
	per   retention.Period
	k     int64    // current period number
	ds    [4]int32 // first day of periods k−2, k−1, k, k+1
	eval  [3]int32 // last day evaluated in periods k−2..k: min(period end, today)
	today int32
	churn string
	days  int32 // ChurnDays
	subs  subTypes
	model *fitted // p_alive only
	thr   float64
	unit  float64
}

func (e *Engine) newSpec(st *state, p retention.Period, at time.Time) metricSpec {
	today := e.today()
	loc := e.opt.Location
	if at.IsZero() {
		at = e.opt.Now()
	}
	k := p.Of(int64(clampDay(at, loc)))
	sp := metricSpec{per: p, k: k, today: today, churn: e.opt.Churn, days: int32(e.opt.ChurnDays),
		subs: st.subTypes(), thr: e.opt.PAliveThreshold, unit: e.opt.Unit.Days()}
	for i := 0; i < 4; i++ {
		sp.ds[i] = int32(retention.DayIndex(p.Start(k-2+int64(i), loc), loc))
	}
	for i := 0; i < 3; i++ {
		sp.eval[i] = min(sp.ds[i+1]-1, today)
	}
	if sp.churn == ChurnPAlive {
		if m := e.model.Load(); m != nil && m.trusted {
			sp.model = m
		} else {
			sp.churn = ChurnInactivity // no trusted model: say so in the report
		}
	}
	return sp
}

// metricSums are the sums over customers behind one period's Metrics.
type metricSums struct {
	S, E, N, Lost             int
	Buyers, Repeat, Orders    int
	Sales, Revenue            int64
	Gone                      int // customers lost as of the period's end (for the lifetime)
	GoneDays                  int64
	Renewals, Cancels         int
	NRRBase, NRRNow           int64
	NRRBaseCustomers          int
	SubscriptionsInPeriodDays int
}

func (a *metricSums) add(b *metricSums, sign int) {
	s := int64(sign)
	a.S += sign * b.S
	a.E += sign * b.E
	a.N += sign * b.N
	a.Lost += sign * b.Lost
	a.Buyers += sign * b.Buyers
	a.Repeat += sign * b.Repeat
	a.Orders += sign * b.Orders
	a.Sales += s * b.Sales
	a.Revenue += s * b.Revenue
	a.Gone += sign * b.Gone
	a.GoneDays += s * b.GoneDays
	a.Renewals += sign * b.Renewals
	a.Cancels += sign * b.Cancels
	a.NRRBase += s * b.NRRBase
	a.NRRNow += s * b.NRRNow
	a.NRRBaseCustomers += sign * b.NRRBaseCustomers
}

// activeAt says whether the customer counts as a customer (not churned) at
// the end of day d under the spec's churn definition.
func (sp *metricSpec) activeAt(c *cust, d int32) bool {
	switch sp.churn {
	case ChurnCancellation:
		a, _, _ := c.subscribedAt(sp.subs, d)
		return a
	case ChurnPAlive:
		s, ok := c.summary(d, d, sp.unit)
		if !ok {
			return false
		}
		return sp.model.bg.PAlive(s.X, s.Tx, s.T) >= sp.thr
	}
	last, ok := c.lastBuyOnOrBefore(d)
	return ok && last > d-sp.days
}

// firstDay is the day a customer became a customer: the first purchase,
// or under the cancellation definition the first start or renewal.
func (sp *metricSpec) firstDay(c *cust) (int32, bool) {
	if sp.churn == ChurnCancellation {
		_, f, ok := c.subscribedAt(sp.subs, maxDay)
		return f, ok
	}
	if len(c.buys) == 0 {
		return 0, false
	}
	return c.buys[0].day, true
}

// contribute computes one customer's share of the current (out[1]) and
// previous (out[0]) period's sums.
func (sp *metricSpec) contribute(c *cust, out *[2]metricSums) {
	first, has := sp.firstDay(c)
	var rev [3]int64
	var buyer [3]bool
	for i := 0; i < 3; i++ {
		if sp.ds[i] > sp.eval[i] {
			continue // a period that has not started
		}
		o, g := c.buysIn(sp.ds[i], sp.eval[i])
		rev[i] = satAdd(g, -c.refundsIn(sp.ds[i], sp.eval[i]))
		buyer[i] = o > 0
		if i == 0 {
			continue
		}
		m := &out[i-1]
		from, to := sp.ds[i], sp.eval[i]
		m.Orders, m.Sales, m.Revenue = o, g, rev[i]
		if o > 0 {
			m.Buyers = 1
			if all, _ := c.buysIn(minDay, to); all >= 2 {
				m.Repeat = 1
			}
		}
		if has && first <= to {
			startActive := first < from && sp.activeAt(c, from-1)
			endActive := sp.activeAt(c, to)
			if startActive {
				m.S = 1
				if !endActive {
					m.Lost = 1
				}
			}
			if endActive {
				m.E = 1
			}
			if first >= from {
				m.N = 1
			}
			if !endActive && len(c.buys) > 0 && c.buys[0].day <= to {
				last, _ := c.lastBuyOnOrBefore(to)
				m.Gone, m.GoneDays = 1, int64(last-c.buys[0].day)
			}
		}
		if sp.subs.renew != 0 {
			m.Renewals = int(c.actsIn(sp.subs.renew, from, to))
		}
		if sp.subs.cancel != 0 {
			m.Cancels = int(c.actsIn(sp.subs.cancel, from, to))
		}
		if buyer[i-1] {
			m.NRRBase, m.NRRNow, m.NRRBaseCustomers = rev[i-1], rev[i], 1
		}
	}
}

func clamp01(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	return math.Min(v, 1)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// finish turns sums into Metrics.
func (sp *metricSpec) finish(m *metricSums, i int, loc *time.Location) Metrics {
	k := sp.k - 1 + int64(i)
	out := Metrics{
		Start:            sp.per.Start(k, loc),
		End:              sp.per.Start(k+1, loc),
		CustomersAtStart: m.S, CustomersAtEnd: m.E, NewCustomers: m.N, Lost: m.Lost,
		Orders: m.Orders, Revenue: m.Revenue,
	}
	out.RetentionRate = clamp01(ratio(float64(m.E-m.N), float64(m.S)))
	out.ChurnRate = clamp01(ratio(float64(m.Lost), float64(m.S)))
	out.RepeatPurchaseRate = clamp01(ratio(float64(m.Repeat), float64(m.Buyers)))
	out.PurchaseFrequency = ratio(float64(m.Orders), float64(m.Buyers))
	out.AverageOrderValue = ratio(float64(m.Sales), float64(m.Orders))
	out.AverageLifetime = ratio(float64(m.GoneDays), float64(m.Gone))
	out.RenewalRate = clamp01(ratio(float64(m.Renewals), float64(m.Renewals+m.Cancels)))
	out.RevenuePerCustomer = ratio(float64(m.Revenue), float64(m.Buyers))
	if m.NRRBase > 0 {
		out.NetRevenueRetention = math.Max(0, float64(m.NRRNow)/float64(m.NRRBase))
	}
	return out
}

func (e *Engine) report(sp *metricSpec, sums *[2]metricSums) MetricsReport {
	r := MetricsReport{Period: sp.per, Currency: e.opt.Currency, Churn: sp.churn}
	if sp.churn != e.opt.Churn {
		r.ChurnNote = "no trusted model yet: churn counted as no purchase for " + itoa(e.opt.ChurnDays) + " days"
	}
	r.Previous = sp.finish(&sums[0], 0, e.opt.Location)
	r.Current = sp.finish(&sums[1], 1, e.opt.Location)
	return r
}

func (e *Engine) metrics(ctx context.Context, q MetricsQuery) (MetricsReport, error) {
	if !q.Period.Valid() {
		return MetricsReport{}, fieldErr("period", "must be day, week, month, quarter or year")
	}
	st, unlock, err := e.readState()
	if err != nil {
		return MetricsReport{}, err
	}
	defer unlock()
	sp := e.newSpec(st, q.Period, q.At)
	var sums [2]metricSums
	for i := range st.cs {
		c := &st.cs[i]
		if q.Filter != nil && !q.Filter(c.id) {
			continue
		}
		if i%65536 == 0 && ctx.Err() != nil {
			return MetricsReport{}, ctx.Err()
		}
		var one [2]metricSums
		sp.contribute(c, &one)
		sums[0].add(&one[0], 1)
		sums[1].add(&one[1], 1)
	}
	return e.report(&sp, &sums), nil
}
