package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/plugins/sdk/sdktest"
)

// The test vector published with the Standard Webhooks specification.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = "1614265330"
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var (
	outSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	inSecret  = "whsec_" + base64.StdEncoding.EncodeToString([]byte("inbound-secret-of-32-bytes-long!"))
)

func TestSignMatchesSpecVector(t *testing.T) {
	key, err := DecodeSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, specID, specTS, []byte(specBody)); got != specSig {
		t.Fatalf("Sign = %s, want %s", got, specSig)
	}
	ts, _ := strconv.ParseInt(specTS, 10, 64)
	if _, err := Verify(key, specID, specTS, "v1,bm90IGl0 "+specSig, []byte(specBody), time.Unix(ts+10, 0)); err != nil {
		t.Fatalf("Verify of the spec vector: %v", err)
	}
}

// verifyIndependently checks a request the way a receiver following the
// specification would, without the package's code.
func verifyIndependently(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("signature %q, want %q", h.Get("webhook-signature"), want)
}

func cfg(url string, extra string) json.RawMessage {
	s := fmt.Sprintf(`{"url":%q,"secret":%q,"inbound_secret":%q,"timeout":"1s"`, url, outSecret, inSecret)
	if extra != "" {
		s += "," + extra
	}
	return json.RawMessage(s + "}")
}

func TestConfigRefused(t *testing.T) {
	h := sdktest.Start(t, New(), nil) // {}: unconfigured, accepted
	ctx := context.Background()
	if err := h.Plugin.Health(ctx); err == nil {
		t.Error("Health of an unconfigured webhook: want an error")
	}
	if _, err := h.Channel.Send(ctx, &sdk.Message{IdempotencyKey: "k"}); !sdk.IsRetryable(err) {
		t.Errorf("Send unconfigured: %v, want retryable", err)
	}
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))
	for _, tc := range []struct{ config, field string }{
		{`[`, "configuration"},
		{`{"url":"http://x","secret":"` + outSecret + `","nope":1}`, "nope"},
		{`{"url":"http://x","secret":"` + outSecret + `"} {}`, "configuration"},
		{`{"url":"ftp://x","secret":"` + outSecret + `"}`, "url"},
		{`{"url":"http://","secret":"` + outSecret + `"}`, "url"},
		{`{"url":"::","secret":"` + outSecret + `"}`, "url"},
		{`{"url":"javascript:alert(1)","secret":"` + outSecret + `"}`, "url"},
		{`{"secret":"` + outSecret + `"}`, "url"},
		{`{"url":"http://x"}`, "secret"},
		{`{"url":"http://x","secret":"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`, "secret"},
		{`{"url":"http://x","secret":"whsec_!!!"}`, "secret"},
		{`{"url":"http://x","secret":"` + short + `"}`, "secret"},
		{`{"url":"http://x","secret":"` + outSecret + `","inbound_secret":"abc"}`, "inbound_secret"},
		{`{"url":"http://x","secret":"` + outSecret + `","timeout":"fast"}`, "timeout"},
		{`{"url":"http://x","secret":"` + outSecret + `","timeout":"1ms"}`, "timeout"},
		{`{"url":"http://x","secret":"` + outSecret + `","timeout":"1h"}`, "timeout"},
		{`{"url":"http://x","secret":"` + outSecret + `","max_body":10}`, "max_body"},
		{`{"url":"http://x","secret":"` + outSecret + `","max_body":"big"}`, "max_body"},
		{`{"url":"http://x","secret":"` + outSecret + `","headers":{"X-A":"1\r\nX-Evil: 2"}}`, "headers"},
		{`{"url":"http://x","secret":"` + outSecret + `","headers":{"Bad Name":"1"}}`, "headers"},
		{`{"url":"http://x","secret":"` + outSecret + `","headers":{"webhook-signature":"v1,x"}}`, "headers"},
		{`{"url":"http://x","secret":"` + outSecret + `","headers":{"Content-Type":"text/plain"}}`, "headers"},
		{`{"url":"http://x","secret":"` + outSecret + `","allow_recipient_url":"yes"}`, "allow_recipient_url"},
	} {
		err := h.Plugin.Configure(ctx, json.RawMessage(tc.config), nil)
		if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Configure(%s) = %v; want invalid naming %q", tc.config, err, tc.field)
		}
	}
	if err := h.Plugin.Configure(ctx, cfg("http://x", `"allow_recipient_url":true,"headers":{"X-Api-Key":"k"},"max_body":2048`), nil); err != nil {
		t.Errorf("good config refused: %v", err)
	}
	if err := h.Plugin.Health(ctx); err != nil {
		t.Errorf("Health configured: %v", err)
	}
	var m map[string]any
	d, _ := h.Plugin.Describe(ctx)
	if err := json.Unmarshal([]byte(d.GetConfigSchemaJson()), &m); err != nil {
		t.Errorf("schema is not JSON: %v", err)
	}
}

