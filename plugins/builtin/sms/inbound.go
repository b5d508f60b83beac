package sms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/retain-crm/retain/plugins/sdk"
)

const (
	// MaxInboundBody bounds a receipt or reply request.
	MaxInboundBody = 1 << 20
	maxRecords     = 1000
	ignore         = "ignore"
	// maxProviderID keeps "sms:receipt:"+id+":"+type within the host's
	// 200-byte idempotency keys.
	maxProviderID = 170
)

// DefaultStatusMap maps gateways' status words (lower-cased) to what
// happened; words it does not know are ignored (no interaction).
var DefaultStatusMap = map[string]string{
	"delivrd": sdk.TypeDelivered, "delivered": sdk.TypeDelivered, "delivery_success": sdk.TypeDelivered,
	"undeliv": sdk.TypeFailed, "undelivered": sdk.TypeFailed, "undeliverable": sdk.TypeFailed, "failed": sdk.TypeFailed,
	"rejectd": sdk.TypeFailed, "rejected": sdk.TypeFailed, "expired": sdk.TypeFailed, "deleted": sdk.TypeFailed,
	"error": sdk.TypeFailed, "delivery_failed": sdk.TypeFailed,
	"accepted": ignore, "acceptd": ignore, "enroute": ignore, "queued": ignore, "sent": ignore, "sending": ignore,
	"buffered": ignore, "scheduled": ignore, "submitted": ignore, "unknown": ignore,
}

// DefaultStopWords withdraw SMS consent when they are a whole reply.
var DefaultStopWords = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}

func parseInboundConfig(st *state, c *config) error {
	if c.ReceiptToken != "" && (len(c.ReceiptToken) < 16 || len(c.ReceiptToken) > 256) {
		return sdk.Invalidf("receipt_token: want 16 to 256 characters (a random token)")
	}
	st.receiptToken = c.ReceiptToken
	fields := []struct {
		name, val, def string
		out            *[]string
	}{
		{"receipt_id_field", c.ReceiptIDField, "id", &st.receiptID},
		{"receipt_status_field", c.ReceiptStatusField, "status", &st.receiptStatus},
		{"reply_from_field", c.ReplyFromField, "from", &st.replyFrom},
		{"reply_text_field", c.ReplyTextField, "text", &st.replyText},
		{"reply_id_field", c.ReplyIDField, "id", &st.replyID},
	}
	for _, f := range fields {
		if f.val == "" {
			f.val = f.def
		}
		path, err := parsePath(f.val)
		if err != nil {
			return sdk.Invalidf("%s: %v", f.name, err)
		}
		*f.out = path
	}
	st.statusMap = make(map[string]string, len(DefaultStatusMap)+len(c.StatusMap))
	for k, v := range DefaultStatusMap {
		st.statusMap[k] = v
	}
	for k, v := range c.StatusMap {
		switch v {
		case sdk.TypeDelivered, sdk.TypeFailed, sdk.TypeBounced, ignore:
		default:
			return sdk.Invalidf("status_map: %q maps to %q; want delivered, failed, bounced or ignore", k, v)
		}
		if k == "" || len(k) > 64 {
			return sdk.Invalidf("status_map: empty or too long status word")
		}
		st.statusMap[strings.ToLower(k)] = v
	}
	words := c.StopWords
	if words == nil {
		words = DefaultStopWords
	}
	st.stopWords = map[string]bool{}
	for _, w := range words {
		w = strings.ToUpper(strings.TrimSpace(w))
		if w == "" || len(w) > 64 {
			return sdk.Invalidf("stop_words: empty or longer than 64 bytes")
		}
		st.stopWords[w] = true
	}
	return nil
}

// ParseInbound takes delivery receipts (/receipt) and replies (/reply),
// by GET query or POST form or JSON (an object or an array of them).
func (p *Plugin) ParseInbound(_ context.Context, r *sdk.InboundRequest) (*sdk.InboundResponse, error) {
	path, rawQuery, _ := strings.Cut(r.GetPath(), "?")
	path = strings.TrimSuffix(path, "/")
	if path != "/receipt" && path != "/reply" {
		return nil, sdk.NotFoundf("no inbound route %q; receipts go to /hooks/sms/receipt, replies to /hooks/sms/reply", clip(path, 100))
	}
	if r.GetMethod() != http.MethodPost && r.GetMethod() != http.MethodGet {
		return &sdk.InboundResponse{StatusCode: http.StatusMethodNotAllowed, ContentType: "text/plain; charset=utf-8",
			Body: []byte("use GET or POST\n")}, nil
	}
	st := p.st.Load()
	if st == nil || st.receiptToken == "" {
		return nil, sdk.PermissionDeniedf("inbound SMS is off: receipt_token is not configured")
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, sdk.Invalidf("query: %v", err)
	}
	if !tokenOK(st.receiptToken, r, query) {
		return nil, sdk.PermissionDeniedf("missing or wrong token")
	}
	if len(r.GetBody()) > MaxInboundBody {
		return nil, &sdk.Error{Kind: sdk.ErrTooLarge, Message: fmt.Sprintf("body of %d bytes; at most %d", len(r.GetBody()), MaxInboundBody)}
	}
	query.Del("token")
	records, err := Records(sdk.HeaderValue(r, "Content-Type"), r.GetBody(), query)
	if err != nil {
		return nil, sdk.Invalidf("%v", err)
	}
	out := &sdk.InboundResponse{StatusCode: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("OK\n")}
	now := timestamppb.New(p.now())
	for i, rec := range records {
		var err error
		if path == "/receipt" {
			err = st.receipt(out, rec, now)
		} else {
			err = st.reply(out, rec, now)
		}
		if err != nil {
			if len(records) > 1 {
				return nil, sdk.Invalidf("record %d: %v", i, err)
			}
			return nil, sdk.Invalidf("%v", err)
		}
	}
	return out, nil
}

