package retention

import (
	"cmp"
	"iter"
	"slices"
	"time"

	"github.com/retain-crm/retain/core"
)

// Period is the length of a cohort or metrics period.
type Period int

// Periods: calendar days, ISO weeks (Monday to Sunday), calendar months,
// calendar quarters and calendar years, all in the options' Location.
const (
	PeriodDay Period = iota
	PeriodWeek
	PeriodMonth
	PeriodQuarter
	PeriodYear
)

func (p Period) String() string {
	switch p {
	case PeriodWeek:
		return "week"
	case PeriodMonth:
		return "month"
	case PeriodQuarter:
		return "quarter"
	case PeriodYear:
		return "year"
	}
	return "day"
}

// MarshalText writes the period's name ("month").
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a period name.
func (p *Period) UnmarshalText(b []byte) error {
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ParsePeriod reads "day", "week", "month", "quarter" or "year".
func ParsePeriod(s string) (Period, error) {
	for p := PeriodDay; p <= PeriodYear; p++ {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, core.FieldErr("period", "must be day, week, month, quarter or year")
}

// Valid reports whether p is one of the defined periods.
func (p Period) Valid() bool { return p >= PeriodDay && p <= PeriodYear }

// Of returns the number of the period containing calendar day d (days since
// 1970-01-01 in some location, as DayIndex returns): consecutive periods
// have consecutive numbers.
func (p Period) Of(d int64) int64 { return p.periodOf(d) }

// Start returns the first instant of period number k in loc.
func (p Period) Start(k int64, loc *time.Location) time.Time { return p.start(k, loc) }

// DayIndex returns the calendar day of t in loc as days since 1970-01-01
// (negative before); nil loc is UTC.
func DayIndex(t time.Time, loc *time.Location) int64 {
	if loc == nil {
		loc = time.UTC
	}
	return dayIndex(t, loc)
}

// DayStart returns midnight of calendar day d (as DayIndex counts) in loc.
func DayStart(d int64, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return dayTime(d, loc)
}

// periodOf returns the period number of calendar day d (days since
// 1970-01-01): consecutive periods have consecutive numbers.
func (p Period) periodOf(d int64) int64 {
	switch p {
	case PeriodWeek:
		return floorDiv(d+3, 7) // 1970-01-01 was a Thursday; weeks start on Monday
	case PeriodMonth:
		t := time.Unix(d*86400, 0).UTC()
		return int64(t.Year())*12 + int64(t.Month()) - 1
	case PeriodQuarter:
		t := time.Unix(d*86400, 0).UTC()
		return int64(t.Year())*4 + (int64(t.Month())-1)/3
	case PeriodYear:
		return int64(time.Unix(d*86400, 0).UTC().Year())
	}
	return d
}

// start returns the first instant of period number k in loc.
func (p Period) start(k int64, loc *time.Location) time.Time {
	switch p {
	case PeriodWeek:
		return dayTime(k*7-3, loc)
	case PeriodMonth:
		return time.Date(int(floorDiv(k, 12)), time.Month(k-floorDiv(k, 12)*12+1), 1, 0, 0, 0, 0, loc)
	case PeriodQuarter:
		return time.Date(int(floorDiv(k, 4)), time.Month((k-floorDiv(k, 4)*4)*3+1), 1, 0, 0, 0, 0, loc)
	case PeriodYear:
		return time.Date(int(k), 1, 1, 0, 0, 0, 0, loc)
	}
	return dayTime(k, loc)
}

// CohortOptions chooses the periods and window of a cohort analysis.
type CohortOptions struct {
	Period   Period
	Location *time.Location // where periods start; nil is UTC
	// Customers acquired (first purchase ever, as far as the stream goes)
	// in [Start, End) form the cohorts; activity is followed up to End.
	// Start is rounded down to the start of its period; zero means from the
	// first purchase seen. End is required.
	Start, End time.Time
	Currency   string // as in SummaryOptions
}

// Cohort is one acquisition cohort; slices are indexed by periods since
// acquisition (0 = the acquisition period) and end at the window's end.
type Cohort struct {
	Start time.Time `json:"start"`
	Size  int       `json:"size"`
	// Active[k] counts the cohort's customers with a purchase in period k;
	// Retention[k] = Active[k] / Size.
	Active    []int     `json:"active"`
	Retention []float64 `json:"retention"`
	// Revenue[k] is the cohort's net revenue (purchases − refunds) in
	// period k; RevenueRetention[k] = Revenue[k] / Revenue[0] (0 when
	// Revenue[0] ≤ 0); CumulativeRevenuePerCustomer[k] sums Revenue[0..k]
	// over Size: historic CLV by age.
	Revenue                      []int64   `json:"revenue"`
	RevenueRetention             []float64 `json:"revenue_retention"`
	CumulativeRevenuePerCustomer []float64 `json:"cumulative_revenue_per_customer"`
}

// PeriodMetrics are the retention measures of one calendar period. A
// customer is active in a period if they purchased in it.
type PeriodMetrics struct {
	Start time.Time `json:"start"`
	// S: active in the previous period; E: active in this one; N: new
	// (first purchase ever in this period); Retained: active in both;
	// Reactivated: active now, not new, not active in the previous period.
	// E = N + Retained + Reactivated.
	S, E, N, Retained, Reactivated int
	// RetentionRate is Retained / S. The textbook (E − N) / S counts
	// reactivated customers as retained and can exceed 1; it equals this
	// rate when nobody comes back after a pause. ChurnRate = 1 − RetentionRate.
	// Both are 0 when S = 0.
	RetentionRate, ChurnRate float64
	Orders                   int   // purchases
	Sales                    int64 // purchase amounts (gross)
	Revenue                  int64 // purchases − refunds
	// RepeatCustomers made two or more purchases in the period;
	// RepeatPurchaseRate = RepeatCustomers / E.
	RepeatCustomers    int
	RepeatPurchaseRate float64
	// PurchaseFrequency = Orders / E; AverageOrderValue = Sales / Orders;
	// RevenuePerCustomer = Revenue / E (0 when the divisor is 0).
	PurchaseFrequency, AverageOrderValue, RevenuePerCustomer float64
}

// CohortReport is the result of Cohorts.
type CohortReport struct {
	Period   Period
	Currency string
	Cohorts  []Cohort
	// Metrics has one entry per period in the window.
	Metrics []PeriodMetrics
	// Customers acquired in the window (the sum of cohort sizes).
	Customers int
	// ActiveCustomers purchased in the window; RepeatCustomers purchased
	// at least twice in it; RepeatPurchaseRate = RepeatCustomers /
	// ActiveCustomers.
	ActiveCustomers, RepeatCustomers int
	RepeatPurchaseRate               float64
	Orders                           int
	Revenue                          int64
	OtherCurrency                    int
}

type cohortEvent struct {
	period int64
	amount int64 // negative for refunds
	refund bool
}

// Cohorts groups customers by the period of their first purchase and
// computes the retention matrix, revenue retention and the per-period
// retention metrics.
func Cohorts(seq iter.Seq[core.Interaction], opt CohortOptions) (*CohortReport, error) {
	if opt.End.IsZero() {
		return nil, core.FieldErr("end", "required")
	}
	if !opt.Start.IsZero() && !opt.Start.Before(opt.End) {
		return nil, core.FieldErr("start", "must be before the end")
	}
	if !opt.Period.Valid() {
		return nil, core.FieldErr("period", "must be day, week, month, quarter or year")
	}
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	rep := &CohortReport{Period: opt.Period, Currency: opt.Currency}
	type acc struct {
		first  int64 // period of the first purchase; valid when bought
		bought bool
		events []cohortEvent
	}
	m := map[core.ID]*acc{}
	for in := range seq {
		if in.Type != core.TypePurchase && in.Type != core.TypeRefund {
			continue
		}
		if !in.Time.Before(opt.End) {
			continue
		}
		if in.Amount != 0 {
			if rep.Currency == "" {
				rep.Currency = in.Currency
			} else if in.Currency != rep.Currency {
				if opt.Currency == "" {
					return nil, core.Invalidf("amounts in %s and %s: choose one currency", rep.Currency, in.Currency)
				}
				rep.OtherCurrency++
				continue
			}
		}
		a := m[in.CustomerID]
		if a == nil {
			a = &acc{}
			m[in.CustomerID] = a
		}
		p := opt.Period.periodOf(dayIndex(in.Time, loc))
		ev := cohortEvent{period: p, amount: in.Amount}
		if in.Type == core.TypeRefund {
			ev.amount, ev.refund = -in.Amount, true
		} else if !a.bought || p < a.first {
			a.first, a.bought = p, true
		}
		a.events = append(a.events, ev)
	}
	endP := opt.Period.periodOf(dayIndex(opt.End.Add(-time.Nanosecond), loc)) // last period touched by the window
	startP := int64(0)
	if !opt.Start.IsZero() {
		startP = opt.Period.periodOf(dayIndex(opt.Start, loc))
	} else {
		first := true
		for _, a := range m {
			if a.bought && (first || a.first < startP) {
				startP, first = a.first, false
			}
		}
		if first {
			startP = endP // no purchases: one empty period
		}
	}
	if startP > endP {
		startP = endP
	}
	bld := NewCohortBuilder(opt.Period, loc, rep.Currency, startP, endP)
	var acts []PeriodActivity
	for _, a := range m {
		if !a.bought {
			continue
		}
		slices.SortFunc(a.events, func(x, y cohortEvent) int { return cmp.Compare(x.period, y.period) })
		acts = acts[:0]
		for _, e := range a.events {
			if n := len(acts); n == 0 || acts[n-1].Period != e.period {
				acts = append(acts, PeriodActivity{Period: e.period})
			}
			pa := &acts[len(acts)-1]
			pa.Net += e.amount
			if !e.refund {
				pa.Orders++
				pa.Sales += e.amount
			}
		}
		bld.Add(a.first, acts, 1)
	}
	out := bld.Report()
	out.OtherCurrency = rep.OtherCurrency
	return out, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// DayNRetention is the share of users active again exactly n days after
// their first day of activity (D1, D7, D30 of games and apps).
type DayNRetention struct {
	Day int
	// Eligible users had their first day at least n days before the last
	// day of the window (so day n could be observed); Retained of them
	// were active on day n.
	Eligible, Retained int
	Rate               float64
}

// DayNOptions configures DayN.
type DayNOptions struct {
	Location *time.Location // calendar days; nil is UTC
	// Activity up to End (exclusive) counts; required.
	End time.Time
	// Types that count as activity; empty means sessions.
	Types []core.InteractionType
	// Days to report; empty means 1, 7, 30.
	Days []int
}

// DayN computes classic day-n retention: day 0 is a user's first active
// calendar day, and a user is retained on day n if active on that very day.
func DayN(seq iter.Seq[core.Interaction], opt DayNOptions) ([]DayNRetention, error) {
	if opt.End.IsZero() {
		return nil, core.FieldErr("end", "required")
	}
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	types := opt.Types
	if len(types) == 0 {
		types = []core.InteractionType{core.TypeSession}
	}
	days := opt.Days
	if len(days) == 0 {
		days = []int{1, 7, 30}
	}
	for _, d := range days {
		if d < 1 {
			return nil, core.FieldErr("days", "must be at least 1")
		}
	}
	active := map[core.ID]map[int64]struct{}{}
	first := map[core.ID]int64{}
	for in := range seq {
		if !slices.Contains(types, in.Type) || !in.Time.Before(opt.End) {
			continue
		}
		d := dayIndex(in.Time, loc)
		s := active[in.CustomerID]
		if s == nil {
			s = map[int64]struct{}{}
			active[in.CustomerID] = s
			first[in.CustomerID] = d
		}
		s[d] = struct{}{}
		if d < first[in.CustomerID] {
			first[in.CustomerID] = d
		}
	}
	last := dayIndex(opt.End.Add(-time.Nanosecond), loc)
	out := make([]DayNRetention, len(days))
	for i, n := range days {
		r := DayNRetention{Day: n}
		for id, f := range first {
			if f+int64(n) > last {
				continue
			}
			r.Eligible++
			if _, ok := active[id][f+int64(n)]; ok {
				r.Retained++
			}
		}
		r.Rate = ratio(float64(r.Retained), float64(r.Eligible))
		out[i] = r
	}
	return out, nil
}
