package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/retain-crm/retain/plugins/sdk"
)

const (
	// Tolerance is how far a webhook-timestamp may be from our clock.
	Tolerance = 5 * time.Minute
	// MaxInboundBody bounds a receipt request.
	MaxInboundBody = 1 << 20
	// maxEvents bounds the events in one request.
	maxEvents = 1000
	// remember keeps a seen webhook-id this long after its timestamp: past
	// it the timestamp check refuses a replay anyway.
	remember = 2 * Tolerance
	// KV layout: seenPrefix+id → timestamp; expPrefix+timestamp+"/"+id →
	// nothing, in time order for pruning.
	seenPrefix = "seen/"
	expPrefix  = "exp/"
)

// Event is one receipt, reply or unsubscribe in an inbound request; a
// request carries one Event object or a JSON array of them.
type Event struct {
	// Type: delivered, bounced, failed, opened, clicked, replied or
	// unsubscribed.
	Type string `json:"type"`
	// MessageKey is the "id" of the message this is about (the webhook-id
	// the receiver got); ProviderID what the receiver answered to it.
	MessageKey string `json:"message_key"`
	ProviderID string `json:"provider_id"`
	// Customer names the customer when the event is not about a message
	// (required for unsubscribed).
	Customer   *EventCustomer    `json:"customer"`
	Text       string            `json:"text"`
	Time       string            `json:"time"` // RFC 3339; empty: now
	Channel    string            `json:"channel"`
	Properties map[string]string `json:"properties"`
}

// EventCustomer finds a customer.
type EventCustomer struct {
	ID         string `json:"id"`
	ExternalID string `json:"external_id"`
	Email      string `json:"email"`
	Phone      string `json:"phone"`
}

var eventTypes = map[string]bool{sdk.TypeDelivered: true, sdk.TypeBounced: true, sdk.TypeFailed: true,
	sdk.TypeOpened: true, sdk.TypeClicked: true, sdk.TypeReplied: true, sdk.TypeUnsubscribed: true}

var channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ParseInbound takes POST /hooks/webhook/events, signed with
// inbound_secret. It refuses a forged or stale signature and a webhook-id
// it has seen, before anything is stored.
func (p *Plugin) ParseInbound(ctx context.Context, r *sdk.InboundRequest) (*sdk.InboundResponse, error) {
	path, _, _ := strings.Cut(r.GetPath(), "?")
	if path != "/events" && path != "/events/" {
		return nil, sdk.NotFoundf("no inbound route %q; receipts go to /hooks/webhook/events", clip(path, 100))
	}
	if r.GetMethod() != http.MethodPost {
		return &sdk.InboundResponse{StatusCode: http.StatusMethodNotAllowed, ContentType: "text/plain; charset=utf-8",
			Body: []byte("use POST\n")}, nil
	}
	st := p.st.Load()
	if st == nil || len(st.inboundSecret) == 0 {
		return nil, sdk.PermissionDeniedf("inbound receipts are off: inbound_secret is not configured")
	}
	body := r.GetBody()
	if len(body) > MaxInboundBody {
		return nil, &sdk.Error{Kind: sdk.ErrTooLarge, Message: fmt.Sprintf("body of %d bytes; at most %d", len(body), MaxInboundBody)}
	}
	id, ts := sdk.HeaderValue(r, "webhook-id"), sdk.HeaderValue(r, "webhook-timestamp")
	when, err := Verify(st.inboundSecret, id, ts, sdk.HeaderValue(r, "webhook-signature"), body, p.now())
	if err != nil {
		return nil, sdk.PermissionDeniedf("%v", err)
	}
	events, err := ParseEvents(body)
	if err != nil {
		return nil, sdk.Invalidf("%v", err)
	}
	if err := p.rememberID(ctx, st.host, id, when); err != nil {
		return nil, err
	}
	return p.interactions(id, events)
}

