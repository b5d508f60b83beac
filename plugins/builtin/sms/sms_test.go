package sms

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/plugins/sdk/sdktest"
)

const token = "receipt-token-0123456789"

func TestConfigRefused(t *testing.T) {
	h := sdktest.Start(t, New(), nil) // {}: unconfigured, accepted
	ctx := context.Background()
	if err := h.Plugin.Health(ctx); err == nil {
		t.Error("Health of an unconfigured sms: want an error")
	}
	if _, err := h.Channel.Send(ctx, &sdk.Message{IdempotencyKey: "k", Text: "hi", Recipient: &sdk.Contact{Phone: "+15550100200"}}); !sdk.IsRetryable(err) {
		t.Errorf("Send unconfigured: %v, want retryable", err)
	}
	u := `"url":"https://gw.example/send"`
	for _, tc := range []struct{ config, field string }{
		{`{"method":"POST"}`, "url"},
		{`{` + u + `,"nope":1}`, "nope"},
		{`{"url":"https://gw/{{.To"}`, "url"},
		{`{"url":"https://gw/{{.Phone}}"}`, "url"},
		{`{"url":"ftp://gw/x"}`, "url"},
		{`{"url":"{{.Text}}"}`, "url"},
		{`{"url":"https://gw/send?to={{.To}}&text={{.Text}}","method":"GET"}`, "url"},
		{`{"url":"https://gw/send/{{.Text}}","method":"GET"}`, "url"},
		{`{"url":"https://gw/send?text={{.Text | html}}","method":"GET"}`, "url"},
		{`{` + u + `,"method":"PUT"}`, "method"},
		{`{` + u + `,"method":"GET","body_template":"x"}`, "body_template"},
		{`{` + u + `,"body_template":"{{if}}"}`, "body_template"},
		{`{` + u + `,"body_template":"{\"text\":\"{{.Text}}\"}"}`, "body_template"},
		{`{` + u + `,"body_template":"{\"text\":{{printf \"%q\" .Text}}}"}`, "body_template"},
		{`{` + u + `,"body_template":"to={{urlquery .To}}&text={{.Text}}","content_type":"application/x-www-form-urlencoded"}`, "body_template"},
		{`{` + u + `,"body_template":"<sms><text>{{.Text}}</text></sms>","content_type":"text/xml"}`, "body_template"},
		{`{` + u + `,"body_template":"{{range 1000000000}}{{end}}"}`, "body_template"},
		{`{` + u + `,"body_template":"{{define \"x\"}}a{{end}}{{template \"x\"}}"}`, "body_template"},
		{`{` + u + `,"body_template":"{{printf \"%0999999d\" 1}}{{printf \"%0999999d\" 1}}"}`, "body_template"},
		{`{` + u + `,"content_type":"not a type;;"}`, "content_type"},
		{`{` + u + `,"headers":{"X-Key":"a\r\nX-Evil: 1"}}`, "headers"},
		{`{` + u + `,"headers":{"Authorization":"Bearer x"}}`, "headers"},
		{`{` + u + `,"auth":"basic"}`, "username"},
		{`{` + u + `,"auth":"basic","username":"a:b"}`, "username"},
		{`{` + u + `,"auth":"bearer"}`, "token"},
		{`{` + u + `,"auth":"bearer","token":"a b"}`, "token"},
		{`{` + u + `,"auth":"digest"}`, "auth"},
		{`{` + u + `,"password":"x"}`, "auth"},
		{`{` + u + `,"timeout":"forever"}`, "timeout"},
		{`{` + u + `,"success_status":"abc"}`, "success_status"},
		{`{` + u + `,"success_status":"600"}`, "success_status"},
		{`{` + u + `,"success_status":"299-200"}`, "success_status"},
		{`{` + u + `,"success_status":{"a":1}}`, "success_status"},
		{`{` + u + `,"success_json_value":"ok"}`, "success_json_value"},
		{`{` + u + `,"success_json_path":"a..b"}`, "success_json_path"},
		{`{` + u + `,"provider_id_json_path":"."}`, "provider_id_json_path"},
		{`{` + u + `,"max_length":-1}`, "max_length"},
		{`{` + u + `,"max_segments":1000}`, "max_segments"},
		{`{` + u + `,"receipt_token":"short"}`, "receipt_token"},
		{`{` + u + `,"status_map":{"OK":"maybe"}}`, "status_map"},
		{`{` + u + `,"stop_words":[" "]}`, "stop_words"},
		{`{` + u + `,"from":"a\nb"}`, "from"},
		{`{` + u + `,"body_template":"` + strings.Repeat("x", 17<<10) + `"}`, "body_template"},
	} {
		err := h.Plugin.Configure(ctx, json.RawMessage(tc.config), nil)
		if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Configure(%s) = %v; want invalid naming %q", clip(tc.config, 120), err, tc.field)
		}
	}
	for _, good := range []string{
		`{` + u + `}`,
		`{"url":"https://gw/send?to={{urlquery .To}}&text={{urlquery .Text}}&ref={{urlquery .IdempotencyKey}}","method":"GET"}`,
		`{"url":"https://gw/messages/{{urlquery .IdempotencyKey}}","body_template":"{\"text\":{{json .Text}}}"}`,
		`{` + u + `,"body_template":"to={{urlquery .To}}&text={{urlquery .Text}}","content_type":"application/x-www-form-urlencoded"}`,
		`{` + u + `,"body_template":"<sms to=\"{{xml .To}}\"><text>{{xml .Text}}</text></sms>","content_type":"application/xml"}`,
		`{` + u + `,"auth":"basic","username":"u","password":"p","success_status":["200",202,"204-206"]}`,
		`{` + u + `,"auth":"bearer","token":"t0k3n","success_json_path":"ok","success_json_value":"true","receipt_token":"` + token + `"}`,
	} {
		if err := h.Plugin.Configure(ctx, json.RawMessage(good), nil); err != nil {
			t.Errorf("Configure(%s) = %v", good, err)
		}
	}
	var m map[string]any
	d, _ := h.Plugin.Describe(ctx)
	if err := json.Unmarshal([]byte(d.GetConfigSchemaJson()), &m); err != nil {
		t.Errorf("schema is not JSON: %v", err)
	}
}

