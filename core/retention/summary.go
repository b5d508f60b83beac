package retention

import (
	"cmp"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/retain-crm/retain/core"
)

// Unit is the time unit of the models' t_x, T and forecast horizons.
type Unit int

// The supported units. A week is seven calendar days.
const (
	Day Unit = iota
	Week
)

// Days returns the unit's length in days.
func (u Unit) Days() float64 {
	if u == Week {
		return 7
	}
	return 1
}

func (u Unit) String() string {
	if u == Week {
		return "week"
	}
	return "day"
}

// SummaryOptions says how interactions become per-customer summaries.
type SummaryOptions struct {
	Unit Unit
	// Location decides where a calendar day starts: purchases on the same
	// local day are one transaction (as in the CDNOW literature). nil is UTC.
	Location *time.Location
	// CalibrationEnd is the last calendar day (in Location) of the
	// calibration period; the day containing this instant is included.
	// Required.
	CalibrationEnd time.Time
	// HoldoutEnd, if set, is the last calendar day of the holdout period
	// (the days after CalibrationEnd up to and including it); purchases
	// there are counted in Summary.HoldoutX. Zero means no holdout.
	HoldoutEnd time.Time
	// Currency of the monetary values (ISO 4217). Purchases with an amount
	// in another currency are left out entirely and counted in
	// Summaries.OtherCurrency, because amounts in two currencies cannot be
	// averaged. Empty accepts the first currency seen and fails if a second
	// one appears.
	Currency string
}

// Summary is one customer's purchase history reduced to what the BG/NBD
// and Gamma-Gamma models need. Times are in Summaries.Unit, measured in
// whole calendar days.
type Summary struct {
	CustomerID core.ID
	// X is the number of repeat transactions in calibration: purchase days
	// after the first purchase day (several purchases on one day count once).
	X int
	// Tx is the time from the first to the last purchase day (0 if X = 0).
	Tx float64
	// T is the time from the first purchase day to the calibration end day.
	T float64
	// Monetary is the mean value of the repeat transactions in minor units
	// (a transaction's value is the sum of that day's purchases); 0 if X = 0.
	// The first purchase is left out as in Fader, Hardie & Lee (2005): it is
	// often atypical (a welcome offer, a first big order).
	Monetary float64
	// FirstSpend is the value of the first purchase day, in minor units.
	FirstSpend int64
	// First is the first purchase day (midnight in the options' Location).
	First time.Time
	// HoldoutX is the number of purchase days in the holdout period.
	HoldoutX int
	// HoldoutSpend is the total value of those purchases, in minor units.
	HoldoutSpend int64
}

// Summaries is the result of Summarize.
type Summaries struct {
	Customers []Summary // sorted by CustomerID
	Unit      Unit
	Currency  string
	// HoldoutLength is the holdout period in Unit (0 without a holdout).
	HoldoutLength float64
	// Purchases counts the purchase interactions read (in the chosen
	// currency, up to the holdout end); OtherCurrency those left out for
	// their currency; AfterCalibration the customers whose first purchase
	// falls after the calibration end (they are not summarised).
	Purchases, OtherCurrency, AfterCalibration int
}

type dayValue struct {
	day int64 // days since 1970-01-01 in the location
	val int64
}

