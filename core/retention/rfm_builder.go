package retention

import "slices"

// RFMGridBuilder keeps the R×F grid and segment counts of RFM current as
// customers come, change and go: it holds how many customers (and how much
// revenue) have each (recency days, frequency) pair, which is all the grid
// depends on (the M score does not enter the grid). Add a customer's old
// values with sign −1 and the new ones with +1; Result scores the distinct
// values by the same quintile rule as RFM, so its grid equals RFM's on the
// same customers.
type RFMGridBuilder struct {
	pairs    map[[2]int64]rfmPair
	n        int
	Currency string
}

type rfmPair struct {
	n   int
	rev int64
}

// NewRFMGridBuilder returns an empty builder.
func NewRFMGridBuilder(currency string) *RFMGridBuilder {
	return &RFMGridBuilder{pairs: map[[2]int64]rfmPair{}, Currency: currency}
}

// Add counts (sign +1) or removes (sign −1) a customer with recency days,
// frequency and monetary value as in RFMCustomer.
func (b *RFMGridBuilder) Add(recencyDays, frequency int, monetary int64, sign int) {
	k := [2]int64{int64(recencyDays), int64(frequency)}
	p := b.pairs[k]
	p.n += sign
	p.rev += int64(sign) * monetary
	if p.n == 0 {
		delete(b.pairs, k)
	} else {
		b.pairs[k] = p
	}
	b.n += sign
}

// Customers returns how many customers the builder holds.
func (b *RFMGridBuilder) Customers() int { return b.n }

// Result returns the grid and segment counts (Customers is nil).
func (b *RFMGridBuilder) Result() *RFMResult {
	res := &RFMResult{Currency: b.Currency}
	recN := map[int64]int{}
	frN := map[int64]int{}
	for k, p := range b.pairs {
		recN[k[0]] += p.n
		frN[k[1]] += p.n
	}
	// L per distinct value: customers with a strictly worse value.
	scores := func(h map[int64]int, worseIsLarger bool) map[int64]int {
		vals := make([]int64, 0, len(h))
		for v := range h {
			vals = append(vals, v)
		}
		slices.Sort(vals)
		if worseIsLarger {
			slices.Reverse(vals)
		}
		out := make(map[int64]int, len(vals))
		L := 0
		for _, v := range vals {
			out[v] = QuintileScore(L, b.n)
			L += h[v]
		}
		return out
	}
	rs, fs := scores(recN, true), scores(frN, false)
	for r := 0; r < 5; r++ {
		for f := 0; f < 5; f++ {
			res.Grid[r][f] = RFMCell{R: r + 1, F: f + 1}
		}
	}
	for k, p := range b.pairs {
		cell := &res.Grid[rs[k[0]]-1][fs[k[1]]-1]
		cell.Customers += p.n
		cell.Revenue += p.rev
	}
	res.SegmentCounts = make([]SegmentCount, len(Segments))
	for i, s := range Segments {
		res.SegmentCounts[i].Name = s.Name
		for r := s.RMin; r <= s.RMax; r++ {
			for f := s.FMin; f <= s.FMax; f++ {
				// Each cell matches exactly one rule (rfm_test checks it).
				if SegmentOf(r, f) == s.Name {
					res.SegmentCounts[i].Customers += res.Grid[r-1][f-1].Customers
					res.SegmentCounts[i].Revenue += res.Grid[r-1][f-1].Revenue
				}
			}
		}
	}
	return res
}

// Merge adds the customers of o.
func (b *RFMGridBuilder) Merge(o *RFMGridBuilder) {
	for k, p := range o.pairs {
		q := b.pairs[k]
		q.n += p.n
		q.rev += p.rev
		if q.n == 0 {
			delete(b.pairs, k)
		} else {
			b.pairs[k] = q
		}
	}
	b.n += o.n
}
