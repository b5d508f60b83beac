package retention

import (
	"cmp"
	"iter"
	"slices"
	"sort"
	"time"

	"github.com/retain-crm/retain/core"
)

// SegmentRule names the cells of the R×F grid: a customer whose recency
// score is in [RMin, RMax] and frequency score in [FMin, FMax] belongs to
// the segment. Rules are tried in order; the first match wins.
type SegmentRule struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	RMin        int    `json:"r_min"`
	RMax        int    `json:"r_max"`
	FMin        int    `json:"f_min"`
	FMax        int    `json:"f_max"`
}

// Matches reports whether scores (r, f) fall in the rule's cells.
func (s SegmentRule) Matches(r, f int) bool {
	return r >= s.RMin && r <= s.RMax && f >= s.FMin && f <= s.FMax
}

// Segments is the usual R×F segment map (as popularised by the RFM
// segmentation guides): every one of the 25 cells matches exactly one rule
// (a test checks it), so a UI can draw the grid from this table alone.
var Segments = []SegmentRule{
	{"Champions", "Bought recently, buy often", 5, 5, 4, 5},
	{"Loyal", "Buy often and fairly recently", 3, 4, 4, 5},
	{"Potential loyalists", "Recent customers with a few purchases", 4, 5, 2, 3},
	{"New", "Bought very recently, once", 5, 5, 1, 1},
	{"Promising", "Bought recently, once", 4, 4, 1, 1},
	{"Need attention", "Middling recency and frequency", 3, 3, 3, 3},
	{"About to sleep", "Middling recency, few purchases", 3, 3, 1, 2},
	{"At risk", "Bought often, but long ago", 1, 2, 3, 4},
	{"Can't lose them", "Were among the most frequent, have not come back", 1, 2, 5, 5},
	{"Lost", "Least recent and least frequent", 1, 1, 1, 1},
	{"Hibernating", "Long ago and seldom", 1, 2, 1, 2},
}

// SegmentOf returns the name of the first rule matching (r, f).
func SegmentOf(r, f int) string {
	for _, s := range Segments {
		if s.Matches(r, f) {
			return s.Name
		}
	}
	return ""
}

// RFMOptions chooses the window and money of an RFM analysis.
type RFMOptions struct {
	// Purchases in [Start, End) count; a zero Start means from the
	// beginning. End is required and is the "now" recency is measured from.
	Start, End time.Time
	// Location decides calendar days for recency. nil is UTC.
	Location *time.Location
	// Currency as in SummaryOptions.
	Currency string
}

// RFMCustomer is one customer's RFM values and scores.
type RFMCustomer struct {
	CustomerID core.ID `json:"customer_id"`
	// RecencyDays is the number of calendar days from the last purchase to
	// End (1 = bought the day before End).
	RecencyDays int `json:"recency_days"`
	// Frequency is the number of purchases (orders) in the window.
	Frequency int `json:"frequency"`
	// Monetary is purchases minus refunds in the window, in minor units.
	Monetary int64 `json:"monetary"`
	// R, F, M are the scores 1 (worst) to 5 (best).
	R, F, M int
	Segment string `json:"segment"`
}

// RFMCell is one cell of the 5×5 recency × frequency grid.
type RFMCell struct {
	R, F      int
	Customers int
	Revenue   int64 // Monetary summed over the cell's customers
}

// RFMResult is an RFM analysis of a window.
type RFMResult struct {
	Customers []RFMCustomer // sorted by CustomerID
	// Grid[r−1][f−1] is the cell of recency score r, frequency score f.
	Grid [5][5]RFMCell
	// SegmentCounts has one entry per rule of Segments, in that order.
	SegmentCounts []SegmentCount
	Currency      string
	OtherCurrency int
}

// SegmentCount is the size and revenue of a segment.
type SegmentCount struct {
	Name      string
	Customers int
	Revenue   int64
}

// quintileScores maps each value to a score 1..5 by its rank among all values:
// score = 1 + ⌊5·L/n⌋, where L is the number of values strictly worse than
// it (n values in all). Equal values always get equal scores; with heavy
// ties (most customers bought once) a score may be skipped, which is
// honest: those customers cannot be told apart. worse(i, j) says value i
// is strictly worse than value j.
func quintileScores(n int, worse func(i, j int) bool) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return worse(order[a], order[b]) })
	scores := make([]int, n)
	L := 0
	for k := 0; k < n; k++ {
		if k > 0 && worse(order[k-1], order[k]) {
			L = k // everything before k is strictly worse
		}
		scores[order[k]] = 1 + 5*L/n
	}
	return scores
}

