package analytics

import (
	"cmp"
	"slices"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/retention"
)

// Queries over one customer's compact history. Days are inclusive ranges.

// lastBuyOnOrBefore returns the newest purchase day ≤ d.
func (c *cust) lastBuyOnOrBefore(d int32) (int32, bool) {
	i, found := slices.BinarySearchFunc(c.buys, d, func(b buyRec, d int32) int { return cmp.Compare(b.day, d) })
	if found {
		return d, true
	}
	if i == 0 {
		return 0, false
	}
	return c.buys[i-1].day, true
}

// buysIn sums purchases on days [from, to].
func (c *cust) buysIn(from, to int32) (orders int, gross int64) {
	i, _ := slices.BinarySearchFunc(c.buys, from, func(b buyRec, d int32) int { return cmp.Compare(b.day, d) })
	for ; i < len(c.buys) && c.buys[i].day <= to; i++ {
		orders += int(c.buys[i].orders)
		gross = satAdd(gross, c.buys[i].gross)
	}
	return
}

// amountIn sums the amounts of type typ (0: all but purchases) on days [from, to].
func (c *cust) amountIn(typ uint16, from, to int32) int64 {
	if c.extra == nil {
		return 0
	}
	var s int64
	for _, a := range c.extra.amounts {
		if a.day >= from && a.day <= to && (typ == 0 || a.typ == typ) {
			s = satAdd(s, a.amount)
		}
	}
	return s
}

// refundsIn is the refunded amount on days [from, to].
func (c *cust) refundsIn(from, to int32) int64 { return c.amountIn(typeRefund, from, to) }

// actsIn counts interactions of type typ (0: all) in acts on days [from, to].
func (c *cust) actsIn(typ uint16, from, to int32) int64 {
	lo := packAct(from, 0, 0).key()
	i, _ := slices.BinarySearchFunc(c.acts, lo, func(x act, k uint64) int { return cmp.Compare(x.key(), k) })
	var n int64
	for ; i < len(c.acts) && c.acts[i].day() <= to; i++ {
		if typ == 0 || c.acts[i].typ() == typ {
			n += c.acts[i].count()
		}
	}
	return n
}

// lastAct returns the newest day with an interaction of type typ.
func (c *cust) lastAct(typ uint16) (int32, bool) {
	for i := len(c.acts) - 1; i >= 0; i-- {
		if c.acts[i].typ() == typ {
			return c.acts[i].day(), true
		}
	}
	return 0, false
}

// summary is the customer's BG/NBD summary with calibration up to day
// calEnd and a holdout up to holdEnd (≤ calEnd: none); false when the
// first purchase is after calEnd. As retention.Summarize: purchase days
// count once, the first is not a repeat, Monetary is the mean repeat day.
func (c *cust) summary(calEnd, holdEnd int32, unit float64) (retention.Summary, bool) {
	if len(c.buys) == 0 || c.buys[0].day > calEnd {
		return retention.Summary{}, false
	}
	first := c.buys[0].day
	s := retention.Summary{CustomerID: c.id, FirstSpend: c.buys[0].gross, T: float64(calEnd-first) / unit}
	var sum int64
	for _, b := range c.buys[1:] {
		switch {
		case b.day <= calEnd:
			s.X++
			s.Tx = float64(b.day-first) / unit
			sum = satAdd(sum, b.gross)
		case b.day <= holdEnd:
			s.HoldoutX++
			s.HoldoutSpend = satAdd(s.HoldoutSpend, b.gross)
		}
	}
	if s.X > 0 {
		s.Monetary = float64(sum) / float64(s.X)
	}
	return s, true
}

// subscription activity: started, renewed, cancelled type numbers (0 when
// the type was never seen).
type subTypes struct{ start, renew, cancel uint16 }

func (s *state) subTypes() subTypes {
	st, _ := s.types.lookup(core.TypeSubscriptionStarted)
	rn, _ := s.types.lookup(core.TypeSubscriptionRenewed)
	cn, _ := s.types.lookup(core.TypeSubscriptionCancelled)
	return subTypes{st, rn, cn}
}

// subscribedAt says whether the customer's newest subscription event on or
// before d is a start or renewal (a cancellation on the same day wins), and
// the day of their first start or renewal.
func (c *cust) subscribedAt(t subTypes, d int32) (active bool, first int32, any bool) {
	lastDay := int32(minDay - 1)
	for _, a := range c.acts {
		ty := a.typ()
		if ty == 0 || (ty != t.start && ty != t.renew && ty != t.cancel) {
			continue
		}
		ad := a.day()
		if ty != t.cancel && !any {
			first, any = ad, true
		}
		if ad > d {
			break
		}
		switch {
		case ty == t.cancel:
			active, lastDay = false, ad
		case ad > lastDay || active:
			active, lastDay = true, ad
		}
	}
	return active, first, any
}
