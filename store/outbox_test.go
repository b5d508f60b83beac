package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

func outboxFixture(t *testing.T) (*DB, core.Customer) {
	t.Helper()
	db := openTestKV(t)
	c, err := db.CreateCustomer(context.Background(), core.Customer{Name: "Ada", Emails: []string{"ada@example.com"}})
	must(t, err)
	return db, c
}

func msg(c core.ID, ch, key string, due time.Time) core.OutboxMessage {
	return core.OutboxMessage{Channel: ch, CustomerID: c, IdempotencyKey: key, Text: "hi", State: core.MessageQueued,
		NotBefore: due, CreatedAt: due, UpdatedAt: due}
}

func TestOutboxLifecycle(t *testing.T) {
	ctx := context.Background()
	db, c := outboxFixture(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	in := []core.OutboxMessage{msg(c.ID, "email", "k1", now), msg(c.ID, "email", "k2", now.Add(time.Minute)),
		msg(c.ID, "sms", "k3", now), msg(c.ID, "email", "k1", now)}
	out, dup, err := db.EnqueueMessages(ctx, in)
	must(t, err)
	if dup[0] || dup[1] || dup[2] || !dup[3] || out[3].ID != out[0].ID {
		t.Fatalf("duplicates: %v ids %v %v", dup, out[0].ID, out[3].ID)
	}
	// Enqueueing again later is a duplicate too.
	if _, dup, _ := db.EnqueueMessages(ctx, in[:1]); !dup[0] {
		t.Fatal("known key stored twice")
	}
	due, err := db.DueChannels(ctx)
	must(t, err)
	if len(due) != 2 || !due["email"].Equal(now) || !due["sms"].Equal(now) {
		t.Fatalf("due: %v", due)
	}
	// Only what is due is claimed, once.
	got, err := db.ClaimMessages(ctx, "email", now, 10)
	must(t, err)
	if len(got) != 1 || got[0].IdempotencyKey != "k1" || got[0].State != core.MessageSending || got[0].Attempts != 1 {
		t.Fatalf("claim: %+v", got)
	}
	if again, _ := db.ClaimMessages(ctx, "email", now, 10); len(again) != 0 {
		t.Fatalf("claimed twice: %+v", again)
	}
	// Outcome: sent, with the timeline entry in the same transaction.
	must(t, db.FinishMessages(ctx, []core.Outcome{{ID: got[0].ID, State: core.MessageSent, ProviderID: "p-1", At: now,
		Interactions: []core.Interaction{{CustomerID: c.ID, Type: core.TypeMessageSent, Time: now, IdempotencyKey: "outbox:1:sent"}}}}))
	m, err := db.GetMessageByProviderID(ctx, "email", "p-1")
	must(t, err)
	if m.State != core.MessageSent || !m.SentAt.Equal(now) {
		t.Fatalf("sent message: %+v", m)
	}
	tl, _ := db.Timeline(ctx, c.ID, core.TimelineQuery{})
	if len(tl.Items) != 1 || tl.Items[0].Type != core.TypeMessageSent {
		t.Fatalf("timeline: %+v", tl.Items)
	}
	// Finishing the same outcome again (a retried commit) adds nothing.
	must(t, db.FinishMessages(ctx, []core.Outcome{{ID: got[0].ID, State: core.MessageSent, At: now,
		Interactions: []core.Interaction{{CustomerID: c.ID, Type: core.TypeMessageSent, Time: now, IdempotencyKey: "outbox:1:sent"}}}}))
	if n, _ := db.CountInteractions(ctx); n != 1 {
		t.Fatalf("interactions after a repeated finish: %d", n)
	}
	// A claimed message left sending by a crash comes back.
	sms, _ := db.ClaimMessages(ctx, "sms", now, 10)
	if len(sms) != 1 {
		t.Fatal("sms not claimed")
	}
	n, err := db.RequeueSending(ctx, now)
	must(t, err)
	if n != 1 {
		t.Fatalf("requeued %d", n)
	}
	if again, _ := db.ClaimMessages(ctx, "sms", now, 10); len(again) != 1 || again[0].Attempts != 2 {
		t.Fatalf("requeued message: %+v", again)
	}
	// Retry later: back in the due index at its new time.
	must(t, db.FinishMessages(ctx, []core.Outcome{{ID: sms[0].ID, State: core.MessageQueued, NotBefore: now.Add(time.Hour), Error: "down", At: now}}))
	if due, _ := db.DueChannels(ctx); !due["sms"].Equal(now.Add(time.Hour)) {
		t.Fatalf("due after retry: %v", due)
	}
	counts, err := db.CountMessages(ctx)
	must(t, err)
	if counts.ByState[core.MessageQueued] != 2 || counts.ByState[core.MessageSent] != 1 || counts.QueuedBy["email"] != 1 {
		t.Fatalf("counts: %+v", counts)
	}
	// A user cancels a queued message; a late outcome does not undo it.
	must(t, db.FinishMessages(ctx, nil))
	cm, err := db.UpdateMessage(ctx, out[1].ID, func(m *core.OutboxMessage) error { m.State = core.MessageCancelled; return nil })
	must(t, err)
	if cm.State != core.MessageCancelled {
		t.Fatal(cm.State)
	}
	if got, _ := db.ClaimMessages(ctx, "email", now.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("cancelled message claimed: %+v", got)
	}
}

func TestOutboxListAndErase(t *testing.T) {
	ctx := context.Background()
	db, c := outboxFixture(t)
	other, _ := db.CreateCustomer(ctx, core.Customer{Name: "Bob"})
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var in []core.OutboxMessage
	for i := range 25 {
		cid := c.ID
		if i%5 == 0 {
			cid = other.ID
		}
		in = append(in, msg(cid, []string{"email", "sms"}[i%2], fmt.Sprintf("k%02d", i), now))
	}
	_, _, err := db.EnqueueMessages(ctx, in)
	must(t, err)
	// Newest first, every message once across pages.
	seen := map[core.ID]bool{}
	var last core.ID
	cursor := ""
	for {
		p, err := db.ListMessages(ctx, core.OutboxQuery{Cursor: cursor, Limit: 7})
		must(t, err)
		for _, m := range p.Items {
			if seen[m.ID] || (last != 0 && m.ID >= last) {
				t.Fatalf("order or repeat at %v", m.ID)
			}
			seen[m.ID], last = true, m.ID
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(seen) != 25 {
		t.Fatalf("listed %d", len(seen))
	}
	for _, q := range []struct {
		q    core.OutboxQuery
		want int
	}{
		{core.OutboxQuery{Channel: "sms"}, 12},
		{core.OutboxQuery{State: core.MessageQueued}, 25},
		{core.OutboxQuery{State: core.MessageSent}, 0},
		{core.OutboxQuery{CustomerID: other.ID}, 5},
		{core.OutboxQuery{CustomerID: other.ID, Channel: "email"}, 3},
	} {
		p, err := db.ListMessages(ctx, q.q)
		must(t, err)
		if len(p.Items) != q.want {
			t.Errorf("%+v: %d, want %d", q.q, len(p.Items), q.want)
		}
	}
	if _, err := db.ListMessages(ctx, core.OutboxQuery{Cursor: "!!"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
	// Erasing a customer erases their messages and every index entry.
	must(t, db.EraseCustomer(ctx, other.ID))
	p, _ := db.ListMessages(ctx, core.OutboxQuery{Limit: 100})
	if len(p.Items) != 20 {
		t.Fatalf("after erase: %d", len(p.Items))
	}
	if _, err := db.GetMessageByKey(ctx, "k00"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("erased message still found by key: %v", err)
	}
	for _, e := range db.Check(ctx) {
		t.Error(e)
	}
	// Enqueue for a customer that does not exist stores nothing.
	if _, _, err := db.EnqueueMessages(ctx, []core.OutboxMessage{msg(other.ID, "email", "new", now)}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("enqueue for erased customer: %v", err)
	}
}

func TestPluginSettings(t *testing.T) {
	ctx := context.Background()
	db := openTestKV(t)
	if _, err := db.GetPluginSettings(ctx, "email"); !errors.Is(err, core.ErrNotFound) {
		t.Fatal(err)
	}
	s := core.PluginSettings{Name: "email", Config: []byte(`{"host":"smtp"}`), Disabled: true, DisabledReason: "x",
		Approved: core.PluginGrants{CustomerFields: []string{"name"}}}
	must(t, db.PutPluginSettings(ctx, s))
	got, err := db.GetPluginSettings(ctx, "email")
	must(t, err)
	if string(got.Config) != `{"host":"smtp"}` || !got.Disabled || got.Approved.CustomerFields[0] != "name" {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []core.PluginSettings{{}, {Name: "x", Config: []byte("{")}, {Name: string(make([]byte, 100))}} {
		if err := db.PutPluginSettings(ctx, bad); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	all, _ := db.ListPluginSettings(ctx)
	if len(all) != 1 {
		t.Fatal(all)
	}
}

// Check finds an outbox index that disagrees with the messages.
func TestCheckFindsBrokenOutboxIndex(t *testing.T) {
	ctx := context.Background()
	db, c := outboxFixture(t)
	now := time.Now().UTC()
	out, _, err := db.EnqueueMessages(ctx, []core.OutboxMessage{msg(c.ID, "email", "k1", now)})
	must(t, err)
	if errs := db.Check(ctx); len(errs) != 0 {
		t.Fatalf("clean store: %v", errs)
	}
	must(t, db.bolt.Update(func(tx *bolt.Tx) error { return bucket(tx, bOutboxDue).Delete(dueKey(&out[0])) }))
	errs := db.Check(ctx)
	if len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), "due index") {
		t.Fatalf("broken due index not reported: %v", errs)
	}
}