// gateway is a loopback SMS gateway that records requests and answers
// with a scripted handler.
type gateway struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func newGateway(t *testing.T, answer http.HandlerFunc) *gateway {
	g := &gateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.reqs, g.body = append(g.reqs, r), append(g.body, string(b))
		g.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) last() (*http.Request, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.reqs) == 0 {
		return nil, ""
	}
	return g.reqs[len(g.reqs)-1], g.body[len(g.body)-1]
}

func sms(key, phone, text string) *sdk.Message {
	return &sdk.Message{IdempotencyKey: key, Channel: "sms", Text: text, Recipient: &sdk.Contact{CustomerId: "42", Phone: phone}}
}

// injection is message text that tries to break out of every format.
const injection = `hi"},"to":"+19999999999","x":{"a":"` + "&to=%2B1999&text=x#frag\n<to>+1999</to>]]>{{.To}}{{.IdempotencyKey}}"

func TestSendRendersAndClassifies(t *testing.T) {
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, `{"messages":[{"id":"gw-1","status":"queued"}],"ok":true}`)
		case "/refused":
			io.WriteString(w, `{"messages":[{"status":"rejected"}],"ok":false}`)
		case "/notjson":
			io.WriteString(w, "OK")
		case "/slow":
			<-r.Context().Done()
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			var code int
			fmt.Sscanf(r.URL.Path, "/status/%d", &code)
			if code == 429 {
				w.Header().Set("Retry-After", "7")
			}
			w.WriteHeader(code)
		}
	})
	ctx := context.Background()
	base := `"timeout":"1s","auth":"bearer","token":"t0k3n","headers":{"X-Api-Key":"k"},"from":"Shop"`
	for _, tc := range []struct {
		name, config string
		wantID       string
		kind         error
		inErr        string
	}{
		{"json body, id path", `{"url":"` + gw.URL + `/ok",` + base + `,"provider_id_json_path":"messages.0.id","success_json_path":"ok"}`, "gw-1", nil, ""},
		{"success value", `{"url":"` + gw.URL + `/ok",` + base + `,"success_json_path":"messages.0.status","success_json_value":"queued"}`, "key-1", nil, ""},
		{"refused in JSON", `{"url":"` + gw.URL + `/refused",` + base + `,"success_json_path":"ok"}`, "", sdk.ErrPermanent, "ok is not a success"},
		{"answer not JSON", `{"url":"` + gw.URL + `/notjson",` + base + `,"success_json_path":"ok"}`, "", sdk.ErrPermanent, "not JSON"},
		{"no id in answer", `{"url":"` + gw.URL + `/notjson",` + base + `,"provider_id_json_path":"id"}`, "key-1", nil, ""},
		{"408", `{"url":"` + gw.URL + `/status/408",` + base + `}`, "", sdk.ErrRetryable, "408"},
		{"429", `{"url":"` + gw.URL + `/status/429",` + base + `}`, "", sdk.ErrRetryable, "retry after 7s"},
		{"500", `{"url":"` + gw.URL + `/status/500",` + base + `}`, "", sdk.ErrRetryable, "500"},
		{"400", `{"url":"` + gw.URL + `/status/400",` + base + `}`, "", sdk.ErrPermanent, "400"},
		{"403", `{"url":"` + gw.URL + `/status/403",` + base + `}`, "", sdk.ErrPermanent, "403"},
		{"202 outside success_status", `{"url":"` + gw.URL + `/status/202",` + base + `,"success_status":"200"}`, "", sdk.ErrPermanent, "202"},
		{"302 not followed", `{"url":"` + gw.URL + `/moved",` + base + `}`, "", sdk.ErrPermanent, "302"},
		{"timeout", `{"url":"` + gw.URL + `/slow",` + base + `}`, "", sdk.ErrRetryable, "no answer within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.Start(t, New(), json.RawMessage(tc.config))
			id, err := h.Channel.Send(ctx, sms("key-1", "+49 151 1234-5678", injection))
			if tc.kind == nil {
				if err != nil || id != tc.wantID {
					t.Fatalf("Send = %q, %v; want %q", id, err, tc.wantID)
				}
			} else if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("Send = %q, %v; want %v containing %q", id, err, tc.kind, tc.inErr)
			}
			r, body := gw.last()
			if r.Header.Get("Authorization") != "Bearer t0k3n" || r.Header.Get("X-Api-Key") != "k" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", r.Header)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			want := map[string]string{"to": "+4915112345678", "from": "Shop", "text": injection, "reference": "key-1"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("body %v, want %v", got, want)
			}
		})
	}
}

