// Package segments keeps the membership of saved segments current. The
// Maintainer holds a compact in-memory profile of every customer (the record
// fields rules can test: tags, consent, attributes, country, locale,
// created at…) fed from the store's change log, takes behaviour facts from
// the analytics engine, and re-evaluates only the customers that changed
// against every saved segment, writing membership changes to the store as
// they happen (incremental, not a nightly rebuild). A new or edited segment
// is evaluated over all customers in the background, with progress; rules
// that depend on time or on the models are re-checked when the engine says
// time passed or the models were refitted. It also counts an unsaved rule
// for the live count while a rule is edited, gives the analytics engine a
// membership filter, and exports members as CSV.
//
// It may import the standard library, core, core/analytics and
// core/importer (for its CSV neutralizer). core/app wires it to the store
// and the engine; core/web and the CLI use it.
package segments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
)

// FactSource is what the Maintainer needs from the analytics engine;
// *analytics.Engine satisfies it.
type FactSource interface {
	Facts(id core.ID) (analytics.Facts, bool)
	Subscribe(fn func(changed []core.ID))
	Status() analytics.Status
}

var (
	_ FactSource  = (*analytics.Engine)(nil)
	_ eventFacter = (*analytics.Engine)(nil) // keep the fast paths
	_ factReader  = (*analytics.Engine)(nil)
)

// Options tune the Maintainer.
type Options struct {
	Location     *time.Location   // business time zone for dates in rules; nil: UTC
	PollInterval time.Duration    // how often the change log is read; 0: 1s
	Now          func() time.Time // nil: time.Now
	Logger       *slog.Logger
	// WriteBatch is how many membership keys one store transaction writes.
	WriteBatch int
}

// Maintainer keeps segment membership current. Create it with New, run it
// with Run (or CatchUp in tests and the CLI).
type Maintainer struct {
	st    core.Store
	facts FactSource // may be nil: behaviour conditions then see no facts
	opt   Options
	log   *slog.Logger

	mu       sync.RWMutex // guards profiles and segs' member sets
	profiles profiles
	segs     map[core.ID]*segState
	built    bool
	wm       uint64 // change log watermark applied to profiles

	// work is guarded by workMu; the run loop takes it.
	workMu    sync.Mutex
	changed   map[core.ID]struct{} // customers the engine says changed
	timeDue   bool                 // the engine said time passed / models refitted
	recompute map[core.ID]struct{} // segments to evaluate over everyone
	wake      chan struct{}

	loop    sync.Mutex // one applier at a time (Run's loop or CatchUp)
	lastDay time.Time  // guarded by loop: the day time-dependent rules were last re-checked
	// popDue/popDone (guarded by loop): segments whose rule depends on the
	// whole population (RFM quintiles) are re-evaluated over everyone after
	// customers changed, at most once per populationEvery.
	popDue  bool
	popDone time.Time
	ready   atomic.Bool
}

type segState struct {
	seg     core.Segment
	needs   core.Needs
	rn      recordNeeds
	members map[core.ID]struct{}
	// progress of a running full evaluation, 0..1; -1 when none runs.
	progress atomic.Value // float64
}

// New prepares a Maintainer; nothing is read until Run or CatchUp.
func New(st core.Store, facts FactSource, opt Options) *Maintainer {
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.WriteBatch <= 0 {
		opt.WriteBatch = 10_000
	}
	m := &Maintainer{st: st, facts: facts, opt: opt, log: opt.Logger,
		segs: map[core.ID]*segState{}, changed: map[core.ID]struct{}{}, recompute: map[core.ID]struct{}{},
		wake: make(chan struct{}, 1), profiles: newProfiles()}
	if facts != nil {
		facts.Subscribe(m.notify)
	}
	return m
}

// populationEvery bounds how often segments over RFM cells are
// re-evaluated over every customer while events arrive: one customer's
// purchases move the quintiles, and with them other customers' cells.
const populationEvery = time.Minute

// notify is the engine's callback: it must be quick, so it only records.
func (m *Maintainer) notify(changed []core.ID) {
	m.workMu.Lock()
	if changed == nil {
		m.timeDue = true
	}
	for _, id := range changed {
		m.changed[id] = struct{}{}
	}
	m.workMu.Unlock()
	m.poke()
}

func (m *Maintainer) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Ready reports whether the first build is done.
func (m *Maintainer) Ready() bool { return m.ready.Load() }

