package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/plugins/sdk/sdktest"
)

// fakeNtfy imitates the real ntfy server (https://docs.ntfy.sh/publish/),
// which the test machine cannot reach: it records each publish and answers
// like ntfy — JSON with the message id, or an error status chosen by topic.
type fakeNtfy struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []published
}

type published struct {
	Topic, Body string
	Header      http.Header
}

// Topics that make the imitation fail, like ntfy would.
var failingTopics = map[string]int{
	"down": http.StatusServiceUnavailable, "limited": http.StatusTooManyRequests,
	"forbidden": http.StatusForbidden, "toolarge": http.StatusRequestEntityTooLarge,
	"crash": http.StatusInternalServerError, "timeout": http.StatusRequestTimeout,
}

func newFakeNtfy(t testing.TB) *fakeNtfy {
	f := &fakeNtfy{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		topic := strings.TrimPrefix(r.URL.Path, "/")
		if code, ok := failingTopics[topic]; ok {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"code":%d01,"http":%d,"error":"imitated failure"}`, code, code)
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, published{Topic: topic, Body: string(b), Header: r.Header.Clone()})
		n := len(f.reqs)
		f.mu.Unlock()
		fmt.Fprintf(w, `{"id":"msg%d","time":%d,"event":"message","topic":%q,"message":%q}`, n, time.Now().Unix(), topic, b)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeNtfy) published() []published {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]published(nil), f.reqs...)
}

func configJSON(server string, extra string) json.RawMessage {
	return json.RawMessage(`{"server":"` + server + `","topic_template":"retain-{{customer_id}}","token":"tk_secret"` + extra + `}`)
}

const hook = "https://crm.example.com/hooks/ntfy"

func message(key, customer string) *sdk.Message {
	return &sdk.Message{IdempotencyKey: key, Channel: Name, Subject: "Grüße, Ann", Text: "Your order has shipped.",
		Recipient: &sdk.Contact{CustomerId: customer, Name: "Ann"},
		Metadata:  map[string]string{sdk.MetaHookURL: hook, MetaTags: "package", MetaReplies: "Thanks|Where is it?"}}
}

// startPlugin runs the plugin in process over real gRPC, with sdktest's
// in-memory host granting what the manifest asks for.
func startPlugin(t *testing.T, ntfy *fakeNtfy, extra string) *sdktest.Harness {
	h := sdktest.Start(t, New(), configJSON(ntfy.URL, extra))
	h.Host.Customers["42"] = &sdk.Customer{Id: "42", Tags: []string{"vip"}}
	h.Host.Customers["43"] = &sdk.Customer{Id: "43"}
	return h
}

func TestSend(t *testing.T) {
	ntfy := newFakeNtfy(t)
	h := startPlugin(t, ntfy, `,"urgent_tag":"VIP"`)
	ctx := context.Background()

	id, err := h.Channel.Send(ctx, message("campaign:1:customer:42", "42"))
	if err != nil || id != "msg1" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	got := ntfy.published()
	if len(got) != 1 {
		t.Fatalf("%d publishes, want 1", len(got))
	}
	p := got[0]
	title, _ := new(mime.WordDecoder).DecodeHeader(p.Header.Get("Title"))
	for name, c := range map[string]struct{ got, want string }{
		"topic":         {p.Topic, "retain-42"},
		"body":          {p.Body, "Your order has shipped."},
		"title":         {title, "Grüße, Ann"},
		"priority":      {p.Header.Get("Priority"), "5"}, // customer 42 is tagged vip
		"tags":          {p.Header.Get("Tags"), "package"},
		"authorization": {p.Header.Get("Authorization"), "Bearer tk_secret"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", name, c.got, c.want)
		}
	}
	acts := p.Header.Get("Actions")
	if strings.Count(acts, "http, ") != 3 || !strings.Contains(acts, `"`+hook+"/reply?") {
		t.Errorf("Actions = %q, want two reply buttons and an unsubscribe button posting to the hook", acts)
	}

	// The host resends after a crash with the same key: the plugin answers
	// the same id and ntfy sees nothing new.
	if id2, err := h.Channel.Send(ctx, message("campaign:1:customer:42", "42")); err != nil || id2 != id {
		t.Errorf("resend = %q, %v, want %q", id2, err, id)
	}
	// A customer without the tag gets the configured priority.
	if _, err := h.Channel.Send(ctx, message("campaign:1:customer:43", "43")); err != nil {
		t.Fatal(err)
	}
	got = ntfy.published()
	if len(got) != 2 || got[1].Header.Get("Priority") != "3" {
		t.Errorf("publishes %d, second priority %q", len(got), got[len(got)-1].Header.Get("Priority"))
	}
	day := time.Now().UTC().Format(time.DateOnly)
	if c := string(h.Host.KV["count/"+day]); c != "2" {
		t.Errorf("daily count %q, want 2", c)
	}
	// An explicit address is the topic.
	m := message("direct", "")
	m.Recipient.Address = "my-phone"
	if _, err := h.Channel.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := ntfy.published(); got[len(got)-1].Topic != "my-phone" {
		t.Errorf("topic %q, want the address", got[len(got)-1].Topic)
	}
}

