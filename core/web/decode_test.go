package web

import (
	"errors"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, body string
		field      string // expected FieldError field; "" means none
		msg        string // substring of the message
	}{
		{"empty", "", "", "empty"},
		{"blank", "  \n", "", "empty"},
		{"not an object", `[1,2]`, "", "expected an object, got array"},
		{"syntax", `{"name": }`, "", "malformed JSON at byte"},
		{"truncated", `{"name": "x"`, "", "truncated"},
		{"unknown field", `{"name":"x","nmae":"y"}`, "nmae", "unknown field"},
		{"server field", `{"id":"5"}`, "id", "unknown field"},
		{"wrong type", `{"name": 5}`, "name", "must be a string, not number"},
		{"wrong nested type", `{"address": {"city": true}}`, "address.city", "must be a string"},
		{"wrong array", `{"emails": "a@b.c"}`, "emails", "must be an array"},
		{"wrong element", `{"emails": [1]}`, "emails", "must be a string"},
		{"trailing", `{"name":"x"} {"name":"y"}`, "", "unexpected data after"},
		{"trailing garbage", `{"name":"x"}garbage`, "", "after the JSON value"},
		{"invalid utf8", "{\"name\":\"\xff\xfe\"}", "", "not valid UTF-8 (byte 9)"},
		{"bad consent time", `{"consent":{"email":{"granted":true,"at":"yesterday"}}}`, "", "yesterday"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in customerInput
			err := decodeJSON([]byte(tt.body), &in)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if got := core.ErrorField(err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err.Error(), tt.msg)
			}
		})
	}
}

func TestDecodeJSONOK(t *testing.T) {
	var in batchRequest
	body := `{"interactions":[{"customer_id":"7","type":"note","text":"<script>x</script>"},{"customer_external_id":"c-1","type":"purchase","amount":1250,"currency":"EUR"}]}`
	if err := decodeJSON([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	if len(in.Interactions) != 2 || in.Interactions[0].CustomerID != 7 || in.Interactions[1].Amount != 1250 || in.Interactions[0].Text != "<script>x</script>" {
		t.Fatalf("decoded %+v", in)
	}
	var bad batchRequest
	err := decodeJSON([]byte(`{"interactions":[{"customer_id":"x","type":"note"}]}`), &bad)
	if !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	err = decodeJSON([]byte(`{"interactions":[{"customer_id":7,"type":"note"}]}`), &bad)
	if !errors.Is(err, core.ErrInvalid) || core.ErrorField(err) != "interactions.customer_id" {
		t.Fatalf("numeric id: %v field %q", err, core.ErrorField(err))
	}
}

// FuzzDecodeCustomer feeds the customer and interaction decoding path
// (strict decoder, then the domain's normalization): it must never panic
// and every refusal must be an ErrInvalid.
func FuzzDecodeCustomer(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ann","emails":["a@b.co"],"tags":["vip"],"attributes":{"n":1.5,"s":"x","b":true,"z":null}}`,
		`{"external_id":"c-1","phones":["+48 600 100 200"],"address":{"city":"Kraków"}}`,
		`{"consent":{"email":{"granted":true,"at":"2024-01-02T03:04:05Z"}}}`,
		`{"interactions":[{"customer_id":"1","type":"purchase","amount":100,"currency":"PLN","items":[{"sku":"a","quantity":1,"unit_price":100}]}]}`,
		`{"name":"\u0000"}`, "{\"name\":\"\xff\"}", `{"attributes":{"a":{"b":1}}}`, `[]`, `null`, `{}`, `{"a":1}{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in customerInput
		if err := decodeJSON(b, &in); err != nil {
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("customer: %v is not ErrInvalid", err)
			}
		} else {
			c := in.customer()
			if err := c.Normalize("48"); err != nil && !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("normalize: %v is not ErrInvalid", err)
			}
		}
		var br batchRequest
		if err := decodeJSON(b, &br); err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("batch: %v is not ErrInvalid", err)
		}
		var p core.CustomerPatch
		if err := decodeJSON(b, &p); err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("patch: %v is not ErrInvalid", err)
		}
	})
}

func TestHighlightHTML(t *testing.T) {
	s, e := core.HighlightStart, core.HighlightEnd
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"the " + s + "tea" + e + " pack", "the <mark>tea</mark> pack"},
		{s + "<script>" + e + "alert(1)", "<mark>&lt;script&gt;</mark>alert(1)"},
		{`"quoted" & 'single'`, "&#34;quoted&#34; &amp; &#39;single&#39;"},
		{s + s + "x" + e + e, "<mark>x</mark>"},
		{e + "x", "x"},
		{s + "open", "<mark>open</mark>"},
		{"a" + s + "b" + e + "c" + s + "d" + e, "a<mark>b</mark>c<mark>d</mark>"},
	}
	for _, tt := range tests {
		if got := HighlightHTML(tt.in); got != tt.want {
			t.Errorf("HighlightHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzHighlightHTML(f *testing.F) {
	f.Add("a" + core.HighlightStart + "<b>" + core.HighlightEnd)
	f.Fuzz(func(t *testing.T, s string) {
		out := HighlightHTML(s)
		rest := strings.ReplaceAll(strings.ReplaceAll(out, "<mark>", ""), "</mark>", "")
		if strings.ContainsAny(rest, "<>\"'") || strings.Count(out, "<mark>") != strings.Count(out, "</mark>") {
			t.Fatalf("HighlightHTML(%q) = %q: unsafe or unbalanced", s, out)
		}
	})
}