// receiver is an httptest server that records what arrives and answers
// with a scripted handler.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
}

func newReceiver(t *testing.T, answer http.HandlerFunc) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got, r.body = append(r.got, req), append(r.body, b)
		r.mu.Unlock()
		answer(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) last() (*http.Request, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return nil, nil
	}
	return r.got[len(r.got)-1], r.body[len(r.body)-1]
}

func message(key string) *sdk.Message {
	return &sdk.Message{IdempotencyKey: key, Channel: "webhook", Subject: "Hi", Text: "Hello \"Ann\" <b>&</b>\r\nX-Evil: 1",
		Html: "<p>Hello</p>", Headers: map[string]string{"List-Unsubscribe": "<https://x/u>"},
		Metadata:  map[string]string{sdk.MetaAttempt: "1", "campaign": "c1"},
		Recipient: &sdk.Contact{CustomerId: "42", Name: "Ann", Email: "ann@example.com", Phone: "+15550100", Locale: "en"}}
}

func TestSendSignsAndClassifies(t *testing.T) {
	other := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	var rcv *receiver
	rcv = newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok-id":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"rcv-7","status":"queued"}`)
		case "/ok-num":
			w.WriteHeader(202)
			io.WriteString(w, `{"id":12345}`)
		case "/ok-empty":
			w.WriteHeader(204)
		case "/ok-text":
			io.WriteString(w, "thanks")
		case "/slow":
			<-r.Context().Done()
		case "/same-307":
			http.Redirect(w, r, "/ok-id", http.StatusTemporaryRedirect)
		case "/same-302":
			http.Redirect(w, r, "/ok-id", http.StatusFound)
		case "/other-307":
			http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusPermanentRedirect)
		default:
			code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
			if code == 429 || code == 503 {
				w.Header().Set("Retry-After", "30")
			}
			w.WriteHeader(code)
			io.WriteString(w, "answer\x00\x1b[31m body")
		}
	})
	ctx := context.Background()
	for _, tc := range []struct {
		path   string
		wantID string
		kind   error // nil: success
		inErr  string
	}{
		{"/ok-id", "rcv-7", nil, ""},
		{"/ok-num", "12345", nil, ""},
		{"/ok-empty", "key-1", nil, ""},
		{"/ok-text", "key-1", nil, ""},
		{"/same-307", "rcv-7", nil, ""},
		{"/status/408", "", sdk.ErrRetryable, "408"},
		{"/status/429", "", sdk.ErrRetryable, "retry after 30s"},
		{"/status/500", "", sdk.ErrRetryable, "500"},
		{"/status/503", "", sdk.ErrRetryable, "retry after 30s"},
		{"/status/400", "", sdk.ErrPermanent, "400"},
		{"/status/401", "", sdk.ErrPermanent, "401"},
		{"/status/404", "", sdk.ErrPermanent, "404"},
		{"/status/410", "", sdk.ErrPermanent, "410"},
		{"/same-302", "", sdk.ErrPermanent, "not followed"},
		{"/other-307", "", sdk.ErrPermanent, "not followed"},
		{"/loop", "", sdk.ErrPermanent, "not followed"},
		{"/slow", "", sdk.ErrRetryable, "no answer within 1s"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			h := sdktest.Start(t, New(), cfg(rcv.URL+tc.path+"?token=secret-in-query", `"headers":{"X-Api-Key":"k1"}`))
			id, err := h.Channel.Send(ctx, message("key-1"))
			if tc.kind == nil {
				if err != nil || id != tc.wantID {
					t.Fatalf("Send = %q, %v; want %q", id, err, tc.wantID)
				}
			} else if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("Send = %q, %v; want %v containing %q", id, err, tc.kind, tc.inErr)
			}
			if err != nil && (strings.Contains(err.Error(), "secret-in-query") || strings.ContainsAny(err.Error(), "\x00\x1b")) {
				t.Errorf("error leaks the query or control bytes: %q", err)
			}
			req, body := rcv.last()
			if err := verifyIndependently(outSecret, req.Header, body); err != nil {
				t.Fatalf("receiver-side verification: %v", err)
			}
			for name, want := range map[string]string{"Webhook-Id": "key-1", "Content-Type": "application/json", "X-Api-Key": "k1"} {
				if got := req.Header.Get(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			if req.Header.Get("X-Evil") != "" {
				t.Error("message text became a header")
			}
			var p Payload
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != "message" || p.ID != "key-1" || p.Customer.ID != "42" || p.Customer.Email != "ann@example.com" ||
				p.Text != message("").Text || p.Metadata["campaign"] != "c1" || p.Headers["List-Unsubscribe"] == "" {
				t.Errorf("payload %+v", p)
			}
		})
	}
	if req, _ := other.last(); req != nil {
		t.Errorf("a redirect to another host delivered a signed message there: %s", req.URL)
	}
}

