package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/retain-crm/retain/core"
)

// Delivery is three kinds of goroutine around the store:
//
//   - the dispatcher claims due messages of channels a running plugin
//     serves, as many as there is room for (inflight ≤ 2 × workers), and
//     queues them for the workers;
//   - workers wait for the channel's rate limit, check consent and the
//     contact, call the channel and turn the answer into an Outcome;
//   - the committer writes outcomes in batches (one transaction, one fsync
//     for all outcomes that arrived meanwhile).
//
// A message is "sending" from its claim until its outcome is committed; if
// the process dies in between, Run's RequeueSending sends it again with the
// same idempotency key. That window — claim to commit — bounds duplicates.

// limiter is one channel's pace.
type limiter struct{ *rate.Limiter }

func (s *Service) limiterFor(channel string) *limiter {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	l, ok := s.limiters[channel]
	if !ok {
		l = &limiter{}
		if r := s.o.Config.Rates[channel]; r > 0 {
			l.Limiter = rate.NewLimiter(rate.Limit(r), max(1, int(r)))
		}
		s.limiters[channel] = l
	}
	return l
}

// Run delivers until ctx ends. Messages claimed when ctx ends finish their
// current channel call (bounded by send_timeout) and are committed.
func (s *Service) Run(ctx context.Context) error {
	if n, err := s.box.RequeueSending(ctx, s.now()); err != nil {
		return fmt.Errorf("outbox: requeue: %w", err)
	} else if n > 0 {
		s.log.Warn("messages in flight when the previous process stopped are sent again under the same idempotency key", "count", n)
	}
	workers := s.o.Config.Workers
	capacity := 2 * workers
	work := make(chan core.OutboxMessage, capacity)
	results := make(chan core.Outcome, capacity)
	var inflight sync.WaitGroup
	var mu sync.Mutex
	busy := 0 // claimed, not committed

	// Workers run on a context that outlives ctx, so a call in progress at
	// shutdown ends with an outcome instead of being cut (and resent).
	wctx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				if ctx.Err() != nil {
					// Shutting down: not started yet, so back to the queue.
					results <- core.Outcome{ID: m.ID, State: core.MessageQueued, NotBefore: s.now(), At: s.now(),
						Error: "the server stopped before this attempt"}
					continue
				}
				results <- s.deliver(wctx, m)
			}
		}()
	}
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		s.commit(wctx, results, func(n int) {
			mu.Lock()
			busy -= n
			mu.Unlock()
			for range n {
				inflight.Done()
			}
			s.notify()
		})
	}()

	poll := s.o.Config.PollInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-timer.C:
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		free := capacity - busy
		mu.Unlock()
		next := poll
		if free > 0 {
			claimed, wait, err := s.dispatch(ctx, free)
			if err != nil && ctx.Err() == nil {
				s.log.Error("outbox: claiming messages failed", "err", err)
			}
			mu.Lock()
			busy += len(claimed)
			mu.Unlock()
			inflight.Add(len(claimed))
			for _, m := range claimed {
				work <- m // never blocks: work holds capacity messages
			}
			if len(claimed) == free {
				next = 0 // there may be more
			} else if wait > 0 && wait < next {
				next = wait
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
	close(work)
	wg.Wait()
	inflight.Wait()
	close(results)
	<-committed
	return nil
}

// dispatch claims up to free due messages across the running channels. It
// returns them and how long until the next one is due.
func (s *Service) dispatch(ctx context.Context, free int) ([]core.OutboxMessage, time.Duration, error) {
	if s.o.Channels == nil {
		return nil, 0, nil
	}
	due, err := s.box.DueChannels(ctx)
	if err != nil || len(due) == 0 {
		return nil, 0, err
	}
	running := map[string]bool{}
	for _, ch := range s.o.Channels.ChannelNames() {
		running[ch] = true
	}
	now := s.now()
	var out []core.OutboxMessage
	var wait time.Duration
	for ch, at := range due {
		if !running[ch] {
			continue // waits in the outbox until its plugin runs
		}
		if at.After(now) {
			if d := at.Sub(now); wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		if free == 0 {
			break
		}
		msgs, err := s.box.ClaimMessages(ctx, ch, now, free)
		if err != nil {
			return out, wait, err
		}
		out = append(out, msgs...)
		free -= len(msgs)
	}
	return out, wait, nil
}

// commit writes outcomes in batches: whatever arrived while the previous
// batch was being written goes in the next transaction.
func (s *Service) commit(ctx context.Context, results <-chan core.Outcome, done func(n int)) {
	const maxBatch = 512
	batch := make([]core.Outcome, 0, maxBatch)
	for o := range results {
		batch = append(batch[:0], o)
	more:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		for attempt := 0; ; attempt++ {
			err := s.box.FinishMessages(ctx, batch)
			if err == nil {
				break
			}
			// The store refused (disk full?): keep the outcomes and try
			// again; the messages stay "sending" meanwhile, and a restart
			// would send them again under the same key.
			s.log.Error("outbox: recording outcomes failed; retrying", "err", err, "messages", len(batch))
			time.Sleep(min(time.Duration(attempt+1)*time.Second, 30*time.Second))
		}
		done(len(batch))
	}
}

// deliver sends one claimed message and says what became of it.
func (s *Service) deliver(ctx context.Context, m core.OutboxMessage) core.Outcome {
	c, err := s.o.Service.Store.GetCustomer(ctx, m.CustomerID)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return s.final(m, core.MessageSuppressed, "the customer no longer exists", "")
		}
		return s.retry(m, fmt.Errorf("%w: reading the customer: %v", core.ErrUnavailable, err))
	}
	// Consent is read now, not at enqueue time: an unsubscribe that
	// arrived while the message waited stops it.
	if cs, ok := c.Consent[core.Channel(m.Channel)]; ok && !cs.Granted {
		return s.final(m, core.MessageSuppressed, fmt.Sprintf("consent for %s withdrawn on %s (%s)",
			m.Channel, cs.At.Format(time.RFC3339), cs.Source), "")
	} else if !ok && s.o.Config.RequireConsent {
		return s.final(m, core.MessageSuppressed, fmt.Sprintf("no consent recorded for %s (outbox.require_consent is on)", m.Channel), "")
	}
	msg := s.outbound(m, c)
	if l := s.limiterFor(m.Channel); l.Limiter != nil {
		if err := l.Wait(ctx); err != nil {
			return s.retry(m, fmt.Errorf("%w: %v", core.ErrUnavailable, err))
		}
	}
	sctx, cancel := context.WithTimeout(ctx, s.o.Config.SendTimeout)
	pid, err := s.o.Channels.Send(sctx, m.Channel, msg)
	cancel()
	switch {
	case err == nil:
		return s.sent(m, pid)
	case core.IsRetryable(err):
		return s.retry(m, err)
	case errors.Is(err, core.ErrBounced):
		return s.final(m, core.MessageFailed, err.Error(), core.TypeBounced)
	default:
		return s.final(m, core.MessageFailed, err.Error(), core.TypeFailed)
	}
}

