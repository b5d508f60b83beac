package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/outbox"
	"github.com/retain-crm/retain/store"
)

// fakeChannels stands in for the plugin host here: these tests are about
// the outbox's rules (consent, retries, outcomes), and a scripted channel
// makes every failure reproducible. The real host and real plugin
// processes are exercised in core/app (crash and delivery tests).
type fakeChannels struct {
	mu      sync.Mutex
	names   []string
	sends   map[string]int // idempotency key → calls
	fail    func(m core.OutboundMessage, call int) error
	last    map[string]core.OutboundMessage
	inbound core.InboundParsed
}

func (f *fakeChannels) Send(_ context.Context, ch string, m core.OutboundMessage) (string, error) {
	f.mu.Lock()
	f.sends[m.IdempotencyKey]++
	n := f.sends[m.IdempotencyKey]
	f.last[m.IdempotencyKey] = m
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(m, n); err != nil {
			return "", err
		}
	}
	return ch + "-" + m.IdempotencyKey, nil
}

func (f *fakeChannels) ChannelNames() []string { return f.names }

func (f *fakeChannels) ParseInbound(context.Context, string, core.InboundRequest) (core.InboundParsed, error) {
	return f.inbound, nil
}

func (f *fakeChannels) calls(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sends[key]
}

type fixture struct {
	svc *core.Service
	box *outbox.Service
	ch  *fakeChannels
	db  *store.DB
	c   core.Customer
}

func newFixture(t testing.TB, cfg func(*config.Outbox)) *fixture {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir()+"/retain.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := core.NewService(db, nil, "48")
	c, err := svc.CreateCustomer(context.Background(), core.Customer{Name: "Ada", Emails: []string{"ada@example.com"}, Phones: []string{"+48600100200"}})
	if err != nil {
		t.Fatal(err)
	}
	oc := config.Default().Outbox
	oc.RetryBackoff, oc.MaxRetryBackoff, oc.PollInterval = 5*time.Millisecond, 20*time.Millisecond, 5*time.Millisecond
	if cfg != nil {
		cfg(&oc)
	}
	ch := &fakeChannels{names: []string{"email", "sms"}, sends: map[string]int{}, last: map[string]core.OutboundMessage{}}
	box := outbox.New(outbox.Options{Config: oc, Service: svc, Channels: ch, BaseURL: "https://crm.example.com/"})
	return &fixture{svc: svc, box: box, ch: ch, db: db, c: c}
}

