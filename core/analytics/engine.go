package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/retention"
)

// batchSize is how many change-log entries one step applies; fetchSize how
// many interactions one GetInteractions call asks for.
const (
	batchSize = 5000
	fetchSize = 1000
)

// engineState holds what Run/CatchUp write and readers read; the exported
// Engine in analytics.go embeds it.
type engineState struct {
	applyMu sync.Mutex   // one writer: Run, CatchUp and rebuilds take turns
	mu      sync.RWMutex // guards st and the dashboard accumulators
	st      *state

	wm          atomic.Uint64
	last        atomic.Uint64 // newest change seen in the log
	progress    atomic.Uint64 // float64 bits, 0..1 of the first build
	ready       atomic.Bool
	needRebuild atomic.Bool
	buildTook   atomic.Int64 // ns of the last full build

	model    atomic.Pointer[fitted]
	preds    atomic.Pointer[predTable] // predictions per slot (factsreader.go)
	predMu   sync.Mutex                // one table computation at a time
	fitMu    sync.Mutex                // one fit at a time
	lastCold time.Time                 // last fit from scratch (guarded by fitMu)
	modelV   atomic.Uint64

	subMu sync.Mutex
	subs  []func([]core.ID)

	dash map[retention.Period]*dashState // guarded by mu
}

