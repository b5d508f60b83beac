package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/retain-crm/retain/core"
)

// What a channel plugin reports for an inbound request is input from
// another process. Whatever it says, the outbox stores it or refuses it
// with a known kind, never panics, and never reaches past the plugin's own
// channels: the "email" plugin cannot change the "sms" message, grant sms
// consent, or make up money.
func TestInboundStaysInItsLane(t *testing.T) {
	f := newFixture(t, nil)
	sms := f.enqueue(t, "sms", "s1")
	ctx := context.Background()
	for name, p := range map[string]core.InboundParsed{
		"a receipt for another channel's message": {Interactions: []core.InboundInteraction{{MessageKey: "s1",
			Interaction: core.Interaction{Type: core.TypeDelivered}}}},
		"granting consent for another channel": {Consent: []core.InboundConsent{{Customer: core.CustomerRef{ID: f.c.ID},
			Channel: "sms", Granted: true}}},
		"a purchase":   {Interactions: []core.InboundInteraction{{Customer: core.CustomerRef{ID: f.c.ID}, Interaction: core.Interaction{Type: core.TypePurchase, Amount: 100, Currency: "USD"}}}},
		"money at all": {Interactions: []core.InboundInteraction{{Customer: core.CustomerRef{ID: f.c.ID}, Interaction: core.Interaction{Type: "replied", Amount: 1, Currency: "USD"}}}},
	} {
		f.ch.inbound = p
		if _, err := f.box.HandleInbound(ctx, "email", core.InboundRequest{Method: "POST"}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got := f.get(t, sms.ID); got.State != sms.State || got.Attempts != 0 {
		t.Errorf("the sms message changed: %+v", got)
	}
	// Withdrawing consent for any channel is honoured: the safe side.
	f.ch.inbound = core.InboundParsed{Consent: []core.InboundConsent{{Customer: core.CustomerRef{ID: f.c.ID}, Channel: "sms"}}}
	if _, err := f.box.HandleInbound(ctx, "email", core.InboundRequest{Method: "POST"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.svc.GetCustomer(ctx, f.c.ID); c.Consent["sms"].Granted || c.Consent["sms"].At.IsZero() {
		t.Errorf("withdrawal not recorded: %+v", c.Consent)
	}
	if n := len(f.timeline(t)); n != 0 {
		t.Errorf("%d interactions stored from refused reports", n)
	}
}

func FuzzHandleInbound(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"Interactions":[{"MessageKey":"s1","Interaction":{"Type":"delivered"}}]}`,
		`{"Interactions":[{"ProviderID":"x","Interaction":{"Type":"opened","Time":"2999-01-01T00:00:00Z"}}]}`,
		`{"Interactions":[{"Customer":{"Email":"ada@example.com"},"Interaction":{"Type":"replied","Text":"\u0000<script>","Properties":{"a":"b"}}}]}`,
		`{"Interactions":[{"Customer":{"ID":1},"Interaction":{"Type":"","IdempotencyKey":"` + string(make([]byte, 0)) + `"}}]}`,
		`{"Consent":[{"Customer":{"Phone":"+48600100200"},"Channel":"sms","Granted":true}]}`,
		`{"Consent":[{"Customer":{"ID":1},"Channel":"email","Granted":false,"Source":"x"}]}`,
		`{"Status":999,"ContentType":"text/html","Body":"PHNjcmlwdD4="}`,
	} {
		f.Add([]byte(s))
	}
	fx := newFixture(f, nil)
	sms := fx.enqueue(f, "sms", "s1")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		var p core.InboundParsed
		if json.Unmarshal(data, &p) != nil {
			return
		}
		before, _ := fx.svc.GetCustomer(ctx, fx.c.ID)
		fx.ch.mu.Lock()
		fx.ch.inbound = p
		fx.ch.mu.Unlock()
		_, err := fx.box.HandleInbound(ctx, "email", core.InboundRequest{Method: "POST", Body: data})
		if err != nil && !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrNotFound) &&
			!errors.Is(err, core.ErrTooLarge) && !errors.Is(err, core.ErrForbidden) {
			t.Fatalf("an error of no known kind: %v", err)
		}
		if got := fx.get(t, sms.ID); got.State != sms.State || got.Attempts != 0 || got.ProviderID != "" {
			t.Fatalf("the sms message changed: %+v", got)
		}
		after, _ := fx.svc.GetCustomer(ctx, fx.c.ID)
		if after.Consent["sms"].Granted && !before.Consent["sms"].Granted {
			t.Fatal("the email plugin granted sms consent")
		}
		for _, in := range fx.timeline(t) {
			if in.Amount != 0 || in.Type == core.TypePurchase || in.Type == core.TypeRefund {
				t.Fatalf("money from a channel plugin: %+v", in)
			}
		}
	})
}