func TestSendFormats(t *testing.T) {
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {})
	ctx := context.Background()
	for _, tc := range []struct {
		name, config string
		check        func(r *http.Request, body string) error
	}{
		{"GET query", `{"url":"` + gw.URL + `/send?to={{urlquery .To}}&text={{urlquery .Text}}&ref={{urlquery .IdempotencyKey}}","method":"GET"}`,
			func(r *http.Request, body string) error {
				q := r.URL.Query()
				if r.Method != "GET" || len(q) != 3 || q.Get("text") != injection || q.Get("to") != "+15550100200" || body != "" {
					return fmt.Errorf("%s %s %q", r.Method, r.URL, body)
				}
				return nil
			}},
		{"form", `{"url":"` + gw.URL + `/send","body_template":"to={{urlquery .To}}&text={{urlquery .Text}}","content_type":"application/x-www-form-urlencoded","auth":"basic","username":"u","password":"p:w"}`,
			func(r *http.Request, body string) error {
				q, _ := url.ParseQuery(body)
				u, p, _ := r.BasicAuth()
				if len(q) != 2 || q.Get("text") != injection || u != "u" || p != "p:w" {
					return fmt.Errorf("form %v, auth %q %q", q, u, p)
				}
				return nil
			}},
		{"xml", `{"url":"` + gw.URL + `/send","body_template":"<sms to=\"{{xml .To}}\"><text>{{xml .Text}}</text></sms>","content_type":"text/xml; charset=utf-8"}`,
			func(r *http.Request, body string) error {
				var v struct {
					To   string `xml:"to,attr"`
					Text string `xml:"text"`
				}
				if err := xml.Unmarshal([]byte(body), &v); err != nil || v.To != "+15550100200" || v.Text != injection {
					return fmt.Errorf("xml %q: %+v %v", body, v, err)
				}
				return nil
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.Start(t, New(), json.RawMessage(tc.config))
			if _, err := h.Channel.Send(ctx, sms("k", "+15550100200", injection)); err != nil {
				t.Fatal(err)
			}
			if err := tc.check(gw.last()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSendRefusesMessages(t *testing.T) {
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {})
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	ctx := context.Background()
	h := sdktest.Start(t, New(), json.RawMessage(`{"url":"`+gw.URL+`","max_length":200,"max_segments":2}`))
	for _, tc := range []struct {
		msg   *sdk.Message
		kind  error
		inErr string
	}{
		{sms("k", "", "hi"), sdk.ErrPermanent, "no phone"},
		{sms("k", "555-0100", "hi"), sdk.ErrPermanent, "E.164"},
		{sms("k", "+1 (555) 0100 200; DROP", "hi"), sdk.ErrPermanent, "E.164"},
		{sms("k", "+15550100200", " "), sdk.ErrPermanent, "text"},
		{sms("k", "+15550100200", strings.Repeat("a", 201)), sdk.ErrPermanent, "max_length"},
		{sms("k", "+15550100200", strings.Repeat("a", 153*2+1)), sdk.ErrPermanent, "max_length"},
		{sms("k", "+15550100200", strings.Repeat("😀", 70)), sdk.ErrPermanent, "3 UCS-2 segments"},
		{sms("k", "+15550100200", "bad \xff utf8"), sdk.ErrPermanent, "UTF-8"},
		{sms("", "+15550100200", "hi"), sdk.ErrInvalid, "idempotency"},
	} {
		if _, err := h.Channel.Send(ctx, tc.msg); !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.inErr) {
			t.Errorf("Send(%q, %q) = %v; want %v containing %q", tc.msg.GetRecipient().GetPhone(), clip(tc.msg.GetText(), 20), err, tc.kind, tc.inErr)
		}
	}
	if _, err := h.Channel.Send(ctx, sms("k", "0049 151 12345678", strings.Repeat("a", 200))); err != nil {
		t.Errorf("2 segments, 00-prefixed phone: %v", err)
	}
	h = sdktest.Start(t, New(), json.RawMessage(`{"url":"`+deadURL+`"}`))
	if _, err := h.Channel.Send(ctx, sms("k", "+15550100200", "hi")); !sdk.IsRetryable(err) {
		t.Errorf("connection refused: %v, want retryable", err)
	}
}

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		text string
		n    int
		enc  string
	}{
		{"", 1, "GSM-7"},
		{strings.Repeat("a", 160), 1, "GSM-7"},
		{strings.Repeat("a", 161), 2, "GSM-7"},
		{strings.Repeat("a", 306), 2, "GSM-7"},
		{strings.Repeat("a", 307), 3, "GSM-7"},
		{strings.Repeat("€", 80), 1, "GSM-7"}, // 160 septets
		{strings.Repeat("€", 81), 2, "GSM-7"},
		{"Grüße, Ñoño! @£$¥", 1, "GSM-7"},
		{"Ñandú", 1, "UCS-2"}, // ú is not in the GSM alphabet
		{strings.Repeat("ж", 70), 1, "UCS-2"},
		{strings.Repeat("ж", 71), 2, "UCS-2"},
		{strings.Repeat("😀", 35), 1, "UCS-2"}, // surrogate pairs: 70 units
		{strings.Repeat("😀", 36), 2, "UCS-2"},
	} {
		if n, enc := Segments(tc.text); n != tc.n || enc != tc.enc {
			t.Errorf("Segments(%d× %q) = %d %s, want %d %s", utf8.RuneCountInString(tc.text), clip(tc.text, 8), n, enc, tc.n, tc.enc)
		}
	}
}

