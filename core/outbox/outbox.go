// Package outbox delivers messages to customers through channel plugins.
// A message is stored (core.Outbox) before any channel sees it; delivery
// workers claim due messages, check consent at the moment of sending, hand
// them to the channel (core.Channels) and record the outcome on the message
// and as an interaction, in one transaction per batch. Retryable failures
// come back with backoff; per-channel rate limits hold the pace. Inbound
// requests to /hooks/{plugin}/... become interactions and consent changes
// here too.
//
// It imports core, core/config and golang.org/x/time/rate only; the store
// and the plugin host come in through core's ports.
package outbox

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
)

// Options configure a Service.
type Options struct {
	Config config.Outbox
	// Service reads customers and records interactions and consent; its
	// Store must implement core.Outbox (core.Store does).
	Service *core.Service
	// Channels delivers; nil: nothing is sent (messages wait in the outbox).
	Channels core.Channels
	// Plugins tells which channels each plugin serves (inbound requests may
	// only name messages of their own plugin's channels); may be nil.
	Plugins core.Plugins
	// BaseURL is the server's public URL (server.base_url); plugins get
	// BaseURL + "/hooks/" + name for links such as one-click unsubscribe.
	BaseURL string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Service is the outbox: enqueue, inspect, retry, cancel, deliver.
type Service struct {
	o    Options
	box  core.Outbox
	log  *slog.Logger
	wake chan struct{}

	limMu    sync.Mutex
	limiters map[string]*limiter
}

// New returns a Service; Run delivers.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	return &Service{o: o, box: o.Service.Store, log: o.Logger, wake: make(chan struct{}, 1), limiters: map[string]*limiter{}}
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

// notify wakes the dispatcher (new work or free capacity).
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Enqueue validates m and stores it as queued. A message whose idempotency
// key is stored already is not stored again: the stored one comes back
// with duplicate true.
func (s *Service) Enqueue(ctx context.Context, m core.OutboxMessage, source string) (core.OutboxMessage, bool, error) {
	out, dup, err := s.EnqueueBatch(ctx, []core.OutboxMessage{m}, source)
	if err != nil {
		return core.OutboxMessage{}, false, err
	}
	return out[0], dup[0], nil
}

// EnqueueBatch is Enqueue for up to core.MaxEnqueueBatch messages in one
// transaction; a message that does not validate refuses the whole batch
// (the error names its index).
func (s *Service) EnqueueBatch(ctx context.Context, in []core.OutboxMessage, source string) ([]core.OutboxMessage, []bool, error) {
	if len(in) == 0 || len(in) > core.MaxEnqueueBatch {
		return nil, nil, core.Invalidf("a batch holds 1 to %d messages", core.MaxEnqueueBatch)
	}
	now := s.now()
	msgs := make([]core.OutboxMessage, len(in))
	for i, m := range in {
		m.ID, m.State, m.Attempts, m.LastError, m.ProviderID = 0, core.MessageQueued, 0, "", ""
		m.CreatedAt, m.UpdatedAt, m.SentAt, m.NotBefore = now, now, time.Time{}, now
		if m.Source == "" {
			m.Source = source
		}
		if err := m.Normalize(); err != nil {
			if len(in) > 1 {
				return nil, nil, core.Invalidf("messages[%d]: %v", i, err)
			}
			return nil, nil, err
		}
		if _, err := s.o.Service.Store.GetCustomer(ctx, m.CustomerID); err != nil {
			return nil, nil, err
		}
		msgs[i] = m
	}
	out, dup, err := s.box.EnqueueMessages(ctx, msgs)
	if err != nil {
		return nil, nil, err
	}
	s.notify()
	return out, dup, nil
}

// Get returns one message.
func (s *Service) Get(ctx context.Context, id core.ID) (core.OutboxMessage, error) {
	return s.box.GetMessage(ctx, id)
}

// List pages messages newest first.
func (s *Service) List(ctx context.Context, q core.OutboxQuery) (core.Page[core.OutboxMessage], error) {
	if q.State != "" && !validState(q.State) {
		return core.Page[core.OutboxMessage]{}, core.FieldErr("state", "%q is not a message state", q.State)
	}
	if q.Limit < 0 || q.Limit > 1000 {
		return core.Page[core.OutboxMessage]{}, core.FieldErr("limit", "must be between 1 and 1000")
	}
	return s.box.ListMessages(ctx, q)
}

func validState(st core.MessageState) bool {
	for _, x := range core.MessageStates {
		if x == st {
			return true
		}
	}
	return false
}

// Counts is the outbox at a glance.
func (s *Service) Counts(ctx context.Context) (core.OutboxCounts, error) {
	return s.box.CountMessages(ctx)
}

// Retry queues a failed, suppressed or cancelled message again, with a
// fresh count of attempts (consent is checked again when it is sent).
func (s *Service) Retry(ctx context.Context, id core.ID, by string) (core.OutboxMessage, error) {
	now := s.now()
	m, err := s.box.UpdateMessage(ctx, id, func(m *core.OutboxMessage) error {
		switch m.State {
		case core.MessageFailed, core.MessageSuppressed, core.MessageCancelled:
		default:
			return core.Conflictf("message %s is %s; only failed, suppressed or cancelled messages can be retried", m.ID, m.State)
		}
		m.State, m.Attempts, m.NotBefore, m.UpdatedAt = core.MessageQueued, 0, now, now
		m.LastError = "retried by " + by
		return nil
	})
	if err == nil {
		s.notify()
	}
	return m, err
}

// Cancel stops a queued message from being sent.
func (s *Service) Cancel(ctx context.Context, id core.ID, by string) (core.OutboxMessage, error) {
	now := s.now()
	return s.box.UpdateMessage(ctx, id, func(m *core.OutboxMessage) error {
		if m.State != core.MessageQueued {
			return core.Conflictf("message %s is %s; only a queued message can be cancelled", m.ID, m.State)
		}
		m.State, m.UpdatedAt, m.LastError = core.MessageCancelled, now, "cancelled by "+by
		return nil
	})
}

// Channels lists the channels a running plugin serves.
func (s *Service) Channels() []string {
	if s.o.Channels == nil {
		return nil
	}
	return s.o.Channels.ChannelNames()
}
