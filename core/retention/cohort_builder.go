package retention

import (
	"time"
)

// PeriodActivity is one customer's purchases and refunds in one period, as
// CohortBuilder takes them: Orders purchases worth Sales (gross), and Net =
// Sales − refunds.
type PeriodActivity struct {
	Period int64 // as Period.Of numbers it
	Orders int
	Sales  int64
	Net    int64
}

// CohortBuilder accumulates the cohort matrix and per-period metrics of
// Cohorts one customer at a time, and can take a customer out again
// (sign −1): every figure of a CohortReport is a sum over customers, so a
// caller that keeps the builder can follow changes of a few customers
// without recomputing the others. Cohorts uses it for its own result.
type CohortBuilder struct {
	period        Period
	loc           *time.Location
	currency      string
	startP, endP  int64
	size          []int
	active        [][]int
	revenue       [][]int64
	met           []PeriodMetrics
	customers     int
	activeC, repC int
	orders        int
	revenueTotal  int64
	OtherCurrency int // left to the caller: amounts in other currencies it skipped
}

// NewCohortBuilder prepares the cohorts of customers acquired in periods
// startP..endP (Period.Of numbers) of period p in loc.
func NewCohortBuilder(p Period, loc *time.Location, currency string, startP, endP int64) *CohortBuilder {
	if loc == nil {
		loc = time.UTC
	}
	if startP > endP {
		startP = endP
	}
	n := int(endP - startP + 1)
	b := &CohortBuilder{period: p, loc: loc, currency: currency, startP: startP, endP: endP,
		size: make([]int, n), active: make([][]int, n), revenue: make([][]int64, n), met: make([]PeriodMetrics, n)}
	for i := 0; i < n; i++ {
		b.active[i] = make([]int, n-i)
		b.revenue[i] = make([]int64, n-i)
	}
	return b
}

// Window returns the first and last period numbers of the builder.
func (b *CohortBuilder) Window() (startP, endP int64) { return b.startP, b.endP }

// Add counts one customer (sign +1) or takes them out again (sign −1).
// first is the period of the customer's first purchase ever; acts are the
// customer's periods with purchases or refunds, sorted by Period, one entry
// per period, possibly outside the window (those count only as history).
func (b *CohortBuilder) Add(first int64, acts []PeriodActivity, sign int) {
	inWin := func(p int64) bool { return p >= b.startP && p <= b.endP }
	ci := -1
	if inWin(first) {
		ci = int(first - b.startP)
		b.size[ci] += sign
		b.customers += sign
	}
	s64 := int64(sign)
	ordersInWin := 0
	prevActive := int64(-1 << 62)
	for _, a := range acts {
		p := a.Period
		if ci >= 0 && p >= first && p <= b.endP {
			k := p - first
			if a.Orders > 0 {
				b.active[ci][k] += sign
			}
			b.revenue[ci][k] += s64 * a.Net
		}
		if inWin(p) {
			mm := &b.met[p-b.startP]
			mm.Revenue += s64 * a.Net
			b.revenueTotal += s64 * a.Net
			if a.Orders > 0 {
				mm.E += sign
				mm.Orders += sign * a.Orders
				mm.Sales += s64 * a.Sales
				ordersInWin += a.Orders
				if a.Orders >= 2 {
					mm.RepeatCustomers += sign
				}
				switch {
				case p == first:
					mm.N += sign
				case prevActive == p-1:
					mm.Retained += sign
				default:
					mm.Reactivated += sign
				}
			}
		}
		if a.Orders > 0 {
			if inWin(p + 1) {
				b.met[p+1-b.startP].S += sign
			}
			prevActive = p
		}
	}
	if ordersInWin > 0 {
		b.activeC += sign
		if ordersInWin >= 2 {
			b.repC += sign
		}
		b.orders += sign * ordersInWin
	}
}

// Report computes the ratios and returns the report; the builder may go on
// taking changes afterwards (the report shares nothing with it).
func (b *CohortBuilder) Report() *CohortReport {
	rep := &CohortReport{Period: b.period, Currency: b.currency, Customers: b.customers,
		ActiveCustomers: b.activeC, RepeatCustomers: b.repC, Orders: b.orders, Revenue: b.revenueTotal,
		OtherCurrency: b.OtherCurrency}
	n := len(b.size)
	rep.Cohorts = make([]Cohort, n)
	for i := range rep.Cohorts {
		k := len(b.active[i])
		c := Cohort{Start: b.period.start(b.startP+int64(i), b.loc), Size: b.size[i],
			Active: append([]int(nil), b.active[i]...), Revenue: append([]int64(nil), b.revenue[i]...),
			Retention: make([]float64, k), RevenueRetention: make([]float64, k), CumulativeRevenuePerCustomer: make([]float64, k)}
		var cum int64
		for j := 0; j < k; j++ {
			cum += c.Revenue[j]
			c.Retention[j] = ratio(float64(c.Active[j]), float64(c.Size))
			if c.Revenue[0] > 0 {
				c.RevenueRetention[j] = float64(c.Revenue[j]) / float64(c.Revenue[0])
			}
			c.CumulativeRevenuePerCustomer[j] = ratio(float64(cum), float64(c.Size))
		}
		rep.Cohorts[i] = c
	}
	rep.Metrics = make([]PeriodMetrics, n)
	for i := range rep.Metrics {
		mm := b.met[i]
		mm.Start = b.period.start(b.startP+int64(i), b.loc)
		mm.RetentionRate = ratio(float64(mm.Retained), float64(mm.S))
		mm.ChurnRate = 0
		if mm.S > 0 {
			mm.ChurnRate = 1 - mm.RetentionRate
		}
		mm.RepeatPurchaseRate = ratio(float64(mm.RepeatCustomers), float64(mm.E))
		mm.PurchaseFrequency = ratio(float64(mm.Orders), float64(mm.E))
		mm.AverageOrderValue = ratio(float64(mm.Sales), float64(mm.Orders))
		mm.RevenuePerCustomer = ratio(float64(mm.Revenue), float64(mm.E))
		rep.Metrics[i] = mm
	}
	rep.RepeatPurchaseRate = ratio(float64(rep.RepeatCustomers), float64(rep.ActiveCustomers))
	return rep
}

// Merge adds the customers of o, a builder of the same period, location
// and window (for building parts on several cores).
func (b *CohortBuilder) Merge(o *CohortBuilder) {
	for i := range b.size {
		b.size[i] += o.size[i]
		for k := range b.active[i] {
			b.active[i][k] += o.active[i][k]
			b.revenue[i][k] += o.revenue[i][k]
		}
		m, om := &b.met[i], &o.met[i]
		m.S += om.S
		m.E += om.E
		m.N += om.N
		m.Retained += om.Retained
		m.Reactivated += om.Reactivated
		m.Orders += om.Orders
		m.Sales += om.Sales
		m.Revenue += om.Revenue
		m.RepeatCustomers += om.RepeatCustomers
	}
	b.customers += o.customers
	b.activeC += o.activeC
	b.repC += o.repC
	b.orders += o.orders
	b.revenueTotal += o.revenueTotal
	b.OtherCurrency += o.OtherCurrency
}
