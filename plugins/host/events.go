package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/retain-crm/retain/core"
	pb "github.com/retain-crm/retain/plugins/proto"
	"github.com/retain-crm/retain/plugins/sdk"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Packs react to what happens (DESIGN.md: plugins react, the host acts).
// Each running pack has a dispatcher that follows the change log from its
// own cursor, hands it the new interactions it subscribed to in batches,
// and applies the actions it answers through the same checked path as
// Host.EmitActions; the cursor moves only after that, so delivery is at
// least once and action ids make it effectively once. The clock (Tick)
// runs on the same goroutine, so a pack never gets two calls at once from
// the host.

// Events is what the dispatcher reads (store.DB has it).
type Events interface {
	Changes(ctx context.Context, after uint64, limit int) ([]core.Change, error)
	LastChange(ctx context.Context) (uint64, error)
	GetInteractions(ctx context.Context, ids []core.ID) ([]core.Interaction, error)
}

const (
	// cursorSpace is the key-value space where the host keeps each pack's
	// position in the change log ("~" is not a plugin name: no plugin can
	// reach it).
	cursorSpace = "~events"
	// changesPerRead bounds one read of the change log; eventsPerCall one
	// HandleEvents call (well under the gRPC message limit).
	changesPerRead = 1000
	eventsPerCall  = 200
	// maxEventFailures of a permanent kind on the same batch skip it, so
	// one event a pack cannot handle does not stop all that follow.
	maxEventFailures = 5
)

// dispatch runs until ctx ends, feeding the plugin events and ticks
// whenever it is a running pack.
func (p *proc) dispatch(ctx context.Context) {
	cfg := p.h.opts.Config
	poll := time.NewTicker(cfg.EventPollInterval)
	defer poll.Stop()
	tick := time.NewTicker(cfg.TickInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			p.deliverEvents(ctx)
		case now := <-tick.C:
			p.tick(ctx, now.UTC())
		}
	}
}

// runningPack returns the pack client and what it subscribed to, or nil.
func (p *proc) runningPack() (*sdk.PackClient, *hostAPI, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pack == nil || p.st.State != core.PluginRunning {
		return nil, nil, nil
	}
	return p.pack, p.api, p.st.Events
}

// deliverEvents hands the pack what was appended since its cursor.
func (p *proc) deliverEvents(ctx context.Context) {
	pack, api, subs := p.runningPack()
	if pack == nil || len(subs) == 0 {
		return
	}
	feed := p.h.opts.Events
	cur, err := p.loadCursor(ctx)
	if err != nil {
		p.eventError(fmt.Errorf("reading the event cursor: %w", err), false)
		return
	}
	for range 10 { // at most 10 reads per poll, so ticks and shutdown are not starved
		changes, err := feed.Changes(ctx, cur, changesPerRead)
		if err != nil || len(changes) == 0 {
			if err != nil && ctx.Err() == nil {
				p.eventError(fmt.Errorf("reading the change log: %w", err), false)
			}
			return
		}
		if changes[0].Seq > cur+1 && cur > 0 {
			p.log.Warn("events were trimmed from the change log before this pack got them", "from", cur+1, "to", changes[0].Seq-1)
		}
		events, seqs, err := p.eventsOf(ctx, changes, subs, slices.Contains(api.grants.Capabilities, sdk.CapTimeline))
		if err != nil {
			p.eventError(err, false)
			return
		}
		done, err := p.handle(ctx, pack, api, events, seqs)
		if err != nil {
			// Keep what was handled; the rest is tried again next poll.
			if done > cur {
				_ = p.saveCursor(ctx, done)
			}
			return
		}
		last := changes[len(changes)-1].Seq
		if err := p.saveCursor(ctx, last); err != nil {
			p.eventError(fmt.Errorf("saving the event cursor: %w", err), false)
			return
		}
		cur = last
		if len(changes) < changesPerRead {
			return
		}
	}
}