func (p *Plugin) interactions(id string, events []Event) (*sdk.InboundResponse, error) {
	out := &sdk.InboundResponse{StatusCode: http.StatusOK, ContentType: "application/json",
		Body: fmt.Appendf(nil, `{"accepted":%d}`, len(events))}
	now := p.now()
	for i, ev := range events {
		t := now
		if ev.Time != "" {
			t, _ = time.Parse(time.RFC3339Nano, ev.Time) // checked by ParseEvents
		}
		in := &sdk.Interaction{Type: ev.Type, Time: timestamppb.New(t), Channel: Name, Text: ev.Text,
			IdempotencyKey: "webhook:" + id + ":" + strconv.Itoa(i), MessageKey: ev.MessageKey,
			ProviderId: ev.ProviderID, Properties: ev.Properties}
		if c := ev.Customer; c != nil {
			in.Customer = &sdk.CustomerRef{Id: c.ID, ExternalId: c.ExternalID, Email: c.Email, Phone: c.Phone}
		}
		out.Interactions = append(out.Interactions, in)
		if ev.Type == sdk.TypeUnsubscribed {
			ch := ev.Channel
			if ch == "" {
				ch = Name
			}
			out.ConsentChanges = append(out.ConsentChanges, &sdk.ConsentChange{Customer: in.Customer, Channel: ch,
				Granted: false, Source: "webhook", Time: in.Time})
		}
	}
	return out, nil
}

func Verify(secret []byte, id, timestamp, signatures string, body []byte, now time.Time) (time.Time, error) {
	// 180: "webhook:"+id+":"+index stays within the host's 200-byte
	// idempotency keys.
	if id == "" || len(id) > 180 || !printable(id) {
		return time.Time{}, fmt.Errorf("webhook-id missing, longer than 180 bytes or not printable ASCII")
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || len(timestamp) > 12 {
		return time.Time{}, fmt.Errorf("webhook-timestamp missing or not unix seconds")
	}
	when := time.Unix(sec, 0)
	if d := now.Sub(when); d > Tolerance || d < -Tolerance {
		return time.Time{}, fmt.Errorf("webhook-timestamp %s is more than %s from now (replayed or clock skew)",
			when.UTC().Format(time.RFC3339), Tolerance)
	}
	want := []byte(Sign(secret, id, timestamp, body))[len("v1,"):]
	wantRaw := make([]byte, sha256.Size)
	base64.StdEncoding.Decode(wantRaw, want)
	ok := false
	for _, s := range strings.Fields(signatures) {
		b64, found := strings.CutPrefix(s, "v1,")
		if !found {
			continue // another scheme (e.g. v1a, asymmetric): not ours
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		// Check every candidate so the time does not say which matched.
		if hmac.Equal(got, wantRaw) {
			ok = true
		}
	}
	if !ok {
		return time.Time{}, fmt.Errorf("webhook-signature does not match (wrong secret or altered body)")
	}
	return when, nil
}

// ParseEvents reads a request body: one Event object or an array of them,
// each checked.
func ParseEvents(body []byte) ([]Event, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("empty body; want a JSON event object or an array of them")
	}
	var events []Event
	if trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return nil, fmt.Errorf("malformed JSON: %v", err)
		}
		if len(events) == 0 || len(events) > maxEvents {
			return nil, fmt.Errorf("%d events; want 1 to %d", len(events), maxEvents)
		}
	} else {
		var ev Event
		if err := json.Unmarshal(trimmed, &ev); err != nil {
			return nil, fmt.Errorf("malformed JSON: %v", err)
		}
		events = []Event{ev}
	}
	for i := range events {
		if err := events[i].check(); err != nil {
			return nil, fmt.Errorf("event %d: %v", i, err)
		}
	}
	return events, nil
}

