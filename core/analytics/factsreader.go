package analytics

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/retention"
)

// Facts for many customers at once (the live count of a segment rule, the
// full evaluation of a saved segment) and the per-customer predictions kept
// after each refit. Facts copies one customer's records and allocates its
// closures so that the result outlives the call; a count over a million
// customers cannot pay that per customer. A FactsReader answers under one
// hold of the read lock, in place, reusing one Facts value, and reads
// P(alive) and CLV from a table computed once per model and day.

// FactsNeed says which parts of Facts a FactsReader fills; Count, Last and
// CustomerID are always there. Parts left out stay zero (PAlive and CLV −1),
// so a rule pays only for what it reads.
type FactsNeed uint8

const (
	// NeedPurchases: FirstPurchase, LastPurchase, Orders and Revenue.
	NeedPurchases FactsNeed = 1 << iota
	// NeedPredictions: PAlive and CLV.
	NeedPredictions
	// NeedRFM: R, F, M and RFMSegment.
	NeedRFM
	// NeedAll is what Facts gives.
	NeedAll = NeedPurchases | NeedPredictions | NeedRFM
	// NeedEvents is what EventFacts gives.
	NeedEvents = NeedPurchases
)

// FactsReader reads facts under the engine's read lock. It is valid only
// inside the ReadFacts callback that received it, and the Facts it returns
// (with its Count and Last) only until its next Facts call: it is one
// goroutine's scratch space.
type FactsReader struct {
	e      *Engine
	st     *state
	today  int32
	need   FactsNeed
	m      *fitted
	preds  *predTable // valid for st, m and today, or nil
	clvOpt retention.CLVOptions
	c      *cust
	f      Facts
}

// ReadFacts calls fn with a reader over the current state, holding the
// engine's read lock throughout: fn should read a bounded batch (a few
// thousand customers) and return, so that changes are not held up, and
// must not call other Engine methods (a waiting writer would deadlock a
// second read lock). need says which parts of Facts to fill. It returns
// false, without calling fn, while the first build runs. Added for
// core/segments.
func (e *Engine) ReadFacts(need FactsNeed, fn func(r *FactsReader)) bool {
	st, unlock, err := e.readState()
	if err != nil {
		return false
	}
	defer unlock()
	r := &FactsReader{e: e, st: st, today: e.today(), need: need}
	if need&NeedPredictions != 0 {
		r.m = e.model.Load()
		r.preds = e.validPreds(st, r.m, r.today)
		r.clvOpt = e.clvOptions()
	}
	r.f.Count = r.count
	r.f.Last = r.last
	fn(r)
	return true
}

// Facts returns customer id's facts, equal to Engine.Facts in the parts
// asked for; false when the engine knows no interaction of id.
func (r *FactsReader) Facts(id core.ID) (*Facts, bool) {
	slot, ok := r.st.idx.get(id)
	if !ok {
		r.c = nil
		return nil, false
	}
	c := &r.st.cs[slot]
	r.c = c
	count, last := r.f.Count, r.f.Last
	r.f = Facts{CustomerID: id, PAlive: -1, CLV: -1, Count: count, Last: last}
	r.e.fillFacts(r.st, c, slot, r.today, r.need, r.m, r.preds, r.clvOpt, &r.f)
	return &r.f, true
}

func (r *FactsReader) count(t core.InteractionType, days int) (int, int64) {
	if r.c == nil {
		return 0, 0
	}
	return countIn(r.c, r.st.types, r.today, t, days)
}

func (r *FactsReader) last(t core.InteractionType) time.Time {
	if r.c == nil {
		return time.Time{}
	}
	return lastOf(r.c, r.st.types, t, r.e.opt.Location)
}