// RFM scores every customer with a purchase in the window by recency,
// frequency and monetary quintiles and fills the R×F grid and segments.
func RFM(seq iter.Seq[core.Interaction], opt RFMOptions) (*RFMResult, error) {
	if opt.End.IsZero() {
		return nil, core.FieldErr("end", "required")
	}
	if !opt.Start.IsZero() && !opt.Start.Before(opt.End) {
		return nil, core.FieldErr("start", "must be before the end")
	}
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	res := &RFMResult{Currency: opt.Currency}
	type acc struct {
		last        int64
		freq        int
		money       int64
		hasPurchase bool
	}
	m := map[core.ID]*acc{}
	for in := range seq {
		if in.Type != core.TypePurchase && in.Type != core.TypeRefund {
			continue
		}
		if in.Time.Before(opt.Start) || !in.Time.Before(opt.End) {
			continue
		}
		if in.Amount != 0 {
			if res.Currency == "" {
				res.Currency = in.Currency
			} else if in.Currency != res.Currency {
				if opt.Currency == "" {
					return nil, core.Invalidf("amounts in %s and %s: choose one currency", res.Currency, in.Currency)
				}
				res.OtherCurrency++
				continue
			}
		}
		a := m[in.CustomerID]
		if a == nil {
			a = &acc{}
			m[in.CustomerID] = a
		}
		if in.Type == core.TypeRefund {
			a.money -= in.Amount
			continue
		}
		d := dayIndex(in.Time, loc)
		if !a.hasPurchase || d > a.last {
			a.last = d
		}
		a.hasPurchase = true
		a.freq++
		a.money += in.Amount
	}
	end := dayIndex(opt.End, loc)
	for id, a := range m {
		if !a.hasPurchase {
			continue // refunds only: not a customer of this window
		}
		res.Customers = append(res.Customers, RFMCustomer{CustomerID: id, RecencyDays: int(end - a.last), Frequency: a.freq, Monetary: a.money})
	}
	scoreRFM(res)
	return res, nil
}

// ScoreRFM scores customers whose recency, frequency and monetary values
// are already known (the analytics engine keeps them per customer) exactly
// as RFM does, and fills the grid and segment counts. cs is sorted by
// CustomerID in place.
func ScoreRFM(cs []RFMCustomer, currency string) *RFMResult {
	res := &RFMResult{Customers: cs, Currency: currency}
	scoreRFM(res)
	return res
}

// QuintileScore is the score 1..5 of a value with L of the n values strictly
// worse than it: 1 + ⌊5·L/n⌋.
func QuintileScore(L, n int) int {
	if n <= 0 {
		return 1
	}
	return 1 + 5*L/n
}

func scoreRFM(res *RFMResult) {
	slices.SortFunc(res.Customers, func(a, b RFMCustomer) int { return cmp.Compare(int64(a.CustomerID), int64(b.CustomerID)) })
	cs := res.Customers
	n := len(cs)
	// Ranks by binary search in sorted copies: equal to quintileScores
	// (L = values strictly worse) at O(n log n) without a comparator
	// closure, which matters at a million customers.
	rec := make([]int64, n)
	fr := make([]int64, n)
	mo := make([]int64, n)
	for i := range cs {
		rec[i], fr[i], mo[i] = int64(cs[i].RecencyDays), int64(cs[i].Frequency), cs[i].Monetary
	}
	slices.Sort(rec)
	slices.Sort(fr)
	slices.Sort(mo)
	below := func(sorted []int64, v int64) int { i, _ := slices.BinarySearch(sorted, v); return i }
	above := func(sorted []int64, v int64) int { return n - below(sorted, v+1) }
	for r := 0; r < 5; r++ {
		for f := 0; f < 5; f++ {
			res.Grid[r][f] = RFMCell{R: r + 1, F: f + 1}
		}
	}
	res.SegmentCounts = make([]SegmentCount, len(Segments))
	for i, s := range Segments {
		res.SegmentCounts[i].Name = s.Name
	}
	for i := range cs {
		c := &cs[i]
		c.R = QuintileScore(above(rec, int64(c.RecencyDays)), n) // more days since: worse
		c.F = QuintileScore(below(fr, int64(c.Frequency)), n)
		c.M = QuintileScore(below(mo, c.Monetary), n)
		c.Segment = SegmentOf(c.R, c.F)
		cell := &res.Grid[c.R-1][c.F-1]
		cell.Customers++
		cell.Revenue += c.Monetary
		for k, s := range Segments {
			if s.Matches(c.R, c.F) {
				res.SegmentCounts[k].Customers++
				res.SegmentCounts[k].Revenue += c.Monetary
				break
			}
		}
	}
}