func TestSendErrorKinds(t *testing.T) {
	ntfy := newFakeNtfy(t)
	h := startPlugin(t, ntfy, "")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	down := sdktest.Start(t, New(), configJSON(closed.URL, ""))

	to := func(topic string) *sdk.Message {
		m := message("k-"+topic, "42")
		m.Recipient.Address = topic
		return m
	}
	noText := message("k-notext", "42")
	noText.Text = ""
	noCustomer := message("k-nocustomer", "")
	badReplies := message("k-replies", "42")
	badReplies.Metadata[MetaReplies] = "a|b|c"
	for _, tc := range []struct {
		name string
		ch   *sdk.ChannelClient
		m    *sdk.Message
		want error
	}{
		{"503", h.Channel, to("down"), sdk.ErrRetryable},
		{"429", h.Channel, to("limited"), sdk.ErrRetryable},
		{"500", h.Channel, to("crash"), sdk.ErrRetryable},
		{"408", h.Channel, to("timeout"), sdk.ErrRetryable},
		{"connection refused", down.Channel, message("k-down", "42"), sdk.ErrRetryable},
		{"403", h.Channel, to("forbidden"), sdk.ErrPermanent},
		{"413", h.Channel, to("toolarge"), sdk.ErrPermanent},
		{"address not a topic", h.Channel, to("no/such topic"), sdk.ErrPermanent},
		{"no text", h.Channel, noText, sdk.ErrPermanent},
		{"template without customer", h.Channel, noCustomer, sdk.ErrPermanent},
		{"three reply buttons", h.Channel, badReplies, sdk.ErrPermanent},
		{"no idempotency key", h.Channel, &sdk.Message{Text: "x", Recipient: &sdk.Contact{CustomerId: "1"}}, sdk.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.ch.Send(context.Background(), tc.m)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// A refused token shows on the plugins page (Health → degraded).
	if err := h.Plugin.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "refused the token") {
		t.Errorf("Health after a 403 = %v", err)
	}
}

func TestConfigureRefusesBadConfig(t *testing.T) {
	ntfy := newFakeNtfy(t)
	h := startPlugin(t, ntfy, "")
	for _, tc := range []struct{ conf, field string }{
		{`{}`, "topic_template"},
		{`{"topic_template":"a b"}`, "topic_template"},
		{`{"topic_template":"t-{{name}}"}`, "topic_template"},
		{`{"topic_template":"t","server":"ftp://x"}`, "server"},
		{`{"topic_template":"t","server":"not a url"}`, "server"},
		{`{"topic_template":"t","priority":9}`, "priority"},
		{`{"topic_template":"t","priority":"high"}`, "priority"},
		{`{"topic_template":"t","daily_limit":-1}`, "daily_limit"},
		{`{"topic_template":"t","token":"a\nb"}`, "token"},
		{`{"topic_template":"t","unsubscribe_label":"Stop, now"}`, "unsubscribe_label"},
		{`{"topic_template":"t","colour":"red"}`, "colour"},
	} {
		err := h.Plugin.Configure(context.Background(), json.RawMessage(tc.conf), h.Host)
		if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want invalid naming %s", tc.conf, err, tc.field)
		}
	}
	if err := h.Plugin.Configure(context.Background(), json.RawMessage(`{"topic_template":"alerts"}`), h.Host); err != nil {
		t.Errorf("minimal configuration: %v", err)
	}
}

