package analytics

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/retention"
)

// Calendar days are days since 1970-01-01 in the business time zone,
// clamped to the years core accepts (1900–9999) so that hostile times
// cannot overflow the packed records.
const (
	minDay  = -25567  // 1900-01-01
	maxDay  = 2932896 // 9999-12-31
	dayBias = -minDay // stored day = day + dayBias, fits 22 bits
)

// Interaction types get small numbers in a table shared by all customers;
// typeOverflow collects custom types beyond the table's size.
const (
	maxTypes     = 1023
	typeOverflow = maxTypes
	typePurchase = 1
	typeRefund   = 2
)

// buyRec is one calendar day with purchases in the business currency
// (or without an amount): how many and their gross value.
type buyRec struct {
	day    int32
	orders uint32
	gross  int64
}

// amtRec sums the amounts, in the business currency, of one type's
// interactions other than purchases on one day (refunds, paid renewals).
type amtRec struct {
	day    int32
	typ    uint16
	amount int64
}

// act packs one (day, type) with its count: day+dayBias in the top 22 bits,
// the type number in the next 10, the count (saturating) in the low 32.
type act uint64

func packAct(day int32, typ uint16, n uint32) act {
	return act(uint64(int64(day)+dayBias)<<42 | uint64(typ)<<32 | uint64(n))
}
func (a act) key() uint64  { return uint64(a) >> 32 }
func (a act) day() int32   { return int32(int64(uint64(a)>>42) - dayBias) }
func (a act) typ() uint16  { return uint16(uint64(a)>>32) & 0x3ff }
func (a act) count() int64 { return int64(uint32(a)) }

// cust is one customer's compact history. Purchases live in buys (sorted by
// day); every other interaction (refunds, sessions, purchases in another
// currency, ...) is counted in acts (sorted by day and type); amounts of
// those rare money-carrying non-purchases are in extra.
type cust struct {
	id    core.ID
	buys  []buyRec
	acts  []act
	extra *custExtra
	// risk is the at-risk score (see atRiskScore) as of state.riskDay and
	// model state.riskV, kept so the list is a scan, not a million P(alive).
	risk float32
	// hv stamps the customer's history: state.mut when it last changed,
	// so a prediction computed from an older history is recognised.
	hv uint32
	// clv caches the predicted CLV for Facts: float32 bits in the low
	// half, a stamp of (model, day) in the high half; 0 = none. Read and
	// written with sync/atomic (Facts fills it under the read lock).
	clv uint64
}

type custExtra struct {
	amounts       []amtRec // sorted by (day, typ)
	otherCurrency int32    // purchases and refunds in another currency (left out of money)
	// The newest subscription cancellation and its "reason" (index into
	// the engine's reason table + 1; 0 = none given).
	cancelDay int32
	cancels   int32
	reason    int32
	reasonDay int32
}

// typeTable numbers interaction types.
type typeTable struct {
	names []core.InteractionType // index = number; 0 unused
	num   map[core.InteractionType]uint16
}

func newTypeTable() *typeTable {
	t := &typeTable{names: []core.InteractionType{"", core.TypePurchase, core.TypeRefund}, num: map[core.InteractionType]uint16{}}
	t.num[core.TypePurchase], t.num[core.TypeRefund] = typePurchase, typeRefund
	return t
}

// lookup returns the number of t, false when unknown (nothing counted).
func (t *typeTable) lookup(ty core.InteractionType) (uint16, bool) {
	n, ok := t.num[ty]
	return n, ok
}

func (t *typeTable) intern(ty core.InteractionType) uint16 {
	if n, ok := t.num[ty]; ok {
		return n
	}
	if len(t.names) >= maxTypes {
		return typeOverflow
	}
	n := uint16(len(t.names))
	t.names = append(t.names, ty)
	t.num[ty] = n
	return n
}

// satAdd adds without wrapping around: hostile amounts saturate at the
// int64 limits instead of turning revenue negative.
func satAdd(a, b int64) int64 {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		if a > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

// clampDay maps a time to its business day within the supported years.
func clampDay(t time.Time, loc *time.Location) int32 {
	y := t.Year()
	if y < 1900 {
		return minDay
	}
	if y > 9999 {
		return maxDay
	}
	d := retention.DayIndex(t, loc)
	return int32(min(max(d, minDay), maxDay))
}

// grow appends room for one more element with modest over-allocation:
// most customers have a handful of records, and a doubling slice would
// waste a third of the memory at a million customers.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	n := make([]T, len(s), len(s)+len(s)/4+1)
	copy(n, s)
	return n
}

