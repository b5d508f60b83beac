package core

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// The outbox: a message to a customer is stored here, under its
// idempotency key, before any channel plugin sees it. Delivery workers
// (core/delivery) claim due messages, check consent at that moment, hand
// them to the channel and record the outcome — in the message and as an
// interaction on the customer's timeline, in one transaction. A crash of
// the CRM or of a plugin leaves at most the claimed ("sending") messages in
// doubt; they are sent again under the same key, so a receiver can drop
// the copy.

// MessageState is where an outbox message is in its life.
type MessageState string

// The message states. Queued and sending are "open"; the rest are final
// (an admin may retry a failed or suppressed message, which queues it again).
const (
	MessageQueued     MessageState = "queued"     // waiting for its time and a worker
	MessageSending    MessageState = "sending"    // claimed by a worker; outcome unknown yet
	MessageSent       MessageState = "sent"       // the channel accepted it (ProviderID)
	MessageFailed     MessageState = "failed"     // refused for good, or out of attempts
	MessageSuppressed MessageState = "suppressed" // consent withdrawn, or no contact, at send time
	MessageCancelled  MessageState = "cancelled"  // by a user before it was sent
)

// MessageStates lists the states in the order the outbox view shows them.
var MessageStates = []MessageState{MessageQueued, MessageSending, MessageSent, MessageFailed, MessageSuppressed, MessageCancelled}

// Final reports whether no worker will touch a message in this state again.
func (s MessageState) Final() bool { return s != MessageQueued && s != MessageSending }

// Limits on outbox messages.
const (
	MaxSubjectLen      = 998 // one RFC 5322 header line
	MaxMessageBodyLen  = 256 << 10
	MaxMessageHeaders  = 50
	MaxMessageMetadata = 50
	MaxEnqueueBatch    = 1000
)

// OutboxMessage is one message on its way to a customer.
type OutboxMessage struct {
	ID ID `json:"id"`
	// Channel is the channel name a plugin serves ("email", "sms",
	// "webhook"); consent is checked under the same name.
	Channel    string `json:"channel"`
	CustomerID ID     `json:"customer_id"`
	// IdempotencyKey makes enqueueing the same message twice store it once
	// (e.g. "campaign:12:step:2:customer:99"); the channel sees it too
	// (the email channel makes the Message-ID from it).
	IdempotencyKey string            `json:"idempotency_key"`
	Subject        string            `json:"subject,omitempty"`
	Text           string            `json:"text,omitempty"`
	HTML           string            `json:"html,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	// To overrides the contact taken from the customer at send time (for
	// example a webhook URL in Address); empty fields come from the customer.
	To     MessageContact `json:"to,omitzero"`
	Source string         `json:"source,omitempty"` // "user:EMAIL", "api", "plugin:NAME", "cli"

	State    MessageState `json:"state"`
	Attempts int          `json:"attempts"`
	// NotBefore is when a queued message may be sent (its next attempt).
	NotBefore  time.Time `json:"not_before,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	ProviderID string    `json:"provider_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	SentAt     time.Time `json:"sent_at,omitzero"`
}

// Normalize trims and validates a message about to be enqueued.
func (m *OutboxMessage) Normalize() error {
	m.Channel = strings.ToLower(strings.TrimSpace(m.Channel))
	m.IdempotencyKey = strings.TrimSpace(m.IdempotencyKey)
	m.Subject = strings.TrimSpace(m.Subject)
	switch {
	case m.Channel == "":
		return FieldErr("channel", "required")
	case len(m.Channel) > MaxChannelLen || !isWord(m.Channel):
		return FieldErr("channel", "must be a lower-case word of at most %d letters, digits, '_' or '-'", MaxChannelLen)
	case m.CustomerID == 0:
		return FieldErr("customer_id", "required")
	case m.IdempotencyKey == "":
		return FieldErr("idempotency_key", "required")
	case len(m.IdempotencyKey) > MaxIdemKeyLen:
		return FieldErr("idempotency_key", "longer than %d bytes", MaxIdemKeyLen)
	case m.Text == "" && m.HTML == "":
		return FieldErr("text", "a message needs a text or an HTML body")
	case len(m.Subject) > MaxSubjectLen || strings.ContainsAny(m.Subject, "\r\n"):
		return FieldErr("subject", "must be one line of at most %d bytes", MaxSubjectLen)
	case len(m.Text) > MaxMessageBodyLen:
		return FieldErr("text", "longer than %d bytes", MaxMessageBodyLen)
	case len(m.HTML) > MaxMessageBodyLen:
		return FieldErr("html", "longer than %d bytes", MaxMessageBodyLen)
	case len(m.Headers) > MaxMessageHeaders:
		return FieldErr("headers", "more than %d headers", MaxMessageHeaders)
	case len(m.Metadata) > MaxMessageMetadata:
		return FieldErr("metadata", "more than %d entries", MaxMessageMetadata)
	}
	for _, f := range []struct{ name, v string }{{"idempotency_key", m.IdempotencyKey}, {"subject", m.Subject},
		{"text", m.Text}, {"html", m.HTML}, {"source", m.Source}} {
		if !utf8.ValidString(f.v) {
			return FieldErr(f.name, "not valid UTF-8")
		}
	}
	for k, v := range m.Headers {
		if !validHeaderName(k) {
			return FieldErr("headers", "%q is not a header name", k)
		}
		if strings.ContainsAny(v, "\r\n") || len(v) > MaxSubjectLen || !utf8.ValidString(v) {
			return FieldErr("headers."+k, "must be one line of at most %d bytes", MaxSubjectLen)
		}
	}
	for k, v := range m.Metadata {
		if k == "" || len(k) > MaxAttrKeyLen || len(v) > maxPropValueLen || !utf8.ValidString(k+v) {
			return FieldErr("metadata", "keys of 1..%d bytes, values up to %d bytes, UTF-8", MaxAttrKeyLen, maxPropValueLen)
		}
	}
	return nil
}