// Run builds the profiles and memberships, then keeps them current until
// ctx ends. Without an engine notification for a day, it re-checks
// time-dependent rules itself.
func (m *Maintainer) Run(ctx context.Context) error {
	backoff := m.opt.PollInterval
	for {
		err := m.CatchUp(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := m.opt.PollInterval
		if err != nil {
			m.log.Error("segment membership update failed; retrying", "err", err, "in", backoff)
			wait, backoff = backoff, min(backoff*2, 30*time.Second)
		} else {
			backoff = m.opt.PollInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-m.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// CatchUp applies everything known so far: the change log up to now, the
// engine's notifications, pending full evaluations. It returns when done.
func (m *Maintainer) CatchUp(ctx context.Context) error {
	m.loop.Lock()
	defer m.loop.Unlock()
	if !m.built {
		if err := m.build(ctx); err != nil {
			return err
		}
	}
	dirty, err := m.applyChanges(ctx)
	if err != nil {
		return err
	}
	m.workMu.Lock()
	for id := range m.changed {
		dirty[id] = struct{}{}
	}
	clear(m.changed)
	timeDue := m.timeDue
	m.timeDue = false
	full := maps.Clone(m.recompute)
	clear(m.recompute)
	m.workMu.Unlock()

	if day := m.opt.Now().Truncate(24 * time.Hour); m.lastDay.Before(day) {
		timeDue = true
		m.lastDay = day
	}
	if len(dirty) > 0 {
		m.popDue = true
	}
	now := m.opt.Now()
	popNow := m.popDue && now.Sub(m.popDone) >= populationEvery
	m.mu.RLock()
	for id, s := range m.segs {
		if timeDue && (s.needs.Time || s.needs.Model) || popNow && s.needs.Population {
			full[id] = struct{}{}
		}
	}
	m.mu.RUnlock()
	if popNow {
		m.popDue, m.popDone = false, now
	}
	for _, id := range slices.Sorted(maps.Keys(full)) {
		if err := m.evaluateAll(ctx, id); err != nil {
			if errors.Is(err, core.ErrNotFound) {
				continue // deleted meanwhile
			}
			m.requeue(id)
			return err
		}
	}
	if len(dirty) > 0 {
		return m.evaluateSome(ctx, dirty, full)
	}
	return nil
}

// Load reads the customers and segments (the first build) and nothing
// more: enough for Preview, without writing any membership. The CLI's
// count uses it; CatchUp and Run then evaluate what is pending.
func (m *Maintainer) Load(ctx context.Context) error {
	m.loop.Lock()
	defer m.loop.Unlock()
	if m.built {
		return nil
	}
	return m.build(ctx)
}

func (m *Maintainer) requeue(id core.ID) {
	m.workMu.Lock()
	m.recompute[id] = struct{}{}
	m.workMu.Unlock()
}

// build reads every customer and segment and reconciles stored membership
// with the rules (the store may have missed changes while retain was down).
func (m *Maintainer) build(ctx context.Context) error {
	start := time.Now()
	wm, err := m.st.LastChange(ctx)
	if err != nil {
		return err
	}
	p := newProfiles()
	err = m.st.ScanCustomers(ctx, func(c core.Customer) error {
		p.put(&c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("segments: read customers: %w", err)
	}
	segs, err := m.st.ListSegments(ctx)
	if err != nil {
		return err
	}
	states := map[core.ID]*segState{}
	for _, s := range segs {
		st := newState(s)
		err := m.st.ScanSegmentMembers(ctx, s.ID, func(id core.ID) error {
			st.members[id] = struct{}{}
			return nil
		})
		if err != nil {
			return err
		}
		states[s.ID] = st
	}
	m.mu.Lock()
	m.profiles, m.segs, m.wm, m.built = p, states, wm, true
	m.mu.Unlock()
	m.lastDay = m.opt.Now().Truncate(24 * time.Hour)
	m.ready.Store(true)
	m.log.Info("segments loaded", "customers", p.len(), "segments", len(segs), "took", time.Since(start).Round(time.Millisecond))
	m.workMu.Lock()
	for _, s := range segs {
		m.recompute[s.ID] = struct{}{}
	}
	m.workMu.Unlock()
	return nil
}

func newState(s core.Segment) *segState {
	st := &segState{seg: s, needs: s.Rule.Needs(), rn: recordNeedsOf(s.Rule), members: map[core.ID]struct{}{}}
	st.progress.Store(-1.0)
	return st
}

// applyChanges reads the change log past the watermark and refreshes the
// profiles of changed customers; it returns the customers to re-evaluate.
func (m *Maintainer) applyChanges(ctx context.Context) (map[core.ID]struct{}, error) {
	dirty := map[core.ID]struct{}{}
	for {
		changes, err := m.st.Changes(ctx, m.wm, 5000)
		if err != nil {
			return dirty, err
		}
		if len(changes) == 0 {
			return dirty, nil
		}
		if changes[0].Seq != m.wm+1 && m.wm != 0 {
			// The log was trimmed past us: read everyone again.
			m.log.Warn("segments fell behind a trimmed change log; rebuilding", "watermark", m.wm, "first", changes[0].Seq)
			m.built = false
			if err := m.build(ctx); err != nil {
				return dirty, err
			}
			continue
		}
		var ids []core.ID
		for _, ch := range changes {
			if ch.Kind == core.KindCustomer {
				ids = append(ids, ch.ID)
			}
		}
		if len(ids) > 0 {
			custs, err := m.st.GetCustomers(ctx, ids)
			if err != nil {
				return dirty, err
			}
			found := make(map[core.ID]bool, len(custs))
			m.mu.Lock()
			for i := range custs {
				found[custs[i].ID] = true
				m.profiles.put(&custs[i])
			}
			for _, id := range ids {
				if !found[id] {
					m.profiles.remove(id)
				}
				dirty[id] = struct{}{}
			}
			m.mu.Unlock()
		}
		m.mu.Lock()
		m.wm = changes[len(changes)-1].Seq
		m.mu.Unlock()
	}
}

// eventFacter is the optional, cheaper part of a FactSource: facts
// without P(alive), CLV and RFM scores (*analytics.Engine has it).
type eventFacter interface {
	EventFacts(id core.ID) (analytics.Facts, bool)
}

// factReader is the optional batch part of a FactSource: facts of many
// customers under one hold of the engine's lock, read in place without
// copying, with P(alive) and CLV from the engine's table (*analytics.Engine
// has it). A count over a million customers needs it.
type factReader interface {
	ReadFacts(need analytics.FactsNeed, fn func(r *analytics.FactsReader)) bool
}

// factsNeed is what a rule reads of the engine's facts (Count is always
// there), so that a count pays for nothing else.
func factsNeed(r *core.Rule) analytics.FactsNeed {
	var n analytics.FactsNeed
	switch {
	case r.FirstPurchase != nil:
		n |= analytics.NeedPurchases
	case r.RFM != nil:
		n |= analytics.NeedRFM
	case r.PAlive != nil, r.CLV != nil:
		n |= analytics.NeedPredictions
	case r.Not != nil:
		n |= factsNeed(r.Not)
	}
	for i := range r.All {
		n |= factsNeed(&r.All[i])
	}
	for i := range r.Any {
		n |= factsNeed(&r.Any[i])
	}
	return n
}

// factsChunk is how many customers one hold of the engine's read lock
// covers: enough to make the lock free, few enough not to hold up changes.
const factsChunk = 2048

// chunked calls fn over [lo, hi) in chunks with a facts lookup for the
// customers of the chunk: under one ReadFacts when facts are needed and
// the source has it, else one factsOf call per customer. fn returns false
// to stop.
func (m *Maintainer) chunked(lo, hi int, rule *core.Rule, needs core.Needs, now time.Time, fn func(a, b int, facts func(core.ID) core.SegmentFacts) bool) {
	fr, batch := m.facts.(factReader)
	batch = batch && needs.Facts
	need := factsNeed(rule)
	slow := func(id core.ID) core.SegmentFacts { return m.factsOf(id, now, needs.Model) }
	for a := lo; a < hi; a += factsChunk {
		b := min(a+factsChunk, hi)
		goOn := true
		if batch && fr.ReadFacts(need, func(r *analytics.FactsReader) {
			goOn = fn(a, b, func(id core.ID) core.SegmentFacts {
				sf := core.SegmentFacts{Now: now, Loc: m.opt.Location}
				if f, ok := r.Facts(id); ok {
					convertFacts(f, &sf)
				}
				return sf
			})
		}) {
			if !goOn {
				return
			}
			continue
		}
		if !fn(a, b, slow) {
			return
		}
	}
}

// factsOf converts the engine's facts of one customer. Without scores (the
// rule reads no model output or RFM cell) it asks for the event facts
// only, when the source can give them: most of a Facts call is the scores.
func (m *Maintainer) factsOf(id core.ID, now time.Time, scores bool) core.SegmentFacts {
	sf := core.SegmentFacts{Now: now, Loc: m.opt.Location}
	if m.facts == nil {
		return sf
	}
	var f analytics.Facts
	var ok bool
	if ef, light := m.facts.(eventFacter); light && !scores {
		f, ok = ef.EventFacts(id)
	} else {
		f, ok = m.facts.Facts(id)
	}
	if ok {
		convertFacts(&f, &sf)
	}
	return sf
}

// convertFacts copies the engine's facts into a rule's facts.
func convertFacts(f *analytics.Facts, sf *core.SegmentFacts) {
	sf.FirstPurchase, sf.LastPurchase = f.FirstPurchase, f.LastPurchase
	sf.RFMSegment, sf.R, sf.F, sf.M = f.RFMSegment, f.R, f.F, f.M
	// P(alive) can be trusted while the spend model is not (CLV −1).
	sf.HasModel = f.PAlive >= 0
	sf.PAlive, sf.CLV = f.PAlive, f.CLV
	sf.Count = f.Count
}

// evaluateSome re-evaluates the dirty customers against every segment not
// just fully evaluated, and writes the differences.
func (m *Maintainer) evaluateSome(ctx context.Context, dirty, skip map[core.ID]struct{}) error {
	now := m.opt.Now()
	ids := slices.Sorted(maps.Keys(dirty))
	m.mu.RLock()
	segIDs := slices.Sorted(maps.Keys(m.segs))
	m.mu.RUnlock()
	for _, sid := range segIDs {
		if _, ok := skip[sid]; ok {
			continue
		}
		m.mu.RLock()
		st := m.segs[sid]
		if st == nil {
			m.mu.RUnlock()
			continue
		}
		var add, del []core.ID
		var scratch core.Customer
		m.chunked(0, len(ids), &st.seg.Rule, st.needs, now, func(a, b int, facts func(core.ID) core.SegmentFacts) bool {
			for _, id := range ids[a:b] {
				p := m.profiles.get(id)
				in := false
				if p != nil {
					p.fill(&scratch, &m.profiles.strs, st.rn)
					var known bool
					if in, known = st.seg.Rule.MatchRecord(&scratch, &core.SegmentFacts{Now: now, Loc: m.opt.Location}); !known {
						f := facts(id)
						in = st.seg.Rule.Match(&scratch, &f)
					}
				}
				_, was := st.members[id]
				switch {
				case in && !was:
					add = append(add, id)
				case !in && was:
					del = append(del, id)
				}
			}
			return true
		})
		m.mu.RUnlock()
		if err := m.write(ctx, st, add, del, false); err != nil {
			return err
		}
	}
	return nil
}

// evaluateAll evaluates one segment over every customer.
func (m *Maintainer) evaluateAll(ctx context.Context, sid core.ID) error {
	m.mu.RLock()
	st := m.segs[sid]
	m.mu.RUnlock()
	if st == nil {
		return core.NotFoundf("segment %d", sid)
	}
	st.progress.Store(0.0)
	defer st.progress.Store(-1.0)
	in, _, err := m.match(ctx, st.seg.Rule, 0, func(done, total int) { st.progress.Store(0.5 * float64(done) / float64(max(total, 1))) })
	if err != nil {
		return err
	}
	var add, del []core.ID
	m.mu.RLock()
	for _, id := range in {
		if _, ok := st.members[id]; !ok {
			add = append(add, id)
		}
	}
	set := make(map[core.ID]struct{}, len(in))
	for _, id := range in {
		set[id] = struct{}{}
	}
	for id := range st.members {
		if _, ok := set[id]; !ok {
			del = append(del, id)
		}
	}
	m.mu.RUnlock()
	return m.write(ctx, st, add, del, true)
}

// write stores membership changes in batches, then the in-memory set and
// the segment's count.
func (m *Maintainer) write(ctx context.Context, st *segState, add, del []core.ID, full bool) error {
	if len(add) == 0 && len(del) == 0 && !full {
		return nil
	}
	total := len(add) + len(del)
	done := 0
	for _, x := range []struct {
		ids []core.ID
		fn  func(context.Context, core.ID, []core.ID) error
		add bool
	}{{add, m.st.AddSegmentMembers, true}, {del, m.st.RemoveSegmentMembers, false}} {
		for i := 0; i < len(x.ids); i += m.opt.WriteBatch {
			batch := x.ids[i:min(i+m.opt.WriteBatch, len(x.ids))]
			if err := x.fn(ctx, st.seg.ID, batch); err != nil {
				if errors.Is(err, core.ErrNotFound) {
					return nil // the segment was deleted meanwhile
				}
				return err
			}
			m.mu.Lock()
			for _, id := range batch {
				if x.add {
					st.members[id] = struct{}{}
				} else {
					delete(st.members, id)
				}
			}
			m.mu.Unlock()
			done += len(batch)
			if full {
				st.progress.Store(0.5 + 0.5*float64(done)/float64(max(total, 1)))
			}
		}
	}
	m.mu.RLock()
	n := len(st.members)
	m.mu.RUnlock()
	now := m.opt.Now().UTC()
	seg, err := m.st.UpdateSegment(ctx, st.seg.ID, func(s *core.Segment) error {
		s.Count, s.ComputedAt = n, now
		return nil
	})
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m.mu.Lock()
	st.seg.Count, st.seg.ComputedAt = seg.Count, seg.ComputedAt
	m.mu.Unlock()
	return nil
}
