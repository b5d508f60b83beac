package sdk

import (
	"bytes"
	"encoding/json"
	"strings"
)

// HeaderValue returns the first value of the request header name, matched
// case-insensitively as HTTP does ("" when absent).
func HeaderValue(r *InboundRequest, name string) string {
	for _, h := range r.GetHeaders() {
		if strings.EqualFold(h.GetName(), name) {
			return h.GetValue()
		}
	}
	return ""
}

// DecodeConfig reads the configuration Configure received into v (a
// pointer to a struct holding the defaults), refusing unknown fields and
// anything but one JSON object with ErrInvalid, so the admin sees which
// key is wrong. The host already checked it against your schema; this
// catches what a schema cannot say and keeps a typo from passing silently.
func DecodeConfig(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Invalidf("configuration: %v", err)
	}
	if dec.More() {
		return Invalidf("configuration: data after the JSON object")
	}
	return nil
}

// Actions, shorter. id makes each idempotent: derive it from what caused
// it ("vip:" + event id), so an event delivered twice acts once.

// TagAction adds tag to a customer.
func TagAction(id, customerID, tag string) *Action {
	return &Action{Id: id, CustomerId: customerID, Kind: &ActionAddTag{AddTag: tag}}
}

// UntagAction removes tag from a customer.
func UntagAction(id, customerID, tag string) *Action {
	return &Action{Id: id, CustomerId: customerID, Kind: &ActionRemoveTag{RemoveTag: tag}}
}

// AttributeAction sets attribute key to value (anything encoding/json can
// write; nil removes it).
func AttributeAction(id, customerID, key string, value any) (*Action, error) {
	b, err := json.Marshal(value)
	if err != nil {
		return nil, Invalidf("attribute %s: %v", key, err)
	}
	return &Action{Id: id, CustomerId: customerID, Kind: &ActionSetAttribute{
		SetAttribute: &SetAttribute{Key: key, ValueJson: string(b)}}}, nil
}

// InteractionAction appends in to the customer's timeline.
func InteractionAction(id, customerID string, in *Interaction) *Action {
	return &Action{Id: id, CustomerId: customerID, Kind: &ActionAppendInteraction{AppendInteraction: in}}
}

// MessageAction puts m in the outbox for the customer (consent is checked
// when it is sent).
func MessageAction(id, customerID string, m *Message) *Action {
	return &Action{Id: id, CustomerId: customerID, Kind: &ActionEnqueueMessage{EnqueueMessage: m}}
}