func TestLookup(t *testing.T) {
	doc := decode(t, `{"messages":[{"id":"m1","n":12},{"id":7}],"ok":true,"a.b":1,"deep":{"x":{"y":null}}}`)
	for _, tc := range []struct {
		path, want string
		found      bool
	}{
		{"messages.0.id", "m1", true},
		{"messages.1.id", "7", true},
		{"messages.0.n", "12", true},
		{"ok", "true", true},
		{"messages.2.id", "", false},
		{"messages.-1.id", "", false},
		{"messages.x", "", false},
		{"ok.x", "", false},
		{"deep.x.y", "", true}, // null: found, not a scalar
		{"missing", "", false},
	} {
		path, _ := parsePath(tc.path)
		v, found := Lookup(doc, path)
		s, _ := scalarText(v)
		if found != tc.found || s != tc.want {
			t.Errorf("Lookup(%s) = %q %v, want %q %v", tc.path, s, found, tc.want, tc.found)
		}
	}
}

func decode(t testing.TB, s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func inbound(method, path, contentType, body string, headers ...string) *sdk.InboundRequest {
	r := &sdk.InboundRequest{Method: method, Path: path, Body: []byte(body)}
	if contentType != "" {
		r.Headers = append(r.Headers, &sdk.Header{Name: "Content-Type", Value: contentType})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, &sdk.Header{Name: headers[i], Value: headers[i+1]})
	}
	return r
}