// eventsOf turns the interactions among changes into the events subs asks
// for, in log order, each with its change's seq. Without the timeline
// grant an event names the interaction but does not carry it.
func (p *proc) eventsOf(ctx context.Context, changes []core.Change, subs []string, withBody bool) ([]*sdk.Event, []uint64, error) {
	var ids []core.ID
	seqOf := map[core.ID]uint64{}
	for _, c := range changes {
		if c.Kind == core.KindInteraction && !c.Deleted {
			ids = append(ids, c.ID)
			seqOf[c.ID] = c.Seq
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	ins, err := p.h.opts.Events.GetInteractions(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("reading interactions: %w", err)
	}
	byID := make(map[core.ID]core.Interaction, len(ins))
	for _, in := range ins {
		byID[in.ID] = in
	}
	all := slices.Contains(subs, "*")
	own := ActionInteractionKey(p.spec.Name, "")
	var out []*sdk.Event
	var seqs []uint64
	for _, id := range ids {
		in, ok := byID[id] // absent: erased since
		if !ok || !(all || slices.Contains(subs, string(in.Type))) {
			continue
		}
		// What the pack appended itself does not come back to it: a pack
		// answering every event with an interaction would otherwise feed
		// itself for ever.
		if strings.HasPrefix(in.IdempotencyKey, own) {
			continue
		}
		ev := &sdk.Event{Id: in.ID.String(), Type: string(in.Type), Time: timestamppb.New(in.Time), CustomerId: in.CustomerID.String()}
		if withBody {
			ev.Interaction = interactionPB(in)
		}
		out = append(out, ev)
		seqs = append(seqs, seqOf[id])
	}
	return out, seqs, nil
}

// handle calls HandleEvents in slices and applies each answer. When a
// slice fails for good, its events go one at a time, so only the event the
// pack cannot handle is held back — and skipped after maxEventFailures. It
// returns the seq up to which everything was handled (0: nothing) and the
// error that stopped it.
func (p *proc) handle(ctx context.Context, pack *sdk.PackClient, api *hostAPI, events []*sdk.Event, seqs []uint64) (uint64, error) {
	var done uint64
	size := eventsPerCall
	for i := 0; i < len(events); {
		n := min(len(events)-i, size)
		err := p.handleSlice(ctx, pack, api, events[i:i+n])
		switch {
		case err == nil:
			i += n
			done = seqs[i-1]
			continue
		case ctx.Err() != nil:
			return done, err
		case sdk.IsRetryable(err) || core.IsRetryable(err),
			// Not granted what its answer needs: hold the events until an
			// admin approves (or disables it) rather than skip them all.
			errors.Is(err, sdk.ErrPermissionDenied):
			p.eventError(err, false)
			return done, err
		case n > 1:
			size = 1 // find the one it cannot handle
			continue
		}
		if !p.eventError(err, true) {
			return done, err
		}
		p.log.Error("event skipped after repeated failures", "event", events[i].GetId(), "type", events[i].GetType(), "err", err)
		i++
		done = seqs[i-1]
	}
	return done, nil
}

func (p *proc) handleSlice(ctx context.Context, pack *sdk.PackClient, api *hostAPI, events []*sdk.Event) error {
	cctx, cancel := context.WithTimeout(ctx, p.h.opts.CallTimeout)
	actions, err := pack.HandleEvents(cctx, events)
	cancel()
	if err != nil {
		return fmt.Errorf("HandleEvents: %w", err)
	}
	return p.apply(ctx, api, actions)
}

// tick calls the pack's clock and applies its actions.
func (p *proc) tick(ctx context.Context, now time.Time) {
	pack, api, _ := p.runningPack()
	if pack == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, p.h.opts.CallTimeout)
	actions, err := pack.Tick(cctx, now)
	cancel()
	if err == nil {
		err = p.apply(ctx, api, actions)
	} else {
		err = fmt.Errorf("Tick: %w", err)
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, sdk.ErrUnimplemented) {
		p.log.Warn("tick failed", "err", err)
		p.noteError(err)
	}
}

// apply applies a pack's answer exactly as if it had called EmitActions
// (grants checked, ids required).
func (p *proc) apply(ctx context.Context, api *hostAPI, actions []*sdk.Action) error {
	if len(actions) == 0 {
		return nil
	}
	if _, err := api.EmitActions(ctx, actions); err != nil {
		return fmt.Errorf("applying actions: %w", err)
	}
	return nil
}

// eventError records a failure and reports whether to skip the event:
// only a permanent failure, and only after maxEventFailures of them.
func (p *proc) eventError(err error, permanent bool) (skip bool) {
	p.mu.Lock()
	if permanent {
		p.evFailures++
	}
	n := p.evFailures
	if skip = permanent && n >= maxEventFailures; skip {
		p.evFailures = 0
	}
	// Once per new reason: events held for a grant fail every poll.
	fresh := err.Error() != p.evLastErr
	p.evLastErr = err.Error()
	p.mu.Unlock()
	if fresh || skip {
		p.log.Warn("delivering events failed", "err", err, "attempt", n)
	}
	p.noteError(err)
	return skip
}

func (p *proc) noteError(err error) {
	p.mu.Lock()
	p.st.LastError, p.st.LastErrorAt = "events: "+err.Error(), time.Now().UTC()
	p.mu.Unlock()
}

// loadCursor returns the pack's position; a pack seen for the first time
// starts at the end of the log (it reads history through the Host API).
func (p *proc) loadCursor(ctx context.Context) (uint64, error) {
	p.mu.Lock()
	cur, ok := p.evCursor, p.evLoaded
	p.mu.Unlock()
	if ok {
		return cur, nil
	}
	kv := p.h.opts.KV
	if kv == nil {
		return 0, errors.New("no key-value store to keep the cursor in")
	}
	b, found, err := kv.PluginKVGet(ctx, cursorSpace, p.spec.Name)
	if err != nil {
		return 0, err
	}
	if found && len(b) == 8 {
		cur = binary.BigEndian.Uint64(b)
	} else {
		if cur, err = p.h.opts.Events.LastChange(ctx); err != nil {
			return 0, err
		}
		if err := p.saveCursor(ctx, cur); err != nil {
			return 0, err
		}
	}
	p.mu.Lock()
	p.evCursor, p.evLoaded = cur, true
	p.mu.Unlock()
	return cur, nil
}

func (p *proc) saveCursor(ctx context.Context, seq uint64) error {
	if err := p.h.opts.KV.PluginKVPut(ctx, cursorSpace, p.spec.Name, binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return err
	}
	p.mu.Lock()
	p.evCursor, p.evLoaded, p.evFailures, p.evLastErr = seq, true, 0, ""
	p.mu.Unlock()
	return nil
}

// EventWatermark is how far every pack that is not disabled has taken the
// change log (math.MaxUint64 when no pack follows it), for trimming: a
// pack that crashed keeps its place, a disabled one does not hold the log.
func (h *Host) EventWatermark() uint64 {
	low := uint64(math.MaxUint64)
	if h.opts.Events == nil {
		return low
	}
	for _, n := range h.names {
		p := h.procs[n]
		p.mu.Lock()
		follows := p.evLoaded && p.st.State != core.PluginDisabled
		cur := p.evCursor
		p.mu.Unlock()
		if follows {
			low = min(low, cur)
		}
	}
	return low
}

// ActionInteractionKey is the idempotency key of the interaction a
// plugin's append_interaction action adds (the dispatcher recognises a
// pack's own interactions by it).
func ActionInteractionKey(plugin, actionID string) string {
	return "plugin:" + plugin + ":action:" + actionID
}

// interactionPB is an interaction as plugins see it (events, timelines).
func interactionPB(in core.Interaction) *pb.Interaction {
	return &pb.Interaction{Id: in.ID.String(),
		Customer: &pb.CustomerRef{Id: in.CustomerID.String()}, Type: string(in.Type),
		Time: timestamppb.New(in.Time), Channel: string(in.Channel), Amount: in.Amount, Currency: in.Currency,
		Properties: in.Properties, Text: in.Text, IdempotencyKey: in.IdempotencyKey}
}