// receipt adds the interaction for one delivery receipt: the host finds
// the message (and so the customer) by its provider id.
func (st *state) receipt(out *sdk.InboundResponse, rec Record, now *timestamppb.Timestamp) error {
	id, status := rec.Get(st.receiptID), rec.Get(st.receiptStatus)
	if id == "" || status == "" {
		return fmt.Errorf("a receipt needs %s and %s", strings.Join(st.receiptID, "."), strings.Join(st.receiptStatus, "."))
	}
	// 170: the idempotency key stays within the host's 200 bytes.
	if len(id) > maxProviderID || !printable(id) || len(status) > 64 {
		return fmt.Errorf("id or status too long or not printable")
	}
	typ, known := st.statusMap[strings.ToLower(strings.TrimSpace(status))]
	if !known || typ == ignore {
		return nil
	}
	out.Interactions = append(out.Interactions, &sdk.Interaction{Type: typ, Time: now, Channel: Name, ProviderId: id,
		IdempotencyKey: "sms:receipt:" + id + ":" + typ, Properties: map[string]string{"status": status}})
	return nil
}

// reply adds a replied interaction for an incoming SMS and, when the whole
// text is a stop word, withdraws SMS consent.
func (st *state) reply(out *sdk.InboundResponse, rec Record, now *timestamppb.Timestamp) error {
	from, text, id := rec.Get(st.replyFrom), rec.Get(st.replyText), rec.Get(st.replyID)
	if from == "" {
		return fmt.Errorf("a reply needs %s", strings.Join(st.replyFrom, "."))
	}
	phone, ok := NormalizePhone(from)
	if !ok {
		// Gateways often drop the +; an all-digit number is international.
		phone, ok = NormalizePhone("+" + from)
	}
	if !ok {
		return fmt.Errorf("sender %q is not a phone number", clip(from, 40))
	}
	if len(text) > 64<<10 || !utf8.ValidString(text) || len(id) > maxProviderID || (id != "" && !printable(id)) {
		return fmt.Errorf("text or id too long or not valid")
	}
	key := "sms:reply:" + id
	if id == "" {
		sum := sha256.Sum256([]byte(phone + "\x00" + text))
		key = "sms:reply:" + phone + ":" + hex.EncodeToString(sum[:12])
	}
	ref := &sdk.CustomerRef{Phone: phone}
	out.Interactions = append(out.Interactions, &sdk.Interaction{Customer: ref, Type: sdk.TypeReplied, Time: now,
		Channel: Name, Text: text, ProviderId: id, IdempotencyKey: key})
	word := strings.ToUpper(strings.TrimFunc(text, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }))
	if st.stopWords[word] {
		out.ConsentChanges = append(out.ConsentChanges, &sdk.ConsentChange{Customer: ref, Channel: Name, Granted: false,
			Source: "sms-stop", Time: now})
	}
	return nil
}

// tokenOK compares the shared token from the query (token=), the
// X-Retain-Token header or an Authorization: Bearer header, in constant
// time (both sides hashed first so the length does not leak either).
func tokenOK(want string, r *sdk.InboundRequest, q url.Values) bool {
	got := q.Get("token")
	if got == "" {
		got = sdk.HeaderValue(r, "X-Retain-Token")
	}
	if got == "" {
		got, _ = strings.CutPrefix(sdk.HeaderValue(r, "Authorization"), "Bearer ")
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return got != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Record is one receipt or reply: a JSON object (fields by dotted path)
// or form values, falling back to the query string.
type Record struct {
	json  any
	form  url.Values
	query url.Values
}

// Get returns the field at path as text ("" when absent or not a scalar).
func (r Record) Get(path []string) string {
	if r.json != nil {
		if v, ok := Lookup(r.json, path); ok {
			if s, ok := scalarText(v); ok {
				return s
			}
		}
	} else if v := r.form.Get(strings.Join(path, ".")); v != "" {
		return v
	}
	return r.query.Get(strings.Join(path, "."))
}

// Records reads a body: JSON (by content type, or a body starting with {
// or [) as one object or an array of objects, else form-encoded; an empty
// body leaves only the query (GET callbacks).
func Records(contentType string, body []byte, query url.Values) ([]Record, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		(mt == "" && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['))
	switch {
	case len(trimmed) == 0:
		return []Record{{query: query}}, nil
	case isJSON:
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("malformed JSON: %v", err)
		}
		if dec.More() {
			return nil, fmt.Errorf("trailing data after the JSON value")
		}
		list, isList := v.([]any)
		if !isList {
			list = []any{v}
		}
		if len(list) == 0 || len(list) > maxRecords {
			return nil, fmt.Errorf("%d records; want 1 to %d", len(list), maxRecords)
		}
		out := make([]Record, len(list))
		for i, e := range list {
			if _, ok := e.(map[string]any); !ok {
				return nil, fmt.Errorf("record %d is not a JSON object", i)
			}
			out[i] = Record{json: e, query: query}
		}
		return out, nil
	case mt == "" || mt == "application/x-www-form-urlencoded" || mt == "text/plain":
		form, err := url.ParseQuery(string(trimmed))
		if err != nil {
			return nil, fmt.Errorf("malformed form body: %v", err)
		}
		return []Record{{form: form, query: query}}, nil
	}
	return nil, fmt.Errorf("content type %q; send JSON or a form", clip(mt, 60))
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 32 || s[i] == 127 {
			return false
		}
	}
	return true
}