func (o *Options) defaults() {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Churn == "" {
		o.Churn = ChurnInactivity
	}
	if o.ChurnDays <= 0 {
		o.ChurnDays = 90
	}
	if !(o.PAliveThreshold > 0 && o.PAliveThreshold < 1) {
		o.PAliveThreshold = 0.5
	}
	if o.Unit != retention.Day && o.Unit != retention.Week {
		o.Unit = retention.Week
	}
	if o.HorizonDays <= 0 {
		o.HorizonDays = 365
	}
	if !(o.AnnualDiscountRate >= 0) || math.IsInf(o.AnnualDiscountRate, 0) {
		o.AnnualDiscountRate = 0
	}
	if o.RefitEvery <= 0 {
		o.RefitEvery = 6 * time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (e *Engine) today() int32 { return clampDay(e.opt.Now(), e.opt.Location) }

// run is Run's body.
func (e *Engine) run(ctx context.Context) error {
	backoff := e.opt.PollInterval
	fitted := false
	lastFit := time.Now()
	day := e.today()
	for {
		n, err := e.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Duration(0)
		switch {
		case err != nil:
			e.log.Error("analytics: applying changes failed; retrying", "err", err, "in", backoff)
			wait = backoff
			backoff = min(backoff*2, 30*time.Second)
		case n < batchSize:
			backoff = e.opt.PollInterval
			wait = e.opt.PollInterval
		default:
			backoff = e.opt.PollInterval
		}
		if e.ready.Load() && (!fitted || time.Since(lastFit) >= e.opt.RefitEvery) {
			fitted, lastFit = true, time.Now()
			go func() {
				if _, err := e.refit(ctx); err != nil && ctx.Err() == nil {
					e.log.Warn("analytics: model fit failed", "err", err)
				}
			}()
		}
		if d := e.today(); d != day && e.ready.Load() {
			day = d
			// Time passed: time-dependent rules need a look, after the
			// day's predictions are computed (afterFit notifies).
			go e.afterFit(e.model.Load())
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// catchUp applies every change logged before the call.
func (e *Engine) catchUp(ctx context.Context) error {
	target, err := e.feed.LastChange(ctx)
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := e.step(ctx)
		if err != nil {
			return err
		}
		if e.wm.Load() >= target || (n == 0 && !e.needRebuild.Load() && e.ready.Load()) {
			return nil
		}
	}
}

// step builds when needed, else applies one batch; it returns how many
// changes it applied.
func (e *Engine) step(ctx context.Context) (int, error) {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.mu.RLock()
	built := e.st != nil
	e.mu.RUnlock()
	if !built || e.needRebuild.Load() {
		if err := e.build(ctx); err != nil {
			return 0, err
		}
		return batchSize, nil
	}
	if today := e.today(); e.st.rank.day != today {
		e.mu.Lock()
		e.st.rank = e.newRank(e.st, today)
		e.mu.Unlock()
	}
	return e.applyBatch(ctx)
}

// progressCounter is the optional part of a feed that tells how much a
// full scan will read (the bbolt store keeps the count).
type progressCounter interface {
	CountInteractions(ctx context.Context) (int, error)
}

// build reads everything into a new state and swaps it in. The watermark
// is the last change before the scan; changes logged during the scan are
// applied afterwards, and the creations among them the scan already saw
// are recognised by id (see state.maxScanned).
func (e *Engine) build(ctx context.Context) error {
	start := time.Now()
	wm, err := e.feed.LastChange(ctx)
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	total := 0
	if pc, ok := e.feed.(progressCounter); ok {
		total, _ = pc.CountInteractions(ctx)
	}
	st := newState()
	n := 0
	err = e.feed.ScanAllInteractions(ctx, func(in core.Interaction) error {
		st.apply(&in, &e.opt)
		if in.ID > st.maxScanned {
			st.maxScanned = in.ID
		}
		if n++; total > 0 && n%65536 == 0 {
			e.progress.Store(math.Float64bits(min(1, float64(n)/float64(total))))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("analytics: scanning interactions: %w", err)
	}
	st.trim()
	st.rank = e.newRank(st, e.today())
	e.mu.Lock()
	e.st = st
	e.dash = nil
	e.wm.Store(wm)
	e.mu.Unlock()
	e.last.Store(max(e.last.Load(), wm))
	e.progress.Store(math.Float64bits(1))
	e.needRebuild.Store(false)
	e.ready.Store(true)
	e.precomputeRisk() // the first dashboard should not pay for it
	if m := e.model.Load(); m != nil {
		go e.precomputePreds(m) // a rebuild invalidates the table
	}
	took := time.Since(start)
	e.buildTook.Store(int64(took))
	e.log.Info("analytics state built", "customers", len(st.cs), "events", st.events, "took", took.Round(time.Millisecond))
	e.notify(nil)
	return nil
}

// trim gives back the spare capacity left by appends after a bulk load.
func (s *state) trim() {
	for i := range s.cs {
		c := &s.cs[i]
		if cap(c.buys) > len(c.buys) {
			c.buys = append([]buyRec(nil), c.buys...)
		}
		if cap(c.acts) > len(c.acts) {
			c.acts = append([]act(nil), c.acts...)
		}
	}
}

// applyBatch reads up to batchSize changes after the watermark, fetches
// the new interactions and applies them and the erasures.
func (e *Engine) applyBatch(ctx context.Context) (int, error) {
	wm := e.wm.Load()
	changes, err := e.feed.Changes(ctx, wm, batchSize)
	if err != nil {
		return 0, fmt.Errorf("analytics: reading changes: %w", err)
	}
	if len(changes) == 0 {
		last, err := e.feed.LastChange(ctx)
		if err != nil {
			return 0, fmt.Errorf("analytics: %w", err)
		}
		e.last.Store(last)
		if last > wm {
			// The log was trimmed past us (another consumer trims it):
			// what we missed can only be read by a full scan.
			e.log.Warn("analytics: change log trimmed past the watermark; rebuilding", "watermark", wm, "last", last)
			e.needRebuild.Store(true)
		}
		return 0, nil
	}
	if changes[0].Seq != wm+1 {
		e.log.Warn("analytics: change log has a gap after the watermark; rebuilding", "watermark", wm, "next", changes[0].Seq)
		e.needRebuild.Store(true)
		return 0, nil
	}
	e.mu.RLock()
	maxScanned := e.st.maxScanned
	e.mu.RUnlock()
	var ids []core.ID
	for _, c := range changes {
		if c.Kind == core.KindInteraction && !c.Deleted && c.ID > maxScanned {
			ids = append(ids, c.ID)
		}
	}
	fetched := make(map[core.ID]*core.Interaction, len(ids))
	for i := 0; i < len(ids); i += fetchSize {
		ins, err := e.feed.GetInteractions(ctx, ids[i:min(i+fetchSize, len(ids))])
		if err != nil {
			return 0, fmt.Errorf("analytics: reading interactions: %w", err)
		}
		for j := range ins {
			fetched[ins[j].ID] = &ins[j]
		}
	}
	touched := map[core.ID]bool{} // customer → still present
	var order []core.ID
	e.mu.Lock()
	st := e.st
	touch := func(id core.ID) {
		if _, ok := touched[id]; !ok {
			touched[id] = true
			order = append(order, id)
			if c := st.get(id, false); c != nil {
				e.dashUpdate(c, -1)
			}
		}
	}
	for _, c := range changes {
		switch {
		case c.Kind == core.KindCustomer && c.Deleted:
			touch(c.ID)
			st.remove(c.ID)
			touched[c.ID] = false
		case c.Kind == core.KindInteraction && c.Deleted:
			// Interactions are only deleted when their customer is erased:
			// the whole customer goes.
			if c.CustomerID != 0 {
				touch(c.CustomerID)
				st.remove(c.CustomerID)
				touched[c.CustomerID] = false
			}
		case c.Kind == core.KindInteraction:
			in := fetched[c.ID]
			if in == nil || in.CustomerID == 0 {
				continue // gone since (erased), or already counted by the build
			}
			touch(in.CustomerID)
			st.apply(in, &e.opt)
			touched[in.CustomerID] = true
		}
	}
	for _, id := range order {
		if touched[id] {
			if c := st.get(id, false); c != nil {
				e.dashUpdate(c, +1)
			}
		}
	}
	if st.rank != nil {
		st.rank.fix()
	}
	newWM := changes[len(changes)-1].Seq
	e.wm.Store(newWM)
	e.mu.Unlock()
	e.last.Store(max(e.last.Load(), newWM))
	if len(order) > 0 {
		e.notify(order)
	}
	return len(changes), nil
}

func (e *Engine) notify(ids []core.ID) {
	e.subMu.Lock()
	subs := slices.Clone(e.subs)
	e.subMu.Unlock()
	for _, fn := range subs {
		fn(ids)
	}
}

func (e *Engine) status() Status {
	s := Status{Ready: e.ready.Load(), Progress: math.Float64frombits(e.progress.Load()), Watermark: e.wm.Load()}
	if last := e.last.Load(); last > s.Watermark {
		s.Lag = last - s.Watermark
	}
	e.mu.RLock()
	if e.st != nil {
		s.Customers, s.Events = len(e.st.cs), e.st.events
	}
	e.mu.RUnlock()
	if m := e.model.Load(); m != nil {
		s.ModelFittedAt = m.report.FittedAt
	}
	return s
}

// readState returns the state under a read lock, or ErrUnavailable before
// the first build. The caller must call the returned unlock.
func (e *Engine) readState() (*state, func(), error) {
	e.mu.RLock()
	if e.st == nil || !e.ready.Load() {
		e.mu.RUnlock()
		return nil, nil, fmt.Errorf("analytics: still building (%.0f%%): %w", 100*math.Float64frombits(e.progress.Load()), core.ErrUnavailable)
	}
	return e.st, e.mu.RUnlock, nil
}

var errNoCustomer = errors.New("no such customer")
