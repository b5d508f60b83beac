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