func isWord(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

// validHeaderName: RFC 5322 field name (printable ASCII but ':').
func validHeaderName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ':' {
			return false
		}
	}
	return true
}

// Outcome is what a worker learned about one claimed message. The store
// writes the new state and appends Interactions (the outcome on the
// customer's timeline) in one transaction.
type Outcome struct {
	ID         ID
	State      MessageState // sent, failed, suppressed, or queued (retry later)
	NotBefore  time.Time    // for queued: the next attempt
	ProviderID string
	Error      string
	At         time.Time
	// NotAttempted: the channel was not really tried (its plugin was down),
	// so the attempt the claim counted is given back.
	NotAttempted bool
	// Interactions are prepared by the worker (core.Service.PrepareInteraction)
	// with idempotency keys derived from the message id, so writing the same
	// outcome twice appends nothing twice.
	Interactions []Interaction
}

// OutboxQuery selects messages for the outbox view, newest first.
type OutboxQuery struct {
	State      MessageState // empty: every state
	Channel    string
	CustomerID ID
	Cursor     string
	Limit      int // 1..1000; 0 means 50
}

// Outbox stores the messages; core.Store embeds it.
type Outbox interface {
	// EnqueueMessages stores messages as queued, in one transaction. A
	// message whose IdempotencyKey is stored already is not stored again:
	// its slot in the result holds the stored message and duplicate[i] is true.
	EnqueueMessages(ctx context.Context, in []OutboxMessage) (out []OutboxMessage, duplicate []bool, err error)
	// ClaimMessages moves up to limit queued messages of channel whose
	// NotBefore <= now to sending (Attempts+1), oldest due first.
	ClaimMessages(ctx context.Context, channel string, now time.Time, limit int) ([]OutboxMessage, error)
	// FinishMessages records outcomes of claimed messages in one
	// transaction. An outcome for a message that is no longer sending (a
	// user cancelled it meanwhile) changes nothing but its interactions.
	FinishMessages(ctx context.Context, outcomes []Outcome) error
	// RequeueSending moves every sending message back to queued (at start-up:
	// their worker died with the previous process) and returns how many.
	RequeueSending(ctx context.Context, now time.Time) (int, error)
	// DueChannels lists the channels with queued messages and, for each,
	// the earliest NotBefore.
	DueChannels(ctx context.Context) (map[string]time.Time, error)
	GetMessage(ctx context.Context, id ID) (OutboxMessage, error)
	GetMessageByKey(ctx context.Context, idempotencyKey string) (OutboxMessage, error)
	// GetMessageByProviderID finds a sent message by the id its channel
	// answered (delivery receipts name it).
	GetMessageByProviderID(ctx context.Context, channel, providerID string) (OutboxMessage, error)
	// UpdateMessage reads, applies fn and writes back (retry, cancel).
	UpdateMessage(ctx context.Context, id ID, fn func(*OutboxMessage) error) (OutboxMessage, error)
	ListMessages(ctx context.Context, q OutboxQuery) (Page[OutboxMessage], error)
	// CountMessages counts messages per state (and per channel for open ones).
	CountMessages(ctx context.Context) (OutboxCounts, error)
}

// OutboxCounts is the outbox at a glance.
type OutboxCounts struct {
	ByState   map[MessageState]int `json:"by_state"`
	QueuedBy  map[string]int       `json:"queued_by_channel"`
	OldestDue time.Time            `json:"oldest_due,omitzero"`
}

// PluginSettings is what admins decide about one plugin; it outlives
// restarts (the store keeps it).
type PluginSettings struct {
	Name string `json:"name"`
	// Config is the plugin's configuration, a JSON object checked against
	// the schema the plugin declared and accepted by its Configure.
	Config json.RawMessage `json:"config,omitempty"`
	// Approved are the grants an admin approved for a third-party plugin
	// (built-ins get what they ask for).
	Approved       PluginGrants `json:"approved"`
	Disabled       bool         `json:"disabled"`
	DisabledReason string       `json:"disabled_reason,omitempty"`
	UpdatedAt      time.Time    `json:"updated_at,omitzero"`
	UpdatedBy      string       `json:"updated_by,omitempty"`
}

// PluginSettingsStore keeps PluginSettings; core.Store embeds it.
type PluginSettingsStore interface {
	// GetPluginSettings returns ErrNotFound when nothing was ever set.
	GetPluginSettings(ctx context.Context, name string) (PluginSettings, error)
	PutPluginSettings(ctx context.Context, s PluginSettings) error
	ListPluginSettings(ctx context.Context) ([]PluginSettings, error)
}
