package core

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// InteractionType names what happened. The constants are the types the
// product understands; any other lower-case word (a "custom type") is stored
// and searchable too.
type InteractionType string

// The known interaction types.
const (
	TypePurchase              InteractionType = "purchase"
	TypeRefund                InteractionType = "refund"
	TypeSession               InteractionType = "session"
	TypePageView              InteractionType = "page_view"
	TypeMessageSent           InteractionType = "message_sent"
	TypeDelivered             InteractionType = "delivered"
	TypeOpened                InteractionType = "opened"
	TypeClicked               InteractionType = "clicked"
	TypeReplied               InteractionType = "replied"
	TypeTicketOpened          InteractionType = "ticket_opened"
	TypeTicketUpdated         InteractionType = "ticket_updated"
	TypeTicketClosed          InteractionType = "ticket_closed"
	TypeNote                  InteractionType = "note"
	TypeCall                  InteractionType = "call"
	TypeSurveyResponse        InteractionType = "survey_response"
	TypeSubscriptionStarted   InteractionType = "subscription_started"
	TypeSubscriptionRenewed   InteractionType = "subscription_renewed"
	TypeSubscriptionCancelled InteractionType = "subscription_cancelled"
	// Outcomes of outbox messages and what channels report back.
	TypeFailed       InteractionType = "failed"  // a message could not be delivered
	TypeBounced      InteractionType = "bounced" // the receiver's side returned it
	TypeUnsubscribed InteractionType = "unsubscribed"
)

// KnownTypes lists the known interaction types in the order the UI offers them.
var KnownTypes = []InteractionType{
	TypePurchase, TypeRefund, TypeSession, TypePageView, TypeMessageSent, TypeDelivered,
	TypeFailed, TypeBounced, TypeOpened, TypeClicked, TypeReplied, TypeUnsubscribed, TypeTicketOpened, TypeTicketUpdated, TypeTicketClosed,
	TypeNote, TypeCall, TypeSurveyResponse, TypeSubscriptionStarted, TypeSubscriptionRenewed,
	TypeSubscriptionCancelled,
}

// Limits on interaction fields.
const (
	MaxTypeLen      = 64
	MaxTextLen      = 64 << 10 // a note or message body
	MaxLineItems    = 1000
	MaxProperties   = 100
	MaxIdemKeyLen   = 200
	MaxBatch        = 10000 // interactions per append call
	MaxChannelLen   = 32
	maxPropValueLen = 4096
)

// LineItem is one line of a purchase or refund.
type LineItem struct {
	SKU       string `json:"sku,omitempty"`
	Name      string `json:"name,omitempty"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"` // minor units of the interaction's currency
}

// Interaction is one event in a customer's history.
type Interaction struct {
	ID         ID              `json:"id"`
	CustomerID ID              `json:"customer_id"`
	Type       InteractionType `json:"type"`
	Time       time.Time       `json:"time"` // when it happened, UTC
	Channel    Channel         `json:"channel,omitempty"`
	// Amount is in minor units of Currency (cents, kopecks, grosze); money is
	// never a float. Refunds carry a positive amount; their type says refund.
	Amount     int64             `json:"amount,omitempty"`
	Currency   string            `json:"currency,omitempty"` // ISO 4217
	Items      []LineItem        `json:"items,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	Text       string            `json:"text,omitempty"` // note body, message or ticket text
	// IdempotencyKey makes appending the same event twice store it once. It is
	// unique per customer-independent source; the store keeps the first.
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// Normalize cleans and validates an interaction before it is stored. Times
// are brought to UTC; a zero time means now.
func (in *Interaction) Normalize(now time.Time) error {
	in.Type = InteractionType(strings.ToLower(strings.TrimSpace(string(in.Type))))
	if in.Type == "" {
		return FieldErr("type", "required")
	}
	if len(in.Type) > MaxTypeLen || !isIdent(string(in.Type)) {
		return FieldErr("type", "must be a lower-case word of letters, digits and _ (at most %d)", MaxTypeLen)
	}
	if in.CustomerID == 0 {
		return FieldErr("customer_id", "required")
	}
	if in.Time.IsZero() {
		in.Time = now
	}
	in.Time = in.Time.UTC()
	if y := in.Time.Year(); y < 1900 || y > 9999 {
		return FieldErr("time", "year %d is out of range", y)
	}
	in.Channel = Channel(strings.ToLower(strings.TrimSpace(string(in.Channel))))
	if len(in.Channel) > MaxChannelLen || (in.Channel != "" && !isIdent(string(in.Channel))) {
		return FieldErr("channel", "must be a lower-case word (at most %d)", MaxChannelLen)
	}
	in.Currency = strings.ToUpper(strings.TrimSpace(in.Currency))
	if in.Amount != 0 || len(in.Items) > 0 {
		if _, ok := CurrencyExponent(in.Currency); !ok {
			if in.Currency == "" {
				return FieldErr("currency", "required when there is an amount")
			}
			return FieldErr("currency", "unknown ISO 4217 code %q", in.Currency)
		}
	} else if in.Currency != "" {
		if _, ok := CurrencyExponent(in.Currency); !ok {
			return FieldErr("currency", "unknown ISO 4217 code %q", in.Currency)
		}
	}
	if len(in.Items) > MaxLineItems {
		return FieldErr("items", "at most %d line items", MaxLineItems)
	}
	for i := range in.Items {
		it := &in.Items[i]
		it.SKU = strings.TrimSpace(it.SKU)
		it.Name = strings.TrimSpace(it.Name)
		if err := checkText(fmt.Sprintf("items[%d].sku", i), it.SKU, MaxShortField); err != nil {
			return err
		}
		if err := checkText(fmt.Sprintf("items[%d].name", i), it.Name, MaxShortField); err != nil {
			return err
		}
	}
	if len(in.Properties) > MaxProperties {
		return FieldErr("properties", "at most %d properties", MaxProperties)
	}
	for k, v := range in.Properties {
		if k == "" || len(k) > MaxAttrKeyLen || !utf8.ValidString(k) {
			return FieldErr("properties", "property name %q must be 1 to %d bytes of valid UTF-8", k, MaxAttrKeyLen)
		}
		if len(v) > maxPropValueLen || !utf8.ValidString(v) {
			return FieldErr("properties."+k, "value must be at most %d bytes of valid UTF-8", maxPropValueLen)
		}
	}
	if len(in.Text) > MaxTextLen || !utf8.ValidString(in.Text) {
		return FieldErr("text", "must be at most %d bytes of valid UTF-8", MaxTextLen)
	}
	in.IdempotencyKey = strings.TrimSpace(in.IdempotencyKey)
	if err := checkText("idempotency_key", in.IdempotencyKey, MaxIdemKeyLen); err != nil {
		return err
	}
	return nil
}

// ItemsTotal sums quantity × unit price over the line items.
func (in *Interaction) ItemsTotal() int64 {
	var t int64
	for _, it := range in.Items {
		t += it.Quantity * it.UnitPrice
	}
	return t
}

func isIdent(s string) bool {
	for _, r := range s {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return s != ""
}