// Without the grants an admin did not approve, the plugin still sends but
// says what it cannot do; a setting that needs a missing grant is refused.
func TestWithoutGrants(t *testing.T) {
	ntfy := newFakeNtfy(t)
	h := startPlugin(t, ntfy, "")
	h.Host.Grants = &sdk.Grants{} // nothing approved
	ctx := context.Background()
	if err := h.Plugin.Configure(ctx, configJSON(ntfy.URL, `,"urgent_tag":"vip"`), h.Host); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Channel.Send(ctx, message("k1", "42")); err != nil {
		t.Fatal(err)
	}
	p := ntfy.published()[0]
	if p.Header.Get("Actions") != "" || p.Header.Get("Priority") != "3" {
		t.Errorf("without grants: actions %q priority %q", p.Header.Get("Actions"), p.Header.Get("Priority"))
	}
	err := h.Plugin.Health(ctx)
	if err == nil || !strings.Contains(err.Error(), `"kv" not approved`) || !strings.Contains(err.Error(), `"tags" not approved`) {
		t.Errorf("Health = %v", err)
	}
	err = h.Plugin.Configure(ctx, configJSON(ntfy.URL, `,"daily_limit":10`), h.Host)
	if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "daily_limit") {
		t.Errorf("daily_limit without kv: %v", err)
	}
}

func TestDailyLimit(t *testing.T) {
	ntfy := newFakeNtfy(t)
	h := startPlugin(t, ntfy, `,"daily_limit":2`)
	ctx := context.Background()
	for i := range 3 {
		_, err := h.Channel.Send(ctx, message(fmt.Sprint("k", i), "42"))
		if i < 2 && err != nil || i == 2 && !errors.Is(err, sdk.ErrRetryable) {
			t.Errorf("send %d: %v", i, err)
		}
	}
	if n := len(ntfy.published()); n != 2 {
		t.Errorf("%d published, want 2", n)
	}
}

// buttons sends a message and returns its buttons' paths below the hook.
func buttons(t *testing.T, h *sdktest.Harness, key string) []string {
	t.Helper()
	ntfy := newFakeNtfy(t)
	if err := h.Plugin.Configure(context.Background(), configJSON(ntfy.URL, ""), h.Host); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Channel.Send(context.Background(), message(key, "42")); err != nil {
		t.Fatal(err)
	}
	return buttonPaths(t, ntfy.published()[0].Header.Get("Actions"))
}

func buttonPaths(t testing.TB, actions string) []string {
	var out []string
	for _, a := range strings.Split(actions, "; ") {
		f := strings.Split(a, `"`)
		if len(f) < 4 || !strings.HasPrefix(f[3], hook) {
			t.Fatalf("button %q", a)
		}
		out = append(out, strings.TrimPrefix(f[3], hook))
	}
	return out
}