// fillFacts fills the facts of c (in slot) beyond CustomerID, Count and
// Last; the caller holds the read lock.
func (e *Engine) fillFacts(st *state, c *cust, slot int32, today int32, need FactsNeed, m *fitted, preds *predTable, o retention.CLVOptions, f *Facts) {
	if need&NeedPurchases != 0 && len(c.buys) > 0 {
		loc := e.opt.Location
		f.FirstPurchase = retention.DayStart(int64(c.buys[0].day), loc)
		f.LastPurchase = retention.DayStart(int64(c.buys[len(c.buys)-1].day), loc)
		o, g := c.buysIn(minDay, maxDay)
		f.Orders, f.Revenue = o, satAdd(g, -c.refundsIn(minDay, maxDay))
	}
	if need&NeedPredictions != 0 && m != nil && m.trusted && len(c.buys) > 0 {
		if p, ok := preds.lookup(st, c, slot); ok {
			f.PAlive = p.pa
			if m.gg != nil {
				f.CLV = float64(float32(p.clv)) // rounded like the lazy cache below
			}
		} else {
			e.lazyScores(c, m, today, o, f)
		}
	}
	if need&NeedRFM != 0 {
		if r, fr, mo, ok := e.rfmValues(c, today); ok {
			f.R, f.F, f.M = st.rank.scores(r, fr, mo)
			f.RFMSegment = retention.SegmentOf(f.R, f.F)
		}
	}
}

// lazyScores computes P(alive) and CLV of one customer whose prediction
// is not in the table (changed since, or the table is not built yet).
func (e *Engine) lazyScores(c *cust, m *fitted, today int32, o retention.CLVOptions, f *Facts) {
	s, _ := c.summary(max(today, c.buys[0].day), 0, e.opt.Unit.Days())
	f.PAlive = m.bg.PAlive(s.X, s.Tx, s.T)
	if m.gg == nil {
		return
	}
	// CLV costs a dozen hypergeometric series: cached per customer until
	// the model, the day or the customer's history changes.
	stamp := uint64(uint32(m.version)<<16|uint32(today)&0xffff) << 32
	if v := atomic.LoadUint64(&c.clv); v&^0xffffffff == stamp && stamp != 0 {
		f.CLV = float64(math.Float32frombits(uint32(v)))
		return
	}
	// Rounded like the cached value, so repeated calls agree.
	f.CLV = float64(float32(retention.CLV(m.bg, *m.gg, s, o)))
	atomic.StoreUint64(&c.clv, stamp|uint64(math.Float32bits(float32(f.CLV))))
}

// countIn is Facts.Count over c's records (the caller holds the read lock
// or c is a private copy).
func countIn(c *cust, types *typeTable, today int32, t core.InteractionType, days int) (int, int64) {
	from := int32(minDay)
	if days > 0 {
		from = today - int32(min(days, maxDay)) + 1
	}
	switch t {
	case "":
		o, g := c.buysIn(from, maxDay)
		return o + int(min(c.actsIn(0, from, maxDay), math.MaxInt32)), satAdd(g, -c.refundsIn(from, maxDay))
	case core.TypePurchase:
		o, g := c.buysIn(from, maxDay)
		return o + int(min(c.actsIn(typePurchase, from, maxDay), math.MaxInt32)), g
	}
	n, ok := types.lookup(t)
	if !ok {
		return 0, 0
	}
	return int(min(c.actsIn(n, from, maxDay), math.MaxInt32)), c.amountIn(n, from, maxDay)
}

// lastOf is Facts.Last over c's records.
func lastOf(c *cust, types *typeTable, t core.InteractionType, loc *time.Location) time.Time {
	var d int32
	var ok bool
	switch t {
	case "":
		if len(c.buys) > 0 {
			d, ok = c.buys[len(c.buys)-1].day, true
		}
		if len(c.acts) > 0 {
			if ad := c.acts[len(c.acts)-1].day(); !ok || ad > d {
				d, ok = ad, true
			}
		}
	case core.TypePurchase:
		if len(c.buys) > 0 {
			d, ok = c.buys[len(c.buys)-1].day, true
		}
		if ad, aok := c.lastAct(typePurchase); aok && (!ok || ad > d) {
			d, ok = ad, true
		}
	default:
		if n, nok := types.lookup(t); nok {
			d, ok = c.lastAct(n)
		}
	}
	if !ok {
		return time.Time{}
	}
	return retention.DayStart(int64(d), loc)
}