func TestInbound(t *testing.T) {
	p := New().(*Plugin)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	h := sdktest.Start(t, p, json.RawMessage(`{"url":"https://gw.example/send","receipt_token":"`+token+`",
		"status_map":{"OK":"delivered","ZZ":"bounced"}}`))
	ctx := context.Background()
	q := "?token=" + token
	type want struct {
		types   string // interaction types, comma-separated
		keys    string
		consent int
	}
	for _, tc := range []struct {
		name string
		req  *sdk.InboundRequest
		kind error
		want want
	}{
		{"json receipt", inbound("POST", "/receipt"+q, "application/json", `{"id":"gw-1","status":"DELIVRD"}`), nil,
			want{"delivered", "sms:receipt:gw-1:delivered", 0}},
		{"form receipt, header token", inbound("POST", "/receipt", "application/x-www-form-urlencoded", "id=gw-2&status=UNDELIV", "X-Retain-Token", token), nil,
			want{"failed", "sms:receipt:gw-2:failed", 0}},
		{"GET receipt, bearer", inbound("GET", "/receipt?id=gw-3&status=delivered", "", "", "Authorization", "Bearer "+token), nil,
			want{"delivered", "sms:receipt:gw-3:delivered", 0}},
		{"batch with custom and ignored words", inbound("POST", "/receipt"+q, "application/json",
			`[{"id":"a","status":"ok"},{"id":"b","status":"ENROUTE"},{"id":"c","status":"whatever"},{"id":"d","status":"zz"}]`), nil,
			want{"delivered,bounced", "sms:receipt:a:delivered,sms:receipt:d:bounced", 0}},
		{"reply", inbound("POST", "/reply"+q, "application/json", `{"id":"mo-1","from":"4915112345678","text":"Thanks!"}`), nil,
			want{"replied", "sms:reply:mo-1", 0}},
		{"STOP", inbound("POST", "/reply"+q, "application/x-www-form-urlencoded", "from=%2B15550100200&text=Stop."), nil,
			want{"replied", "sms:reply:+15550100200:", 1}},
		{"unsubscribe lower case", inbound("POST", "/reply"+q, "", `{"from":"+15550100200","text":" unsubscribe "}`), nil,
			want{"replied", "sms:reply:+15550100200:", 1}},
		{"stop in a sentence is no stop", inbound("POST", "/reply"+q, "", `{"from":"+15550100200","text":"don't stop"}`), nil,
			want{"replied", "sms:reply:+15550100200:", 0}},
		{"no token", inbound("POST", "/receipt", "application/json", `{"id":"x","status":"DELIVRD"}`), sdk.ErrPermissionDenied, want{}},
		{"wrong token", inbound("POST", "/receipt?token=receipt-token-0123456788", "application/json", `{"id":"x","status":"DELIVRD"}`), sdk.ErrPermissionDenied, want{}},
		{"token prefix", inbound("POST", "/receipt?token=receipt", "application/json", `{"id":"x","status":"DELIVRD"}`), sdk.ErrPermissionDenied, want{}},
		{"malformed JSON", inbound("POST", "/receipt"+q, "application/json", `{"id":`), sdk.ErrInvalid, want{}},
		{"JSON not objects", inbound("POST", "/receipt"+q, "application/json", `[1,2]`), sdk.ErrInvalid, want{}},
		{"trailing JSON", inbound("POST", "/receipt"+q, "application/json", `{"id":"a","status":"ok"} {}`), sdk.ErrInvalid, want{}},
		{"receipt without status", inbound("POST", "/receipt"+q, "application/json", `{"id":"x"}`), sdk.ErrInvalid, want{}},
		{"receipt id too long", inbound("POST", "/receipt"+q, "application/json", `{"id":"`+strings.Repeat("x", 300)+`","status":"ok"}`), sdk.ErrInvalid, want{}},
		{"reply from no phone", inbound("POST", "/reply"+q, "application/json", `{"from":"shop","text":"hi"}`), sdk.ErrInvalid, want{}},
		{"unsupported type", inbound("POST", "/receipt"+q, "multipart/form-data; boundary=x", "--x--"), sdk.ErrInvalid, want{}},
		{"huge body", inbound("POST", "/receipt"+q, "application/json", `{"id":"`+strings.Repeat("x", 1<<20)+`"}`), sdk.ErrTooLarge, want{}},
		{"unknown path", inbound("POST", "/admin"+q, "", ""), sdk.ErrNotFound, want{}},
		{"PUT", inbound("PUT", "/receipt"+q, "", ""), nil, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := h.Channel.ParseInbound(ctx, tc.req)
			if tc.kind != nil {
				if !errors.Is(err, tc.kind) {
					t.Fatalf("err = %v, want %v", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types, keys []string
			for _, in := range r.GetInteractions() {
				types = append(types, in.GetType())
				keys = append(keys, in.GetIdempotencyKey())
				if in.GetChannel() != "sms" {
					t.Errorf("channel %q", in.GetChannel())
				}
			}
			if strings.Join(types, ",") != tc.want.types || !strings.HasPrefix(strings.Join(keys, ","), tc.want.keys) ||
				len(r.GetConsentChanges()) != tc.want.consent {
				t.Fatalf("got %v %v %d consent changes", types, keys, len(r.GetConsentChanges()))
			}
			for _, c := range r.GetConsentChanges() {
				if c.GetChannel() != "sms" || c.GetGranted() || c.GetCustomer().GetPhone() != "+15550100200" {
					t.Errorf("consent change %v", c)
				}
			}
		})
	}
	r, _ := h.Channel.ParseInbound(ctx, inbound("POST", "/reply"+q, "", `{"id":"mo-1","from":"4915112345678","text":"Thanks!"}`))
	if in := r.GetInteractions()[0]; in.GetCustomer().GetPhone() != "+4915112345678" || in.GetText() != "Thanks!" || !in.GetTime().AsTime().Equal(now) {
		t.Errorf("reply %v", in)
	}
	// A receipt names the message by provider id only: the host finds the customer.
	r, _ = h.Channel.ParseInbound(ctx, inbound("POST", "/receipt"+q, "application/json", `{"id":"gw-1","status":"DELIVRD"}`))
	if in := r.GetInteractions()[0]; in.GetProviderId() != "gw-1" || in.GetCustomer() != nil || in.GetProperties()["status"] != "DELIVRD" {
		t.Errorf("receipt %v", in)
	}

	// Custom field names, as JSON paths.
	h2 := sdktest.Start(t, New(), json.RawMessage(`{"url":"https://gw.example/send","receipt_token":"`+token+`",
		"receipt_id_field":"data.msgId","receipt_status_field":"data.state"}`))
	r, err := h2.Channel.ParseInbound(ctx, inbound("POST", "/receipt"+q, "application/json", `{"data":{"msgId":123,"state":"Delivered"}}`))
	if err != nil || len(r.GetInteractions()) != 1 || r.GetInteractions()[0].GetIdempotencyKey() != "sms:receipt:123:delivered" {
		t.Errorf("custom fields: %v %v", r, err)
	}
	// Without a token configured, inbound is refused.
	h3 := sdktest.Start(t, New(), json.RawMessage(`{"url":"https://gw.example/send"}`))
	if _, err := h3.Channel.ParseInbound(ctx, inbound("POST", "/receipt?token=", "", "")); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("no receipt_token: %v", err)
	}
}

func FuzzInbound(f *testing.F) {
	f.Add("/receipt", "application/json", []byte(`{"id":"a","status":"DELIVRD"}`), true)
	f.Add("/receipt?id=1&status=failed", "", []byte(nil), true)
	f.Add("/reply", "application/x-www-form-urlencoded", []byte("from=%2B15550100200&text=STOP"), true)
	f.Add("/reply", "", []byte(`[{"from":"15550100200","text":"x"},{"from":"1","text":"y"}]`), false)
	p := New().(*Plugin)
	if err := p.Configure(context.Background(), json.RawMessage(`{"url":"https://gw/x","receipt_token":"`+token+`"}`), nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, contentType string, body []byte, withToken bool) {
		req := inbound("POST", path, contentType, string(body))
		if withToken {
			req.Headers = append(req.Headers, &sdk.Header{Name: "X-Retain-Token", Value: token})
		}
		r, err := p.ParseInbound(context.Background(), req)
		if err != nil {
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if r.GetStatusCode() != 200 {
			return
		}
		_, rawQuery, _ := strings.Cut(path, "?")
		if q, _ := url.ParseQuery(rawQuery); !withToken && q.Get("token") != token {
			t.Fatal("accepted without the token")
		}
		for _, in := range r.GetInteractions() {
			k := in.GetIdempotencyKey()
			if !strings.HasPrefix(k, "sms:receipt:") && !strings.HasPrefix(k, "sms:reply:") || len(k) > 200 {
				t.Fatalf("idempotency key %q", k)
			}
		}
	})
}

// FuzzTemplates renders arbitrary text and keys through escaped templates
// of each format and checks the value comes back out intact.
func FuzzTemplates(f *testing.F) {
	f.Add(injection, "key-1")
	f.Add("\x00\x01\ufffe}", "k&=")
	f.Add("", "")
	ut, _ := parseTemplate("url", `https://gw/send?to={{urlquery .To}}&text={{urlquery .Text}}&ref={{urlquery .IdempotencyKey}}`)
	js, _ := parseTemplate("body", `{"text":{{json .Text}},"ref":{{json .IdempotencyKey}}}`)
	form, _ := parseTemplate("body", `text={{urlquery .Text}}&ref={{urlquery .IdempotencyKey}}`)
	x, _ := parseTemplate("body", `<sms ref="{{xml .IdempotencyKey}}"><text>{{xml .Text}}</text></sms>`)
	f.Fuzz(func(t *testing.T, text, key string) {
		d := Data{To: "+15550100200", Text: text, IdempotencyKey: key}
		u, err := render(ut, d)
		if err != nil {
			t.Fatal(err)
		}
		pu, err := url.Parse(u)
		if err != nil || pu.Query().Get("text") != text || pu.Query().Get("ref") != key || len(pu.Query()) != 3 {
			t.Fatalf("url %q: %v", u, err)
		}
		fb, _ := render(form, d)
		if q, err := url.ParseQuery(fb); err != nil || q.Get("text") != text || len(q) != 2 {
			t.Fatalf("form %q: %v", fb, err)
		}
		jb, _ := render(js, d)
		var jv map[string]string
		if err := json.Unmarshal([]byte(jb), &jv); err != nil || len(jv) != 2 {
			t.Fatalf("json %q: %v", jb, err)
		}
		if utf8.ValidString(text) && jv["text"] != text {
			t.Fatalf("json text %q, want %q", jv["text"], text)
		}
		xb, _ := render(x, d)
		var xv struct {
			Ref  string `xml:"ref,attr"`
			Text string `xml:"text"`
		}
		if err := xml.Unmarshal([]byte(xb), &xv); err != nil {
			t.Fatalf("xml %q: %v", xb, err)
		}
	})
}

// FuzzLookup walks arbitrary paths through arbitrary JSON.
func FuzzLookup(f *testing.F) {
	f.Add(`{"messages":[{"id":"m1"}]}`, "messages.0.id")
	f.Add(`[1,[2,[3]]]`, "1.1.0")
	f.Add(`{"a":{"":1}}`, "a.")
	f.Fuzz(func(t *testing.T, doc, path string) {
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		p, err := parsePath(path)
		if err != nil {
			return
		}
		got, found := Lookup(v, p)
		if !found && got != nil {
			t.Fatalf("not found but %v", got)
		}
		scalarText(got)
		truthy(got)
	})
}

// FuzzConfigureTemplate: any body_template either is refused as invalid
// or renders hostile text without changing the JSON shape; none panics
// or stalls.
func FuzzConfigureTemplate(f *testing.F) {
	f.Add(DefaultBodyTemplate)
	f.Add(`{"text":"{{.Text}}"}`)
	f.Add(`{{with .Text}}{{json .}}{{else}}null{{end}}`)
	f.Add(`{{printf "%0999999d" 1}}`)
	f.Fuzz(func(t *testing.T, tmpl string) {
		raw, _ := json.Marshal(map[string]string{"url": "https://gw/send", "body_template": tmpl})
		st, err := parseConfig(raw)
		if err != nil {
			if !errors.Is(err, sdk.ErrInvalid) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		b, err := render(st.body, Data{To: "+15550100200", Text: injection, IdempotencyKey: "k"})
		if err == nil && !json.Valid([]byte(b)) {
			t.Fatalf("accepted template %q renders invalid JSON %q", tmpl, b)
		}
	})
}

func TestSendRedirects(t *testing.T) {
	other := newGateway(t, func(w http.ResponseWriter, r *http.Request) {})
	gw := newGateway(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/new?"+r.URL.RawQuery, http.StatusFound)
		case "/away":
			http.Redirect(w, r, other.URL+"/new", http.StatusTemporaryRedirect)
		}
	})
	ctx := context.Background()
	for _, tc := range []struct {
		config string
		ok     bool
	}{
		{`{"url":"` + gw.URL + `/old?text={{urlquery .Text}}","method":"GET"}`, true}, // a GET keeps nothing to lose
		{`{"url":"` + gw.URL + `/old"}`, false},                                       // a POST would lose its body
		{`{"url":"` + gw.URL + `/away","auth":"bearer","token":"secret"}`, false},     // another host never sees the token
	} {
		h := sdktest.Start(t, New(), json.RawMessage(tc.config))
		_, err := h.Channel.Send(ctx, sms("k", "+15550100200", "hi"))
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, sdk.ErrPermanent)) {
			t.Errorf("%s: %v", tc.config, err)
		}
	}
	if r, _ := gw.last(); r.URL.Path == "/new" && r.Method != "GET" {
		t.Errorf("followed a POST redirect as %s", r.Method)
	}
	if r, _ := other.last(); r != nil {
		t.Error("a redirect took the request to another host")
	}
}
