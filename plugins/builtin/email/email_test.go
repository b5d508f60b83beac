package email_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/retain-crm/retain/plugins/builtin/email"
	"github.com/retain-crm/retain/plugins/builtin/email/emailtest"
	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/plugins/sdk/sdktest"
)

const (
	from    = "news@shop.example"
	hookURL = "https://crm.example/hooks/email"
	secret  = "0123456789abcdef-test-secret"
)

// start runs the plugin in process (real gRPC) against srv; extra keys
// override the server's configuration.
func start(t testing.TB, srv *emailtest.Server, extra map[string]any) *sdktest.Harness {
	t.Helper()
	return sdktest.Start(t, email.New(), configJSON(t, srv, extra))
}

func configJSON(t testing.TB, srv *emailtest.Server, extra map[string]any) json.RawMessage {
	t.Helper()
	c := srv.Config(from)
	c["unsubscribe_secret"] = secret
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func message(key string) *sdk.Message {
	return &sdk.Message{IdempotencyKey: key, Channel: "email",
		Recipient: &sdk.Contact{CustomerId: "42", Name: "Ann Example", Email: "ann@example.org"},
		Subject:   "Spring sale", Text: "Hello Ann", Html: "<p>Hello <b>Ann</b></p>",
		Metadata: map[string]string{sdk.MetaHookURL: hookURL}}
}

// wantToken is the documented token format, computed independently.
func wantToken(sec, cid string) string {
	mac := hmac.New(sha256.New, []byte(sec))
	mac.Write([]byte(cid + "\x00email"))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

func TestSendDelivers(t *testing.T) {
	srv := emailtest.NewServer(t)
	h := start(t, srv, map[string]any{"from_name": "Shop, Inc.", "reply_to": "help@shop.example"})
	ctx := context.Background()
	id, err := h.Channel.Send(ctx, message("campaign:1:customer:42"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@shop.example>") || len(id) != len("<@shop.example>")+32 {
		t.Fatalf("provider id %q is not <32 hex@from-domain>", id)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	m := msgs[0]
	if m.MessageID != id || m.From != from || len(m.To) != 1 || m.To[0] != "ann@example.org" {
		t.Fatalf("envelope/id: %+v (id %s)", m, id)
	}
	hdr := m.Header
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(hdr.Get("Subject"))
	fromH, _ := mail.ParseAddress(hdr.Get("From"))
	toH, _ := mail.ParseAddress(hdr.Get("To"))
	if subj != "Spring sale" || fromH == nil || fromH.Name != "Shop, Inc." || fromH.Address != from ||
		toH == nil || toH.Name != "Ann Example" || hdr.Get("Reply-To") != "<help@shop.example>" || hdr.Get("Date") == "" {
		t.Errorf("headers: subject %q from %v to %v reply-to %q date %q", subj, fromH, toH, hdr.Get("Reply-To"), hdr.Get("Date"))
	}
	if _, err := hdr.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	wantLU := "<" + hookURL + "/unsubscribe?c=42&t=" + wantToken(secret, "42") + ">"
	if got := hdr.Get("List-Unsubscribe"); got != wantLU {
		t.Errorf("List-Unsubscribe = %q, want %q", got, wantLU)
	}
	if got := hdr.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	parts := bodyParts(t, m)
	if len(parts) != 2 || parts["text/plain"] != "Hello Ann" || parts["text/html"] != "<p>Hello <b>Ann</b></p>" {
		t.Errorf("parts %q", parts)
	}

	// The same key again (a resend after a crash) carries the same
	// Message-ID; another key another one.
	id2, err := h.Channel.Send(ctx, message("campaign:1:customer:42"))
	if err != nil || id2 != id {
		t.Fatalf("resend: %q, %v; want %q", id2, err, id)
	}
	id3, err := h.Channel.Send(ctx, message("campaign:1:customer:43"))
	if err != nil || id3 == id {
		t.Fatalf("other key: %q, %v", id3, err)
	}
	if got := srv.MessageIDs(); got[id] != 2 || got[id3] != 1 || srv.Distinct() != 2 {
		t.Errorf("Message-IDs at the server: %v", got)
	}
	// Sequential sends reuse one connection.
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections for 3 sequential messages, want 1", n)
	}
}

// bodyParts maps each part's media type to its decoded text.
func bodyParts(t *testing.T, m emailtest.Message) map[string]string {
	t.Helper()
	pm, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	media, params, err := mime.ParseMediaType(pm.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(media, "multipart/") {
		out[media] = decodeQP(t, pm.Header.Get("Content-Transfer-Encoding"), pm.Body)
		return out
	}
	if media != "multipart/alternative" {
		t.Errorf("multipart kind %s, want alternative", media)
	}
	mr := multipart.NewReader(pm.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[pt] = decodeQP(t, p.Header.Get("Content-Transfer-Encoding"), p)
	}
}

func decodeQP(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.EqualFold(cte, "quoted-printable") {
		var out bytes.Buffer
		if _, err := io.Copy(&out, qpReader(b)); err != nil {
			t.Fatal(err)
		}
		b = out.Bytes()
	}
	return strings.TrimRight(string(b), "\r\n")
}

func TestSendBodies(t *testing.T) {
	srv := emailtest.NewServer(t)
	h := start(t, srv, nil)
	for _, tc := range []struct {
		name, text, html string
		want             map[string]string
	}{
		{"text only", "just text", "", map[string]string{"text/plain": "just text"}},
		{"html only", "", "<p>only html</p>", map[string]string{"text/html": "<p>only html</p>"}},
		{"both", "t", "<i>h</i>", map[string]string{"text/plain": "t", "text/html": "<i>h</i>"}},
		{"non-ascii", "Grüße, 日本", "", map[string]string{"text/plain": "Grüße, 日本"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			m := message("bodies:" + tc.name)
			m.Text, m.Html = tc.text, tc.html
			if _, err := h.Channel.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := bodyParts(t, srv.Messages()[0])
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("parts %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSendHeaders(t *testing.T) {
	srv := emailtest.NewServer(t)
	h := start(t, srv, nil)
	ctx := context.Background()
	send := func(t *testing.T, m *sdk.Message) mail.Header {
		t.Helper()
		srv.Reset()
		if _, err := h.Channel.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		return srv.Messages()[0].Header
	}
	t.Run("custom headers pass", func(t *testing.T) {
		m := message("h1")
		m.Headers = map[string]string{"X-Campaign": "spring", "precedence": "bulk", "In-Reply-To": "<a@b>"}
		hdr := send(t, m)
		if hdr.Get("X-Campaign") != "spring" || hdr.Get("Precedence") != "bulk" || hdr.Get("In-Reply-To") != "<a@b>" {
			t.Errorf("custom headers lost: %v", hdr)
		}
	})
	t.Run("one-click link replaces the sender's", func(t *testing.T) {
		m := message("h2")
		m.Headers = map[string]string{"List-Unsubscribe": "<mailto:u@x>"}
		hdr := send(t, m)
		if got := hdr["List-Unsubscribe"]; len(got) != 1 || !strings.Contains(got[0], "/unsubscribe?c=42&t=") {
			t.Errorf("List-Unsubscribe %q", got)
		}
	})
	t.Run("no hook URL: the sender's header passes, no one-click", func(t *testing.T) {
		m := message("h3")
		m.Metadata = nil
		m.Headers = map[string]string{"List-Unsubscribe": "<mailto:u@x>"}
		hdr := send(t, m)
		if hdr.Get("List-Unsubscribe") != "<mailto:u@x>" || hdr.Get("List-Unsubscribe-Post") != "" {
			t.Errorf("got %q / %q", hdr.Get("List-Unsubscribe"), hdr.Get("List-Unsubscribe-Post"))
		}
	})
	t.Run("no customer id: no link", func(t *testing.T) {
		m := message("h4")
		m.Recipient.CustomerId = ""
		if hdr := send(t, m); hdr.Get("List-Unsubscribe") != "" {
			t.Errorf("List-Unsubscribe %q without a customer", hdr.Get("List-Unsubscribe"))
		}
	})
	t.Run("http hook: link without one-click post", func(t *testing.T) {
		m := message("h5")
		m.Metadata[sdk.MetaHookURL] = "http://localhost:8080/hooks/email/"
		hdr := send(t, m)
		if !strings.HasPrefix(hdr.Get("List-Unsubscribe"), "<http://localhost:8080/hooks/email/unsubscribe?c=42&t=") ||
			hdr.Get("List-Unsubscribe-Post") != "" {
			t.Errorf("got %q / %q", hdr.Get("List-Unsubscribe"), hdr.Get("List-Unsubscribe-Post"))
		}
	})
	for _, bad := range []string{"https://x.example/h>\r\nBcc: evil@x", "javascript:alert(1)", "https://x/h?q=1", "//nohost"} {
		t.Run("hostile hook URL "+bad, func(t *testing.T) {
			m := message("h6")
			m.Metadata[sdk.MetaHookURL] = bad
			if hdr := send(t, m); hdr.Get("List-Unsubscribe") != "" || hdr.Get("Bcc") != "" {
				t.Errorf("List-Unsubscribe %q Bcc %q", hdr.Get("List-Unsubscribe"), hdr.Get("Bcc"))
			}
		})
	}
	t.Run("subject with a line break stays one header", func(t *testing.T) {
		m := message("h7")
		m.Subject = "hi\r\nBcc: evil@example.com"
		if hdr := send(t, m); hdr.Get("Bcc") != "" || len(srv.Messages()[0].To) != 1 {
			t.Errorf("subject injected a header: %v", hdr)
		}
	})
}

func TestSendRefusals(t *testing.T) {
	srv := emailtest.NewServer(t)
	h := start(t, srv, nil)
	for _, tc := range []struct {
		name string
		edit func(m *sdk.Message)
		kind error
	}{
		{"no idempotency key", func(m *sdk.Message) { m.IdempotencyKey = "" }, sdk.ErrInvalid},
		{"no recipient", func(m *sdk.Message) { m.Recipient = nil }, sdk.ErrPermanent},
		{"no e-mail", func(m *sdk.Message) { m.Recipient.Email = "" }, sdk.ErrPermanent},
		{"bad e-mail", func(m *sdk.Message) { m.Recipient.Email = "not an address" }, sdk.ErrPermanent},
		{"e-mail with name", func(m *sdk.Message) { m.Recipient.Email = "Eve <eve@x.example>" }, sdk.ErrPermanent},
		{"e-mail with CRLF", func(m *sdk.Message) { m.Recipient.Email = "a@x.example\r\nRCPT TO:<b@y>" }, sdk.ErrPermanent},
		{"no body", func(m *sdk.Message) { m.Text, m.Html = "", "" }, sdk.ErrInvalid},
		{"header From", func(m *sdk.Message) { m.Headers = map[string]string{"From": "ceo@bank.example"} }, sdk.ErrInvalid},
		{"header bcc", func(m *sdk.Message) { m.Headers = map[string]string{"bcc": "x@y.example"} }, sdk.ErrInvalid},
		{"header Message-ID", func(m *sdk.Message) { m.Headers = map[string]string{"Message-ID": "<x@y>"} }, sdk.ErrInvalid},
		{"header Date", func(m *sdk.Message) { m.Headers = map[string]string{"Date": "x"} }, sdk.ErrInvalid},
		{"header Content-Type", func(m *sdk.Message) { m.Headers = map[string]string{"content-type": "text/html"} }, sdk.ErrInvalid},
		{"header Content-Disposition", func(m *sdk.Message) { m.Headers = map[string]string{"Content-Disposition": "x"} }, sdk.ErrInvalid},
		{"header name with colon", func(m *sdk.Message) { m.Headers = map[string]string{"X-A: b\r\nBcc": "x"} }, sdk.ErrInvalid},
		{"header name with space", func(m *sdk.Message) { m.Headers = map[string]string{"X A": "x"} }, sdk.ErrInvalid},
		{"header value CRLF", func(m *sdk.Message) { m.Headers = map[string]string{"X-A": "b\r\nBcc: evil@x"} }, sdk.ErrInvalid},
		{"header value LF", func(m *sdk.Message) { m.Headers = map[string]string{"X-A": "b\nBcc: evil@x"} }, sdk.ErrInvalid},
		{"header value NUL", func(m *sdk.Message) { m.Headers = map[string]string{"X-A": "b\x00"} }, sdk.ErrInvalid},
		{"header value huge", func(m *sdk.Message) { m.Headers = map[string]string{"X-A": strings.Repeat("a", 5000)} }, sdk.ErrInvalid},
		{"too many headers", func(m *sdk.Message) {
			m.Headers = map[string]string{}
			for i := range 60 {
				m.Headers[fmt.Sprintf("X-H%d", i)] = "v"
			}
		}, sdk.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := message("refuse:" + tc.name)
			tc.edit(m)
			_, err := h.Channel.Send(context.Background(), m)
			if !errors.Is(err, tc.kind) {
				t.Errorf("err %v, want %v", err, tc.kind)
			}
		})
	}
	if n := srv.Count(); n != 0 {
		t.Errorf("server got %d messages from refused sends", n)
	}
}

func TestSendErrorClassification(t *testing.T) {
	srv := emailtest.NewServer(t)
	h := start(t, srv, nil)
	ctx := context.Background()
	rcpt := func(enh smtp.EnhancedCode) func(int) {
		return func(code int) { srv.FailEnhanced(code, enh) }
	}
	for _, tc := range []struct {
		name      string
		fail      func(code int)
		code      int
		retryable bool
		bounced   bool
	}{
		{"RCPT 451", srv.Fail, 451, true, false},
		{"RCPT 452", srv.Fail, 452, true, false},
		{"RCPT 550", srv.Fail, 550, false, true},
		{"RCPT 553", srv.Fail, 553, false, true},
		{"RCPT 550 5.1.1 no such mailbox", rcpt(smtp.EnhancedCode{5, 1, 1}), 550, false, true},
		{"RCPT 550 5.2.1 mailbox disabled", rcpt(smtp.EnhancedCode{5, 2, 1}), 550, false, true},
		{"RCPT 550 5.7.1 policy", rcpt(smtp.EnhancedCode{5, 7, 1}), 550, false, false},
		{"RCPT 552 5.2.2 mailbox full", rcpt(smtp.EnhancedCode{5, 2, 2}), 552, false, false},
		{"RCPT 554", srv.Fail, 554, false, false},
		{"DATA 451", srv.FailData, 451, true, false},
		{"DATA 550", srv.FailData, 550, false, false},
		{"DATA 554", srv.FailData, 554, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fail(tc.code)
			defer tc.fail(0)
			_, err := h.Channel.Send(ctx, message("classify:"+tc.name))
			if err == nil {
				t.Fatal("no error")
			}
			if sdk.IsRetryable(err) != tc.retryable {
				t.Errorf("%v: retryable = %v, want %v", err, sdk.IsRetryable(err), tc.retryable)
			}
			if !tc.retryable && !tc.bounced && !errors.Is(err, sdk.ErrPermanent) {
				t.Errorf("%v: want permanent", err)
			}
			// Through the real gRPC boundary a bounce stays a bounce.
			if errors.Is(err, sdk.ErrBounced) != tc.bounced {
				t.Errorf("%v: bounced = %v, want %v", err, errors.Is(err, sdk.ErrBounced), tc.bounced)
			}
			// The connection survives a refusal: the next message goes.
			tc.fail(0)
			if _, err := h.Channel.Send(ctx, message("after:"+tc.name)); err != nil {
				t.Errorf("send after a refusal: %v", err)
			}
		})
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("refusals cost %d connections, want 1", n)
	}
	if err := h.Plugin.Health(ctx); err != nil {
		t.Errorf("health after refusals: %v", err)
	}

	t.Run("server dropped the pooled connection", func(t *testing.T) {
		srv.DropConnections()
		time.Sleep(20 * time.Millisecond)
		if _, err := h.Channel.Send(ctx, message("after drop")); err != nil {
			t.Fatalf("a dead pooled connection must be replaced transparently: %v", err)
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv.Close()
		_, err := h.Channel.Send(ctx, message("down"))
		if !sdk.IsRetryable(err) {
			t.Fatalf("server down: %v, want retryable", err)
		}
		if err := h.Plugin.Health(ctx); err == nil {
			t.Error("health is fine with the server down")
		}
	})
}

func TestConnectionRefusedAndTimeout(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	cfg := func(extra string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"host":"127.0.0.1","port":%d,"security":"none","from":%q,"unsubscribe_secret":%q%s}`, port, from, secret, extra))
	}
	// A listener that never answers: the greeting times out.
	h := sdktest.Start(t, email.New(), cfg(`,"timeout_seconds":1`))
	start := time.Now()
	if _, err := h.Channel.Send(ctx, message("silent")); !sdk.IsRetryable(err) {
		t.Errorf("silent server: %v, want retryable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
	l.Close()
	if _, err := h.Channel.Send(ctx, message("refused")); !sdk.IsRetryable(err) {
		t.Errorf("connection refused: %v, want retryable", err)
	}
	// A context that ends while waiting for a connection.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Channel.Send(cctx, message("cancelled")); err == nil {
		t.Error("cancelled context sent")
	}
}

func TestTLSAndAuth(t *testing.T) {
	ctx := context.Background()
	t.Run("starttls", func(t *testing.T) {
		srv := emailtest.NewServer(t, emailtest.WithSTARTTLS(), emailtest.WithAuth("shop", "s3cret"))
		h := start(t, srv, nil)
		if _, err := h.Channel.Send(ctx, message("tls1")); err != nil {
			t.Fatal(err)
		}
		if srv.Count() != 1 {
			t.Fatal("not delivered")
		}
	})
	t.Run("implicit tls", func(t *testing.T) {
		srv := emailtest.NewServer(t, emailtest.WithImplicitTLS(), emailtest.WithAuth("shop", "s3cret"))
		h := start(t, srv, nil)
		if _, err := h.Channel.Send(ctx, message("tls2")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("certificate checked by default", func(t *testing.T) {
		srv := emailtest.NewServer(t, emailtest.WithSTARTTLS())
		h := start(t, srv, map[string]any{"tls_skip_verify": nil})
		if _, err := h.Channel.Send(ctx, message("tls3")); !sdk.IsRetryable(err) || srv.Count() != 0 {
			t.Fatalf("self-signed certificate accepted: %v", err)
		}
	})
	t.Run("starttls required", func(t *testing.T) {
		srv := emailtest.NewServer(t) // offers no STARTTLS
		h := start(t, srv, map[string]any{"security": "starttls", "tls_skip_verify": true})
		if _, err := h.Channel.Send(ctx, message("tls4")); !sdk.IsRetryable(err) || srv.Count() != 0 {
			t.Fatalf("sent in clear text although starttls was asked: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		srv := emailtest.NewServer(t, emailtest.WithSTARTTLS(), emailtest.WithAuth("shop", "s3cret"))
		h := start(t, srv, map[string]any{"password": "wrong"})
		if _, err := h.Channel.Send(ctx, message("tls5")); !sdk.IsRetryable(err) || srv.Count() != 0 {
			t.Fatalf("wrong password: %v (config errors are retryable: the message is fine)", err)
		}
	})
	t.Run("auth over plain loopback", func(t *testing.T) {
		srv := emailtest.NewServer(t, emailtest.WithAuth("shop", "s3cret"))
		h := start(t, srv, nil)
		if _, err := h.Channel.Send(ctx, message("tls6")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConcurrentSends(t *testing.T) {
	srv := emailtest.NewServer(t, emailtest.WithoutBodies())
	h := start(t, srv, map[string]any{"max_connections": 3})
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	ids := make(chan string, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id, err := h.Channel.Send(context.Background(), message(fmt.Sprintf("c:%d:%d", w, i)))
				if err != nil {
					errs <- err
				}
				ids <- id
			}
		}()
	}
	// Reconfigure in the middle: sends in flight finish on the old pool.
	time.Sleep(5 * time.Millisecond)
	if err := h.Plugin.Configure(context.Background(), configJSON(t, srv, map[string]any{"max_connections": 3}), h.Host); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if srv.Count() != workers*each || srv.Distinct() != workers*each || len(seen) != workers*each {
		t.Errorf("count %d distinct %d ids %d, want %d", srv.Count(), srv.Distinct(), len(seen), workers*each)
	}
	if n := srv.Connections(); n > 6 {
		t.Errorf("%d connections for two pools of 3", n)
	}
}

func TestSecretKeptInKV(t *testing.T) {
	srv := emailtest.NewServer(t)
	h := start(t, srv, map[string]any{"unsubscribe_secret": nil})
	sec := h.Host.KV["unsubscribe_secret"]
	if len(sec) != 32 {
		t.Fatalf("generated secret has %d bytes", len(sec))
	}
	ctx := context.Background()
	link := func() string {
		t.Helper()
		srv.Reset()
		if _, err := h.Channel.Send(ctx, message("kv")); err != nil {
			t.Fatal(err)
		}
		return srv.Messages()[0].Header.Get("List-Unsubscribe")
	}
	first := link()
	if !strings.Contains(first, wantToken(string(sec), "42")) {
		t.Errorf("link %s not signed with the kept secret", first)
	}
	// Configured again (a restart or an admin's edit): same secret.
	if err := h.Plugin.Configure(ctx, configJSON(t, srv, map[string]any{"unsubscribe_secret": nil}), h.Host); err != nil {
		t.Fatal(err)
	}
	if again := link(); again != first {
		t.Errorf("link changed after reconfiguring: %s vs %s", again, first)
	}
	// Without a kv grant and without a configured secret it refuses.
	err := email.New().Configure(ctx, configJSON(t, srv, map[string]any{"unsubscribe_secret": nil}), sdktest.NewHost(&sdk.Grants{}))
	if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "unsubscribe_secret") {
		t.Errorf("no kv: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	m, err := email.New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Required   []string
		Properties map[string]struct {
			Type      string
			WriteOnly bool
		}
	}
	if err := json.Unmarshal([]byte(m.GetConfigSchemaJson()), &s); err != nil {
		t.Fatal(err)
	}
	if m.GetName() != "email" || len(s.Properties) != 14 || !s.Properties["password"].WriteOnly ||
		!s.Properties["unsubscribe_secret"].WriteOnly || fmt.Sprint(s.Required) != "[host from]" {
		t.Errorf("manifest %v schema %+v", m, s)
	}
}