// run delivers until every message is final (or the test times out).
func (f *fixture) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.box.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := f.box.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.ByState[core.MessageQueued]+c.ByState[core.MessageSending] == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) enqueue(t testing.TB, ch, key string) core.OutboxMessage {
	t.Helper()
	m, _, err := f.box.Enqueue(context.Background(), core.OutboxMessage{Channel: ch, CustomerID: f.c.ID, IdempotencyKey: key,
		Subject: "Hello", Text: "Hi Ada"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) get(t testing.TB, id core.ID) core.OutboxMessage {
	t.Helper()
	m, err := f.box.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) timeline(t testing.TB) []core.Interaction {
	t.Helper()
	p, err := f.svc.Timeline(context.Background(), f.c.ID, core.TimelineQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func TestDeliverRecordsOutcome(t *testing.T) {
	f := newFixture(t, nil)
	m := f.enqueue(t, "email", "welcome:1")
	if dup, isDup, _ := f.box.Enqueue(context.Background(), m, "test"); dup.ID != m.ID || !isDup {
		t.Fatal("a second enqueue with the same key stored a new message")
	}
	f.run(t)
	got := f.get(t, m.ID)
	if got.State != core.MessageSent || got.ProviderID != "email-welcome:1" || got.Attempts != 1 {
		t.Fatalf("%+v", got)
	}
	if f.ch.calls("welcome:1") != 1 {
		t.Fatalf("sent %d times", f.ch.calls("welcome:1"))
	}
	sent := f.ch.last["welcome:1"]
	if sent.Recipient.Email != "ada@example.com" || sent.Recipient.Phone != "+48600100200" || sent.Recipient.CustomerID != f.c.ID {
		t.Fatalf("recipient: %+v", sent.Recipient)
	}
	if sent.Metadata[core.MetaHookURL] != "https://crm.example.com/hooks/email" || sent.Metadata[core.MetaOutboxID] != m.ID.String() ||
		sent.Metadata[core.MetaAttempt] != "1" {
		t.Fatalf("metadata: %v", sent.Metadata)
	}
	tl := f.timeline(t)
	if len(tl) != 1 || tl[0].Type != core.TypeMessageSent || tl[0].Channel != "email" || tl[0].Properties["provider_id"] != "email-welcome:1" {
		t.Fatalf("timeline: %+v", tl)
	}
}

func TestConsentCheckedAtSend(t *testing.T) {
	f := newFixture(t, nil)
	m := f.enqueue(t, "email", "k1")
	other := f.enqueue(t, "sms", "k2")
	// The customer unsubscribes while the message waits.
	if _, err := f.svc.UpdateCustomer(context.Background(), f.c.ID, core.CustomerPatch{Consent: map[core.Channel]*core.Consent{
		"email": {Granted: false, Source: "list-unsubscribe"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if got := f.get(t, m.ID); got.State != core.MessageSuppressed || !strings.Contains(got.LastError, "withdrawn") {
		t.Fatalf("%+v", got)
	}
	if f.ch.calls("k1") != 0 {
		t.Fatal("a message reached the channel after consent was withdrawn")
	}
	if got := f.get(t, other.ID); got.State != core.MessageSent {
		t.Fatalf("sms: %+v", got)
	}
}

func TestRequireConsent(t *testing.T) {
	f := newFixture(t, func(c *config.Outbox) { c.RequireConsent = true })
	m := f.enqueue(t, "email", "k1")
	f.run(t)
	if got := f.get(t, m.ID); got.State != core.MessageSuppressed || f.ch.calls("k1") != 0 {
		t.Fatalf("%+v", got)
	}
}

func TestRetriesThenSucceedsOrFails(t *testing.T) {
	f := newFixture(t, func(c *config.Outbox) { c.MaxAttempts = 3 })
	f.ch.fail = func(m core.OutboundMessage, call int) error {
		switch m.IdempotencyKey {
		case "flaky":
			if call < 3 {
				return fmt.Errorf("%w: provider down", core.ErrUnavailable)
			}
		case "down":
			return fmt.Errorf("%w: provider down", core.ErrUnavailable)
		case "bad":
			return core.Invalidf("message too big for the provider")
		case "gone":
			return fmt.Errorf("%w: %w: 550 5.1.1 no such mailbox", core.ErrInvalid, core.ErrBounced)
		}
		return nil
	}
	flaky, down, bad := f.enqueue(t, "email", "flaky"), f.enqueue(t, "email", "down"), f.enqueue(t, "email", "bad")
	gone := f.enqueue(t, "email", "gone")
	f.run(t)
	if got := f.get(t, flaky.ID); got.State != core.MessageSent || got.Attempts != 3 {
		t.Fatalf("flaky: %+v", got)
	}
	if got := f.get(t, down.ID); got.State != core.MessageFailed || got.Attempts != 3 || !strings.Contains(got.LastError, "gave up after 3") {
		t.Fatalf("down: %+v", got)
	}
	if got := f.get(t, bad.ID); got.State != core.MessageFailed || got.Attempts != 1 || f.ch.calls("bad") != 1 {
		t.Fatalf("bad: %+v", got)
	}
	// A hard bounce fails at once, like any permanent error, but the
	// timeline says bounced.
	if got := f.get(t, gone.ID); got.State != core.MessageFailed || got.Attempts != 1 || !strings.Contains(got.LastError, "no such mailbox") {
		t.Fatalf("gone: %+v", got)
	}
	types := map[core.InteractionType]int{}
	for _, in := range f.timeline(t) {
		types[in.Type]++
	}
	if types[core.TypeMessageSent] != 1 || types[core.TypeFailed] != 2 || types[core.TypeBounced] != 1 {
		t.Fatalf("timeline: %v", types)
	}
	// An admin retries the failed one; it gets a fresh set of attempts.
	f.ch.fail = nil
	if _, err := f.box.Retry(context.Background(), down.ID, "admin@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.box.Retry(context.Background(), flaky.ID, "admin"); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("retrying a sent message: %v", err)
	}
	f.run(t)
	if got := f.get(t, down.ID); got.State != core.MessageSent {
		t.Fatalf("after retry: %+v", got)
	}
}

// A plugin that keeps dying under the call is not the channel failing:
// those tries do not count towards max_attempts, so crashes alone never
// make a message give up.
func TestPluginDownIsNotAnAttempt(t *testing.T) {
	f := newFixture(t, func(c *config.Outbox) { c.MaxAttempts = 2 })
	f.ch.fail = func(_ core.OutboundMessage, call int) error {
		if call <= 6 {
			return fmt.Errorf("%w: %w: plugin email died", core.ErrUnavailable, core.ErrPluginDown)
		}
		return nil
	}
	m := f.enqueue(t, "email", "k1")
	f.run(t)
	if got := f.get(t, m.ID); got.State != core.MessageSent || got.Attempts != 1 || f.ch.calls("k1") != 7 {
		t.Fatalf("after 6 plugin deaths: %+v, %d calls", got, f.ch.calls("k1"))
	}
}

func TestCancelAndWaitingChannel(t *testing.T) {
	f := newFixture(t, nil)
	// No plugin serves "push": its message waits, it is not failed.
	push := f.enqueue(t, "push", "p1")
	m := f.enqueue(t, "email", "k1")
	if _, err := f.box.Cancel(context.Background(), m.ID, "agent"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.box.Cancel(context.Background(), m.ID, "agent"); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("cancel twice: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.box.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if got := f.get(t, push.ID); got.State != core.MessageQueued || got.Attempts != 0 {
		t.Fatalf("push: %+v", got)
	}
	if f.ch.calls("k1") != 0 {
		t.Fatal("a cancelled message was sent")
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *config.Outbox) { c.Rates = map[string]float64{"sms": 20} })
	for i := range 40 {
		f.enqueue(t, "sms", fmt.Sprint("r", i))
	}
	start := time.Now()
	f.run(t)
	// 20/s with a burst of 20: 40 messages cannot all go in under ~1 s.
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("40 messages at 20/s took %v", d)
	}
}

func TestEnqueueRefusesBadMessages(t *testing.T) {
	f := newFixture(t, nil)
	good := core.OutboxMessage{Channel: "email", CustomerID: f.c.ID, IdempotencyKey: "k", Text: "hi"}
	cases := map[string]func(m *core.OutboxMessage){
		"no channel":        func(m *core.OutboxMessage) { m.Channel = "" },
		"channel not word":  func(m *core.OutboxMessage) { m.Channel = "e mail" },
		"no customer":       func(m *core.OutboxMessage) { m.CustomerID = 0 },
		"unknown customer":  func(m *core.OutboxMessage) { m.CustomerID = 9999 },
		"no key":            func(m *core.OutboxMessage) { m.IdempotencyKey = " " },
		"long key":          func(m *core.OutboxMessage) { m.IdempotencyKey = strings.Repeat("k", 201) },
		"no body":           func(m *core.OutboxMessage) { m.Text = "" },
		"subject newline":   func(m *core.OutboxMessage) { m.Subject = "a\r\nBcc: x@example.com" },
		"header injection":  func(m *core.OutboxMessage) { m.Headers = map[string]string{"X-A": "1\r\nBcc: x@example.com"} },
		"bad header name":   func(m *core.OutboxMessage) { m.Headers = map[string]string{"X A:": "1"} },
		"huge body":         func(m *core.OutboxMessage) { m.Text = strings.Repeat("a", core.MaxMessageBodyLen+1) },
		"invalid utf8 text": func(m *core.OutboxMessage) { m.Text = "\xff\xfe" },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			m := good
			mut(&m)
			if _, _, err := f.box.Enqueue(context.Background(), m, "test"); !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("accepted or wrong kind: %v", err)
			}
		})
	}
	if c, _ := f.box.Counts(context.Background()); c.ByState[core.MessageQueued] != 0 {
		t.Fatalf("something was stored: %+v", c)
	}
}

func TestInboundRecordsReceiptsAndUnsubscribes(t *testing.T) {
	f := newFixture(t, nil)
	m := f.enqueue(t, "email", "k1")
	f.run(t)
	sent := f.get(t, m.ID)
	f.ch.inbound = core.InboundParsed{Status: 202, Interactions: []core.InboundInteraction{
		{ProviderID: sent.ProviderID, Interaction: core.Interaction{Type: core.TypeDelivered, IdempotencyKey: "rcpt-1"}},
		{MessageKey: "k1", Interaction: core.Interaction{Type: core.TypeOpened}},
		{Customer: core.CustomerRef{Email: "nobody@example.com"}, Interaction: core.Interaction{Type: core.TypeReplied}},
	}, Consent: []core.InboundConsent{{Customer: core.CustomerRef{Email: "ADA@example.com"}, Channel: "email", Source: "list-unsubscribe"}}}
	for range 2 { // a replayed request stores nothing new
		if _, err := f.box.HandleInbound(context.Background(), "email", core.InboundRequest{Method: "POST", Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	types := map[core.InteractionType]int{}
	for _, in := range f.timeline(t) {
		types[in.Type]++
	}
	if types[core.TypeDelivered] != 1 || types[core.TypeOpened] != 1 || types[core.TypeReplied] != 0 {
		t.Fatalf("timeline: %v", types)
	}
	c, _ := f.svc.GetCustomer(context.Background(), f.c.ID)
	if cs := c.Consent["email"]; cs.Granted || !strings.Contains(cs.Source, "list-unsubscribe") {
		t.Fatalf("consent: %+v", cs)
	}
}