func TestSendTargets(t *testing.T) {
	ctx := context.Background()
	a := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	b := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()

	h := sdktest.Start(t, New(), cfg(a.URL, ""))
	m := message("k")
	m.Recipient.Address = b.URL
	if _, err := h.Channel.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if r, _ := b.last(); r != nil {
		t.Error("recipient address used though allow_recipient_url is false")
	}

	h = sdktest.Start(t, New(), cfg(a.URL, `"allow_recipient_url":true`))
	if _, err := h.Channel.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if r, _ := b.last(); r == nil {
		t.Error("recipient address not used")
	}
	for _, addr := range []string{"ftp://x/y", "not a url\x7f", "http://"} {
		m.Recipient.Address = addr
		if _, err := h.Channel.Send(ctx, m); !errors.Is(err, sdk.ErrPermanent) {
			t.Errorf("address %q: %v, want permanent", addr, err)
		}
	}
	h = sdktest.Start(t, New(), json.RawMessage(`{"allow_recipient_url":true,"secret":"`+outSecret+`"}`))
	if _, err := h.Channel.Send(ctx, message("k")); !errors.Is(err, sdk.ErrPermanent) {
		t.Errorf("no URL anywhere: %v, want permanent", err)
	}

	h = sdktest.Start(t, New(), cfg(deadURL, ""))
	if _, err := h.Channel.Send(ctx, message("k")); !sdk.IsRetryable(err) {
		t.Errorf("connection refused: %v, want retryable", err)
	}

	h = sdktest.Start(t, New(), cfg(a.URL, `"max_body":1024`))
	big := message("k")
	big.Text = strings.Repeat("x", 2000)
	if _, err := h.Channel.Send(ctx, big); !errors.Is(err, sdk.ErrPermanent) || !strings.Contains(err.Error(), "max_body") {
		t.Errorf("oversized: %v, want permanent naming max_body", err)
	}
	if _, err := h.Channel.Send(ctx, &sdk.Message{}); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("no key: %v", err)
	}
	// A key that is no valid header value still gets a stable webhook-id.
	odd := message("ключ\x01 with controls")
	if _, err := h.Channel.Send(ctx, odd); err != nil {
		t.Fatal(err)
	}
	req, body := a.last()
	if id := req.Header.Get("webhook-id"); id != WebhookID(odd.IdempotencyKey) || !strings.HasPrefix(id, "msg_") {
		t.Errorf("webhook-id %q", id)
	}
	if err := verifyIndependently(outSecret, req.Header, body); err != nil {
		t.Error(err)
	}
}

func TestSendConcurrent(t *testing.T) {
	var n atomic.Int64
	seen := sync.Map{}
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		seen.Store(r.Header.Get("webhook-id"), true)
	})
	h := sdktest.Start(t, New(), cfg(rcv.URL, ""))
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if _, err := h.Channel.Send(context.Background(), message("k"+strconv.Itoa(i))); err != nil {
				t.Error(err)
			}
		})
		if i == 100 { // reconfiguring while sending is safe
			h.Plugin.Configure(context.Background(), cfg(rcv.URL, ""), h.Host)
		}
	}
	wg.Wait()
	if n.Load() != 200 {
		t.Errorf("receiver got %d", n.Load())
	}
}