// addBuy adds purchases on day d.
func (c *cust) addBuy(d int32, orders uint32, gross int64) {
	n := len(c.buys)
	if n > 0 && c.buys[n-1].day == d {
		b := &c.buys[n-1]
		b.orders = satAddU32(b.orders, orders)
		b.gross = satAdd(b.gross, gross)
		return
	}
	if n == 0 || c.buys[n-1].day < d {
		c.buys = append(grow(c.buys), buyRec{day: d, orders: orders, gross: gross})
		return
	}
	i, found := slices.BinarySearchFunc(c.buys, d, func(b buyRec, d int32) int { return cmp.Compare(b.day, d) })
	if found {
		c.buys[i].orders = satAddU32(c.buys[i].orders, orders)
		c.buys[i].gross = satAdd(c.buys[i].gross, gross)
		return
	}
	c.buys = slices.Insert(grow(c.buys), i, buyRec{day: d, orders: orders, gross: gross})
}

func (c *cust) addAct(d int32, typ uint16, n uint32) {
	a := packAct(d, typ, n)
	k := a.key()
	l := len(c.acts)
	if l > 0 && c.acts[l-1].key() == k {
		c.acts[l-1] = packAct(d, typ, satAddU32(uint32(c.acts[l-1].count()), n))
		return
	}
	if l == 0 || c.acts[l-1].key() < k {
		c.acts = append(grow(c.acts), a)
		return
	}
	i, found := slices.BinarySearchFunc(c.acts, k, func(x act, k uint64) int { return cmp.Compare(x.key(), k) })
	if found {
		c.acts[i] = packAct(d, typ, satAddU32(uint32(c.acts[i].count()), n))
		return
	}
	c.acts = slices.Insert(grow(c.acts), i, a)
}

func (c *cust) addAmount(d int32, typ uint16, amount int64) {
	x := c.ext()
	i, found := slices.BinarySearchFunc(x.amounts, amtRec{day: d, typ: typ}, func(a, b amtRec) int {
		if a.day != b.day {
			return cmp.Compare(a.day, b.day)
		}
		return int(a.typ) - int(b.typ)
	})
	if found {
		x.amounts[i].amount = satAdd(x.amounts[i].amount, amount)
		return
	}
	x.amounts = slices.Insert(x.amounts, i, amtRec{day: d, typ: typ, amount: amount})
}

func (c *cust) ext() *custExtra {
	if c.extra == nil {
		c.extra = &custExtra{}
	}
	return c.extra
}

func satAddU32(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}

// state is the whole derived history: customers in a slice (no pointer per
// customer for the collector to chase) and an id → slot index.
type state struct {
	idx     slotIndex
	cs      []cust
	types   *typeTable
	reasons []string         // cancellation reasons, index = number − 1
	reasonN map[string]int32 // reason → number
	// reasonCount[i] counts the customers whose newest cancellation gave
	// reason i+1.
	reasonCount []int
	events      int
	// maxScanned is the largest interaction id the first build read: the
	// scan walks ids in order and ids only grow, so a logged creation of
	// an id at or below it was already counted.
	maxScanned core.ID
	rank       *rfmRank
	mut        uint64 // counts mutations, so work done under a read lock can tell it is still current
	riskOK     bool
	riskDay    int32
	riskV      uint64
}

func newState() *state {
	return &state{idx: slotIndex{sparse: map[core.ID]int32{}}, types: newTypeTable(), reasonN: map[string]int32{}}
}

// get returns the slot of id, creating it when asked.
func (s *state) get(id core.ID, create bool) *cust {
	if i, ok := s.idx.get(id); ok {
		return &s.cs[i]
	}
	if !create {
		return nil
	}
	s.idx.set(id, int32(len(s.cs)), len(s.cs))
	s.cs = append(s.cs, cust{id: id})
	return &s.cs[len(s.cs)-1]
}

// remove forgets a customer entirely (erasure).
func (s *state) remove(id core.ID) bool {
	i, ok := s.idx.get(id)
	if !ok {
		return false
	}
	s.mut++
	c := &s.cs[i]
	s.events -= c.events()
	if c.extra != nil && c.extra.reason > 0 {
		s.reasonCount[c.extra.reason-1]--
	}
	last := int32(len(s.cs) - 1)
	if i != last {
		s.cs[i] = s.cs[last]
		s.idx.set(s.cs[i].id, i, len(s.cs))
	}
	s.cs[last] = cust{}
	s.cs = s.cs[:last]
	s.idx.del(id)
	return true
}