func (ev *Event) check() error {
	c := ev.Customer
	if c != nil && *c == (EventCustomer{}) {
		ev.Customer, c = nil, nil
	}
	switch {
	case !eventTypes[ev.Type]:
		return fmt.Errorf("type %q; want one of delivered, bounced, failed, opened, clicked, replied, unsubscribed", clip(ev.Type, 40))
	case ev.MessageKey == "" && ev.ProviderID == "" && c == nil:
		return fmt.Errorf("names no message (message_key, provider_id) and no customer")
	case ev.Type == sdk.TypeUnsubscribed && c == nil:
		return fmt.Errorf("unsubscribed needs a customer (id, external_id, email or phone)")
	case len(ev.MessageKey) > 200 || len(ev.ProviderID) > 256:
		return fmt.Errorf("message_key or provider_id too long")
	case len(ev.Text) > 64<<10:
		return fmt.Errorf("text longer than 64 KiB")
	case len(ev.Properties) > 50:
		return fmt.Errorf("more than 50 properties")
	case ev.Channel != "" && !channelName.MatchString(ev.Channel):
		return fmt.Errorf("channel %q is not a lower-case word", clip(ev.Channel, 40))
	}
	if c != nil && (len(c.ID) > 256 || len(c.ExternalID) > 256 || len(c.Email) > 320 || len(c.Phone) > 32) {
		return fmt.Errorf("customer reference too long")
	}
	for k, v := range ev.Properties {
		if k == "" || len(k) > 64 || len(v) > 1024 {
			return fmt.Errorf("property %q: empty or too long key, or value over 1024 bytes", clip(k, 40))
		}
	}
	if ev.Time != "" {
		if _, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil {
			return fmt.Errorf("time %q is not RFC 3339", clip(ev.Time, 40))
		}
	}
	return nil
}

// rememberID refuses a webhook-id seen before and remembers this one in the
// Host KV (with its timestamp, so old ids can be pruned).
func (p *Plugin) rememberID(ctx context.Context, host sdk.Host, id string, when time.Time) error {
	if host == nil {
		return sdk.Retryablef("no host key-value space to check replays against")
	}
	// One lock per stripe of ids: copies of one request are serialised,
	// different requests are not.
	mu := &p.replayMu[stripe(id)]
	mu.Lock()
	defer mu.Unlock()
	_, seen, err := host.KVGet(ctx, seenPrefix+id)
	if err != nil {
		return sdk.Retryablef("replay check: %v", err)
	}
	if seen {
		return sdk.PermissionDeniedf("webhook-id %q was seen before (replayed request)", id)
	}
	ts := fmt.Sprintf("%012d", when.Unix())
	if err := host.KVPut(ctx, expPrefix+ts+"/"+id, nil); err != nil {
		return sdk.Retryablef("replay check: %v", err)
	}
	if err := host.KVPut(ctx, seenPrefix+id, []byte(ts)); err != nil {
		return sdk.Retryablef("replay check: %v", err)
	}
	now := p.now()
	if p.pruneMu.TryLock() {
		if now.Sub(p.lastPrune) > time.Minute {
			p.lastPrune = now
			p.prune(ctx, host, now)
		}
		p.pruneMu.Unlock()
	}
	return nil
}

func stripe(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % replayStripes)
}

// prune forgets ids whose timestamp is older than remember, oldest first,
// a bounded batch per call. Errors are ignored: pruning is retried later.
func (p *Plugin) prune(ctx context.Context, host sdk.Host, now time.Time) {
	cutoff := fmt.Sprintf("%012d", now.Add(-remember).Unix())
	items, _, err := host.KVList(ctx, expPrefix, "", 500)
	if err != nil {
		return
	}
	for _, it := range items {
		ts, id, ok := strings.Cut(strings.TrimPrefix(it.GetKey(), expPrefix), "/")
		if !ok || ts >= cutoff {
			return
		}
		if host.KVDelete(ctx, seenPrefix+id) != nil || host.KVDelete(ctx, it.GetKey()) != nil {
			return
		}
	}
}