// signed builds an inbound request signed with secret at time ts.
func signed(secret, id string, ts time.Time, body string) *sdk.InboundRequest {
	key, _ := DecodeSecret(secret)
	t := strconv.FormatInt(ts.Unix(), 10)
	return &sdk.InboundRequest{Method: "POST", Path: "/events", Body: []byte(body), Headers: []*sdk.Header{
		{Name: "Webhook-Id", Value: id}, {Name: "webhook-timestamp", Value: t},
		{Name: "webhook-signature", Value: "v1,AAAA " + Sign(key, id, t, []byte(body))}}}
}

func TestInbound(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	p := New().(*Plugin)
	p.now = func() time.Time { return now }
	h := sdktest.Start(t, p, cfg("http://127.0.0.1:1", ""))
	ctx := context.Background()
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-of-32-bytes-long!"))
	delivered := `{"type":"delivered","message_key":"key-1","provider_id":"rcv-7","time":"2026-11-26T11:59:00Z"}`
	forged := signed(inSecret, "id-forged", now, delivered)
	forged.Body = []byte(strings.Replace(delivered, "delivered", "bounced", 1))
	sigless := signed(inSecret, "id-nosig", now, delivered)
	sigless.Headers = sigless.Headers[:2]
	getReq := signed(inSecret, "id-get", now, delivered)
	getReq.Method = "GET"
	elsewhere := signed(inSecret, "id-path", now, delivered)
	elsewhere.Path = "/../admin"

	for _, tc := range []struct {
		name    string
		req     *sdk.InboundRequest
		kind    error
		n       int // interactions
		consent int
	}{
		{"one event", signed(inSecret, "id-1", now, delivered), nil, 1, 0},
		{"array with unsubscribe", signed(inSecret, "id-2", now.Add(-4*time.Minute), `[
			{"type":"replied","customer":{"email":"ann@example.com"},"text":"thanks!"},
			{"type":"unsubscribed","customer":{"id":"42"},"channel":"telegram"},
			{"type":"unsubscribed","customer":{"phone":"+15550100"}}]`), nil, 3, 2},
		{"replayed id", signed(inSecret, "id-1", now, delivered), sdk.ErrPermissionDenied, 0, 0},
		{"forged body", forged, sdk.ErrPermissionDenied, 0, 0},
		{"wrong secret", signed(other, "id-3", now, delivered), sdk.ErrPermissionDenied, 0, 0},
		{"old timestamp", signed(inSecret, "id-4", now.Add(-6*time.Minute), delivered), sdk.ErrPermissionDenied, 0, 0},
		{"future timestamp", signed(inSecret, "id-5", now.Add(6*time.Minute), delivered), sdk.ErrPermissionDenied, 0, 0},
		{"no signature", sigless, sdk.ErrPermissionDenied, 0, 0},
		{"id with spaces", signed(inSecret, " ", now, delivered), sdk.ErrPermissionDenied, 0, 0},
		{"malformed JSON", signed(inSecret, "id-6", now, `{"type":`), sdk.ErrInvalid, 0, 0},
		{"unknown type", signed(inSecret, "id-7", now, `{"type":"purchase","message_key":"k"}`), sdk.ErrInvalid, 0, 0},
		{"no reference", signed(inSecret, "id-8", now, `{"type":"delivered","customer":{}}`), sdk.ErrInvalid, 0, 0},
		{"unsubscribe without customer", signed(inSecret, "id-9", now, `{"type":"unsubscribed","message_key":"k"}`), sdk.ErrInvalid, 0, 0},
		{"bad time", signed(inSecret, "id-10", now, `{"type":"delivered","message_key":"k","time":"yesterday"}`), sdk.ErrInvalid, 0, 0},
		{"bad channel", signed(inSecret, "id-11", now, `{"type":"unsubscribed","customer":{"id":"1"},"channel":"SMS!"}`), sdk.ErrInvalid, 0, 0},
		{"empty array", signed(inSecret, "id-12", now, `[]`), sdk.ErrInvalid, 0, 0},
		{"huge body", signed(inSecret, "id-13", now, `{"type":"delivered","message_key":"`+strings.Repeat("k", 1<<20)+`"}`), sdk.ErrTooLarge, 0, 0},
		{"unknown path", elsewhere, sdk.ErrNotFound, 0, 0},
		{"GET", getReq, nil, 0, 0},
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
			if len(r.GetInteractions()) != tc.n || len(r.GetConsentChanges()) != tc.consent {
				t.Fatalf("%d interactions, %d consent changes: %v", len(r.GetInteractions()), len(r.GetConsentChanges()), r)
			}
			for i, in := range r.GetInteractions() {
				if want := "webhook:" + sdk.HeaderValue(tc.req, "webhook-id") + ":" + strconv.Itoa(i); in.GetIdempotencyKey() != want || in.GetChannel() != "webhook" {
					t.Errorf("interaction %d: key %q channel %q", i, in.GetIdempotencyKey(), in.GetChannel())
				}
			}
		})
	}
	r, _ := h.Channel.ParseInbound(ctx, signed(inSecret, "id-x", now, delivered))
	if in := r.GetInteractions()[0]; in.GetMessageKey() != "key-1" || in.GetProviderId() != "rcv-7" || in.GetType() != "delivered" ||
		!in.GetTime().AsTime().Equal(now.Add(-time.Minute)) {
		t.Errorf("delivered interaction %v", in)
	}
	r, _ = h.Channel.ParseInbound(ctx, signed(inSecret, "id-y", now, `{"type":"unsubscribed","customer":{"id":"42"}}`))
	if c := r.GetConsentChanges()[0]; c.GetChannel() != "webhook" || c.GetGranted() || c.GetCustomer().GetId() != "42" {
		t.Errorf("consent change %v", c)
	}

	// Ids older than the tolerance are pruned; the ones still in the window stay.
	now = now.Add(3 * time.Minute)
	if _, err := h.Channel.ParseInbound(ctx, signed(inSecret, "id-late", now, delivered)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(8 * time.Minute)
	if _, err := h.Channel.ParseInbound(ctx, signed(inSecret, "id-new", now, delivered)); err != nil {
		t.Fatal(err)
	}
	kv := func(k string) bool { v, ok, _ := h.Host.KVGet(ctx, k); _ = v; return ok }
	if kv(seenPrefix+"id-1") || kv(seenPrefix+"id-2") || !kv(seenPrefix+"id-late") || !kv(seenPrefix+"id-new") {
		t.Errorf("pruning: kv %v", h.Host.KV)
	}

	// Without an inbound secret receipts are refused.
	h2 := sdktest.Start(t, New(), json.RawMessage(`{"url":"http://x","secret":"`+outSecret+`"}`))
	if _, err := h2.Channel.ParseInbound(ctx, signed(inSecret, "id-1", time.Now(), delivered)); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("no inbound secret: %v", err)
	}
}