// events counts the interactions a customer's records stand for.
func (c *cust) events() int {
	n := 0
	for _, b := range c.buys {
		n += int(b.orders)
	}
	for _, a := range c.acts {
		n += int(a.count())
	}
	return n
}

// apply adds one interaction to the state.
func (s *state) apply(in *core.Interaction, opt *Options) {
	if in.CustomerID == 0 || in.Type == "" {
		return // not an interaction core would store
	}
	s.mut++
	c := s.get(in.CustomerID, true)
	c.clv = 0 // the history changed: the cached CLV is stale
	c.hv = uint32(s.mut)
	d := clampDay(in.Time, opt.Location)
	s.events++
	ty := in.Type
	inCur := in.Currency == opt.Currency || (in.Amount == 0 && len(in.Items) == 0)
	amount := in.Amount
	if amount == 0 && len(in.Items) > 0 {
		amount = in.ItemsTotal()
	}
	switch {
	case ty == core.TypePurchase && inCur:
		c.addBuy(d, 1, amount)
		return
	case (ty == core.TypePurchase || ty == core.TypeRefund) && !inCur:
		c.ext().otherCurrency++
	}
	typ := s.types.intern(ty)
	c.addAct(d, typ, 1)
	if amount != 0 && inCur {
		c.addAmount(d, typ, amount)
	}
	if ty == core.TypeSubscriptionCancelled {
		x := c.ext()
		if x.cancels == 0 || d > x.cancelDay {
			x.cancelDay = d
		}
		x.cancels++
		why := strings.TrimSpace(in.Properties["reason"])
		if why == "" {
			return
		}
		// The newest cancellation that gives a reason speaks (ties on a
		// day: the larger text), so arrival order does not matter.
		r := s.reason(why)
		if x.reason == 0 || d > x.reasonDay || (d == x.reasonDay && s.reasons[r-1] > s.reasons[x.reason-1]) {
			if x.reason > 0 {
				s.reasonCount[x.reason-1]--
			}
			x.reason, x.reasonDay = r, d
			s.reasonCount[r-1]++
		}
	}
}

const maxReasonLen = 200

func (s *state) reason(why string) int32 {
	if len(why) > maxReasonLen {
		why = strings.ToValidUTF8(why[:maxReasonLen], "")
	}
	why = strings.ToLower(why)
	if n, ok := s.reasonN[why]; ok {
		return n
	}
	if len(s.reasons) >= 10000 {
		why = "(other)" // a hostile stream of distinct reasons stays bounded
		if n, ok := s.reasonN[why]; ok {
			return n
		}
	}
	s.reasons = append(s.reasons, why)
	s.reasonCount = append(s.reasonCount, 0)
	n := int32(len(s.reasons))
	s.reasonN[why] = n
	return n
}

// slotIndex maps customer ids to slots. The store numbers customers from a
// sequence, so ids are dense: a slice indexed by id (4 bytes per id) costs a
// tenth of a map (~40 bytes per entry at a million). Ids far beyond the
// number of customers (another store's numbering, hostile feeds) go to a
// map, so the slice never outgrows a few times the customers.
type slotIndex struct {
	dense  []int32 // slot + 1; 0 = none
	sparse map[core.ID]int32
}

func (x *slotIndex) get(id core.ID) (int32, bool) {
	if id < core.ID(len(x.dense)) {
		if v := x.dense[id]; v > 0 {
			return v - 1, true
		}
		return 0, false
	}
	i, ok := x.sparse[id]
	return i, ok
}

// set records id → slot; n is the number of customers, which bounds the
// dense slice.
func (x *slotIndex) set(id core.ID, slot int32, n int) {
	if id < core.ID(len(x.dense)) {
		x.dense[id] = slot + 1
		return
	}
	if _, ok := x.sparse[id]; !ok && uint64(id) < uint64(4*n+1<<16) {
		grown := make([]int32, int(id)+1+int(id)/4)
		copy(grown, x.dense)
		x.dense = grown
		// Ids now within the slice move out of the map.
		for k, v := range x.sparse {
			if k < core.ID(len(x.dense)) {
				x.dense[k] = v + 1
				delete(x.sparse, k)
			}
		}
		x.dense[id] = slot + 1
		return
	}
	x.sparse[id] = slot
}

func (x *slotIndex) del(id core.ID) {
	if id < core.ID(len(x.dense)) {
		x.dense[id] = 0
		return
	}
	delete(x.sparse, id)
}