func TestParseInbound(t *testing.T) {
	h := startPlugin(t, newFakeNtfy(t), "")
	ctx := context.Background()
	paths := buttons(t, h, "campaign:7:customer:42")
	if len(paths) != 3 {
		t.Fatalf("buttons %v", paths)
	}
	post := func(path string) (*sdk.InboundResponse, error) {
		return h.Channel.ParseInbound(ctx, &sdk.InboundRequest{Method: "POST", Path: path, RemoteAddr: "203.0.113.9:5000"})
	}
	r, err := post(paths[1]) // "Where is it?"
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetInteractions()) != 1 {
		t.Fatalf("interactions %v", r.GetInteractions())
	}
	in := r.GetInteractions()[0]
	if in.GetType() != sdk.TypeReplied || in.GetText() != "Where is it?" || in.GetMessageKey() != "campaign:7:customer:42" || in.GetIdempotencyKey() == "" {
		t.Errorf("reply interaction %v", in)
	}
	// The same tap again carries the same idempotency key: the host stores it once.
	if r2, _ := post(paths[1]); r2.GetInteractions()[0].GetIdempotencyKey() != in.GetIdempotencyKey() {
		t.Errorf("replayed tap has a new idempotency key")
	}
	r, err = post(paths[2])
	if err != nil {
		t.Fatal(err)
	}
	cc := r.GetConsentChanges()
	if len(cc) != 1 || cc[0].GetGranted() || cc[0].GetChannel() != Name || cc[0].GetCustomer().GetId() != "42" ||
		r.GetInteractions()[0].GetType() != sdk.TypeUnsubscribed {
		t.Errorf("unsubscribe: %v", r)
	}

	forged := strings.Replace(paths[0], "t=Thanks", "t=Refund", 1)
	otherCustomer := strings.Replace(paths[2], "c=42", "c=43", 1)
	for _, tc := range []struct {
		name, method, path string
		want               error
	}{
		{"forged label", "POST", forged, sdk.ErrPermissionDenied},
		{"other customer", "POST", otherCustomer, sdk.ErrPermissionDenied},
		{"no signature", "POST", "/reply?a=reply&k=x&c=42&t=Yes", sdk.ErrPermissionDenied},
		{"signature not base64", "POST", "/reply?a=reply&k=x&c=42&t=Yes&s=!!!", sdk.ErrPermissionDenied},
		{"GET", "GET", paths[0], sdk.ErrInvalid},
		{"unknown action", "POST", "/reply?a=delete&k=x&s=abc", sdk.ErrInvalid},
		{"no key", "POST", "/reply?a=reply", sdk.ErrInvalid},
		{"other route", "POST", "/events", sdk.ErrNotFound},
		{"bad escape", "POST", "/reply?%zz", sdk.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := h.Channel.ParseInbound(ctx, &sdk.InboundRequest{Method: tc.method, Path: tc.path})
			if !errors.Is(err, tc.want) {
				t.Errorf("%s %s = %v, %v; want %v", tc.method, tc.path, r, err, tc.want)
			}
		})
	}
}

// FuzzParseInbound: whatever arrives at /hooks/ntfy/..., the plugin never
// panics and accepts only what it signed.
func FuzzParseInbound(f *testing.F) {
	p := New()
	host := sdktest.NewHost(&sdk.Grants{Capabilities: []string{sdk.CapKV}})
	if err := p.Configure(context.Background(), json.RawMessage(`{"topic_template":"t-{{customer_id}}"}`), host); err != nil {
		f.Fatal(err)
	}
	st := p.st.Load()
	f.Add("POST", st.buttonURL("", "reply", "k1", "42", "Yes")) // a valid tap
	f.Add("POST", "/reply?a=unsubscribe&k=k1&c=42&t=&s=AAAA")
	f.Add("GET", "/reply")
	f.Add("POST", "/../reply?a=reply")
	f.Fuzz(func(t *testing.T, method, path string) {
		r, err := p.ParseInbound(context.Background(), &sdk.InboundRequest{Method: method, Path: path})
		if err != nil {
			return
		}
		u, _ := url.Parse(path)
		q := u.Query()
		if q.Get("s") != st.sign(q.Get("a"), q.Get("k"), q.Get("c"), q.Get("t")) || len(r.GetInteractions()) != 1 {
			t.Fatalf("accepted %s %q: %v", method, path, r)
		}
	})
}

// The host calls Send from several delivery workers at once.
func TestSendConcurrently(t *testing.T) {
	ntfy := newFakeNtfy(t)
	h := startPlugin(t, ntfy, `,"urgent_tag":"vip","daily_limit":1000`)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := h.Channel.Send(context.Background(), message(fmt.Sprint("c", i), "42")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	day := time.Now().UTC().Format(time.DateOnly)
	if n, c := len(ntfy.published()), string(h.Host.KV["count/"+day]); n != 20 || c != "20" {
		t.Errorf("published %d, count %q; want 20", n, c)
	}
}