// predTable holds every buyer's predictions under one model on one day,
// by slot. An entry stands for the customer's history when it was
// computed (id and history stamp): a customer changed or moved since
// misses and is computed lazily, so the table needs no upkeep.
type predTable struct {
	st      *state
	version uint64
	day     int32
	ent     []pred
}

type pred struct {
	id     core.ID
	hv     uint32 // cust.hv when computed; 0 with id 0: no entry
	pa, ep float64
	clv    float64 // 0 without a spend model
}

func (t *predTable) lookup(st *state, c *cust, slot int32) (pred, bool) {
	if t == nil || t.st != st || int(slot) >= len(t.ent) {
		return pred{}, false
	}
	p := t.ent[slot]
	return p, p.id == c.id && p.hv == c.hv
}

// validPreds returns the table if it is for st, m and today.
func (e *Engine) validPreds(st *state, m *fitted, today int32) *predTable {
	t := e.preds.Load()
	if t == nil || m == nil || t.st != st || t.version != m.version || t.day != today {
		return nil
	}
	return t
}

// predInline is the number of customers up to which a refit computes the
// table before it returns (milliseconds); above it the table is computed
// in the background (seconds at a million) while Facts computes lazily.
var predInline = 50_000

// predChunk is how many slots one hold of the read lock computes, so that
// changes keep flowing while a million predictions are computed.
const predChunk = 4096

// precomputePreds computes the prediction table for model m and today and
// installs it; it gives up when the state is rebuilt or a newer model or
// day arrives meanwhile. It reports whether it installed a table.
func (e *Engine) precomputePreds(m *fitted) bool {
	if m == nil || !m.trusted {
		return false
	}
	e.predMu.Lock() // one computation at a time
	defer e.predMu.Unlock()
	e.mu.RLock()
	st := e.st
	if st == nil {
		e.mu.RUnlock()
		return false
	}
	today := e.today()
	if e.validPreds(st, m, today) != nil {
		e.mu.RUnlock()
		return true
	}
	n := len(st.cs)
	e.mu.RUnlock()
	t := &predTable{st: st, version: m.version, day: today, ent: make([]pred, n)}
	o := e.clvOptions()
	unit := e.opt.Unit.Days()
	var stale atomic.Bool
	parallel(n, func(lo, hi int) {
		for a := lo; a < hi && !stale.Load(); a += predChunk {
			e.mu.RLock()
			if e.st != st || e.model.Load() != m || e.today() != today {
				stale.Store(true)
				e.mu.RUnlock()
				return
			}
			for i := a; i < min(a+predChunk, hi, len(st.cs)); i++ {
				c := &st.cs[i]
				p := &t.ent[i]
				p.id, p.hv = c.id, c.hv
				if len(c.buys) == 0 {
					p.pa = -1
					continue
				}
				s, _ := c.summary(max(today, c.buys[0].day), 0, unit)
				p.pa = m.bg.PAlive(s.X, s.Tx, s.T)
				p.ep = m.bg.ConditionalExpected(o.Horizon, s.X, s.Tx, s.T)
				if m.gg != nil {
					p.clv = retention.CLV(m.bg, *m.gg, s, o)
				}
			}
			e.mu.RUnlock()
		}
	})
	if stale.Load() {
		return false
	}
	e.preds.Store(t)
	return true
}

// afterFit computes the prediction table for m, then tells subscribers
// the model changed, so that re-evaluating model rules reads the table.
func (e *Engine) afterFit(m *fitted) {
	e.precomputePreds(m)
	e.precomputeRisk()
	e.notify(nil)
}

// WaitPredictions returns when the per-customer predictions of the
// current model and day are computed: they are computed in the background
// after a refit of many customers or a new day, and Facts computes lazily
// meanwhile. It waits for a running computation, or computes them itself
// when none runs. It returns at once without a trusted model. For
// benchmarks and tools.
func (e *Engine) WaitPredictions() {
	for range 3 { // a newer model or day may supersede a computation
		if e.precomputePreds(e.model.Load()) {
			return
		}
	}
}