// dayIndex returns the calendar day of t in loc as days since 1970-01-01.
func dayIndex(t time.Time, loc *time.Location) int64 {
	if loc == time.UTC {
		return floorDiv(t.Unix(), 86400)
	}
	_, off := t.In(loc).Zone()
	return floorDiv(t.Unix()+int64(off), 86400)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func dayTime(day int64, loc *time.Location) time.Time {
	t := time.Unix(day*86400, 0).UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// Summarize reduces a stream of interactions (in any order) to one Summary
// per customer who purchased on or before the calibration end. Only
// purchases count; other types (refunds included) are ignored by the models.
func Summarize(seq iter.Seq[core.Interaction], opt SummaryOptions) (*Summaries, error) {
	if opt.CalibrationEnd.IsZero() {
		return nil, core.FieldErr("calibration_end", "required")
	}
	if opt.Unit != Day && opt.Unit != Week {
		return nil, core.FieldErr("unit", "must be day or week")
	}
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	calEnd := dayIndex(opt.CalibrationEnd, loc)
	lastDay := calEnd
	if !opt.HoldoutEnd.IsZero() {
		lastDay = dayIndex(opt.HoldoutEnd, loc)
		if lastDay <= calEnd {
			return nil, core.FieldErr("holdout_end", "must be after the calibration end")
		}
	}
	out := &Summaries{Unit: opt.Unit, Currency: opt.Currency}
	idx := make(map[core.ID]int32)
	var days [][]dayValue
	var ids []core.ID
	for in := range seq {
		if in.Type != core.TypePurchase {
			continue
		}
		if in.Amount != 0 {
			if out.Currency == "" {
				out.Currency = in.Currency
			} else if in.Currency != out.Currency {
				if opt.Currency == "" {
					return nil, core.Invalidf("purchases in %s and %s: choose one currency for the spend model", out.Currency, in.Currency)
				}
				out.OtherCurrency++
				continue
			}
		}
		d := dayIndex(in.Time, loc)
		if d > lastDay {
			continue
		}
		out.Purchases++
		i, ok := idx[in.CustomerID]
		if !ok {
			i = int32(len(days))
			idx[in.CustomerID] = i
			days = append(days, nil)
			ids = append(ids, in.CustomerID)
		}
		dv := days[i]
		// Streams sorted by time (the usual case) merge same-day purchases
		// here; others are sorted and merged below.
		if n := len(dv); n > 0 && dv[n-1].day == d {
			dv[n-1].val += in.Amount
		} else {
			days[i] = append(dv, dayValue{d, in.Amount})
		}
	}
	unit := opt.Unit.Days()
	if !opt.HoldoutEnd.IsZero() {
		out.HoldoutLength = float64(lastDay-calEnd) / unit
	}
	out.Customers = make([]Summary, 0, len(days))
	for i, dv := range days {
		if !slices.IsSortedFunc(dv, func(a, b dayValue) int { return cmp.Compare(a.day, b.day) }) {
			slices.SortStableFunc(dv, func(a, b dayValue) int { return cmp.Compare(a.day, b.day) })
			w := 0
			for _, v := range dv {
				if w > 0 && dv[w-1].day == v.day {
					dv[w-1].val += v.val
				} else {
					dv[w] = v
					w++
				}
			}
			dv = dv[:w]
		}
		first := dv[0].day
		if first > calEnd {
			out.AfterCalibration++
			continue
		}
		s := Summary{CustomerID: ids[i], FirstSpend: dv[0].val, First: dayTime(first, loc), T: float64(calEnd-first) / unit}
		var sum int64
		for _, v := range dv[1:] {
			if v.day <= calEnd {
				s.X++
				s.Tx = float64(v.day-first) / unit
				sum += v.val
			} else {
				s.HoldoutX++
				s.HoldoutSpend += v.val
			}
		}
		if s.X > 0 {
			s.Monetary = float64(sum) / float64(s.X)
		}
		out.Customers = append(out.Customers, s)
		days[i] = nil
	}
	slices.SortFunc(out.Customers, func(a, b Summary) int { return cmp.Compare(int64(a.CustomerID), int64(b.CustomerID)) })
	return out, nil
}

// Repeaters counts the customers with at least one repeat transaction.
func Repeaters(data []Summary) int {
	n := 0
	for _, s := range data {
		if s.X > 0 {
			n++
		}
	}
	return n
}

// checkSummary validates one summary for the models: finite, non-negative,
// 0 ≤ t_x ≤ T, and t_x = 0 when x = 0.
func checkSummary(i int, s Summary) error {
	if s.X < 0 || !(s.Tx >= 0) || !(s.T >= s.Tx) || math.IsInf(s.T, 0) || (s.X == 0 && s.Tx != 0) {
		return core.Invalidf("customer %d (#%d): need x ≥ 0 and 0 ≤ t_x ≤ T finite, got x=%d t_x=%v T=%v", s.CustomerID, i, s.X, s.Tx, s.T)
	}
	return nil
}