func TestInboundConcurrentReplay(t *testing.T) {
	h := sdktest.Start(t, New(), cfg("http://127.0.0.1:1", ""))
	req := signed(inSecret, "same-id", time.Now(), `{"type":"delivered","message_key":"k"}`)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := h.Channel.ParseInbound(context.Background(), req); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d of 20 concurrent copies accepted, want 1", ok.Load())
	}
}

func FuzzParseInbound(f *testing.F) {
	f.Add([]byte(`{"type":"delivered","message_key":"k"}`), "id", true, int64(0))
	f.Add([]byte(`[{"type":"unsubscribed","customer":{"email":"a@b"}},{"type":"replied","provider_id":"p","text":"hi"}]`), "id2", true, int64(-299))
	f.Add([]byte(`{"type":"delivered","message_key":"k","time":"2026-01-01T00:00:00Z","properties":{"a":"b"}}`), "x", false, int64(400))
	f.Add([]byte(`[[[`), "", true, int64(0))
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, id string, sign bool, skew int64) {
		p := New().(*Plugin)
		p.now = func() time.Time { return now }
		host := sdktest.NewHost(&sdk.Grants{Capabilities: []string{sdk.CapKV}})
		if err := p.Configure(context.Background(), cfg("http://x", ""), host); err != nil {
			t.Fatal(err)
		}
		req := signed(inSecret, id, now.Add(time.Duration(skew)*time.Second), string(body))
		if !sign {
			req.Headers[2].Value = "v1," + base64.StdEncoding.EncodeToString(body)
		}
		r, err := p.ParseInbound(context.Background(), req)
		if err != nil {
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if !sign {
			t.Fatal("accepted without a valid signature")
		}
		if len(r.GetInteractions()) == 0 {
			t.Fatal("accepted with no interactions")
		}
		for i, in := range r.GetInteractions() {
			if in.GetIdempotencyKey() != "webhook:"+id+":"+strconv.Itoa(i) || !eventTypes[in.GetType()] {
				t.Fatalf("interaction %v", in)
			}
		}
		if _, err := p.ParseInbound(context.Background(), req); !errors.Is(err, sdk.ErrPermissionDenied) {
			t.Fatalf("replay accepted: %v", err)
		}
	})
}