// outbound builds what the channel sees: the contact as it is now, the
// message's own overrides, and the host's metadata.
func (s *Service) outbound(m core.OutboxMessage, c core.Customer) core.OutboundMessage {
	to := core.MessageContact{CustomerID: c.ID, Name: c.Name, Locale: c.Locale}
	if len(c.Emails) > 0 {
		to.Email = c.Emails[0]
	}
	if len(c.Phones) > 0 {
		to.Phone = c.Phones[0]
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{{&to.Name, m.To.Name}, {&to.Email, m.To.Email},
		{&to.Phone, m.To.Phone}, {&to.Address, m.To.Address}, {&to.Locale, m.To.Locale}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	meta := make(map[string]string, len(m.Metadata)+3)
	for k, v := range m.Metadata {
		meta[k] = v
	}
	meta[core.MetaOutboxID] = m.ID.String()
	meta[core.MetaAttempt] = strconv.Itoa(m.Attempts)
	if s.o.BaseURL != "" {
		if p := s.pluginOf(m.Channel); p != "" {
			meta[core.MetaHookURL] = s.o.BaseURL + "/hooks/" + p
		}
	}
	return core.OutboundMessage{IdempotencyKey: m.IdempotencyKey, Recipient: to, Subject: m.Subject,
		Text: m.Text, HTML: m.HTML, Headers: m.Headers, Metadata: meta}
}

// pluginOf names the plugin serving channel ("" when none runs).
func (s *Service) pluginOf(channel string) string {
	if s.o.Plugins == nil {
		return channel
	}
	for _, st := range s.o.Plugins.Statuses() {
		for _, ch := range st.Channels {
			if ch == channel {
				return st.Name
			}
		}
	}
	return ""
}

func (s *Service) sent(m core.OutboxMessage, providerID string) core.Outcome {
	now := s.now()
	props := map[string]string{"outbox_id": m.ID.String(), "idempotency_key": m.IdempotencyKey}
	if providerID != "" {
		props["provider_id"] = providerID
	}
	if m.Subject != "" {
		props["subject"] = m.Subject
	}
	return core.Outcome{ID: m.ID, State: core.MessageSent, ProviderID: providerID, At: now,
		Interactions: s.outcomeInteraction(m, core.TypeMessageSent, props, now)}
}

// retry queues m again after backoff, or fails it when out of attempts.
// A plugin that was down was not an attempt: m waits for it to be back
// (it restarts in about a second) without moving towards giving up.
func (s *Service) retry(m core.OutboxMessage, err error) core.Outcome {
	if errors.Is(err, core.ErrPluginDown) {
		now := s.now()
		return core.Outcome{ID: m.ID, State: core.MessageQueued, NotBefore: now.Add(s.backoff(1)),
			Error: err.Error(), At: now, NotAttempted: true}
	}
	if m.Attempts >= s.o.Config.MaxAttempts {
		return s.final(m, core.MessageFailed, fmt.Sprintf("gave up after %d attempts: %v", m.Attempts, err), core.TypeFailed)
	}
	now := s.now()
	return core.Outcome{ID: m.ID, State: core.MessageQueued, NotBefore: now.Add(s.backoff(m.Attempts)),
		Error: err.Error(), At: now}
}

// backoff doubles per attempt from retry_backoff up to max_retry_backoff,
// with ±20% jitter so a provider coming back is not hit by every retry at once.
func (s *Service) backoff(attempts int) time.Duration {
	d := s.o.Config.RetryBackoff
	for i := 1; i < attempts && d < s.o.Config.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, s.o.Config.MaxRetryBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// final ends m as failed or suppressed. A failure goes on the timeline as
// an interaction of type t (failed, or bounced when the receiver refused the
// recipient); a suppression does not (nothing was attempted towards the
// customer).
func (s *Service) final(m core.OutboxMessage, st core.MessageState, reason string, t core.InteractionType) core.Outcome {
	now := s.now()
	o := core.Outcome{ID: m.ID, State: st, Error: reason, At: now}
	if st == core.MessageFailed {
		props := map[string]string{"outbox_id": m.ID.String(), "idempotency_key": m.IdempotencyKey, "error": truncate(reason, 1000)}
		if m.Subject != "" {
			props["subject"] = m.Subject
		}
		o.Interactions = s.outcomeInteraction(m, t, props, now)
	}
	return o
}

// outcomeInteraction is the timeline entry of an outcome. Its idempotency
// key derives from the message, so recording it twice stores it once.
func (s *Service) outcomeInteraction(m core.OutboxMessage, t core.InteractionType, props map[string]string, now time.Time) []core.Interaction {
	in := core.Interaction{CustomerID: m.CustomerID, Type: t, Time: now, Channel: core.Channel(m.Channel),
		Properties: props, Text: truncate(firstNonEmpty(m.Subject, m.Text), 500),
		IdempotencyKey: "outbox:" + m.ID.String() + ":" + string(t)}
	if err := s.o.Service.PrepareInteraction(&in, now); err != nil {
		s.log.Warn("outbox: outcome interaction not recorded", "message", m.ID, "err", err)
		return nil
	}
	return []core.Interaction{in}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
