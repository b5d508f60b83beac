package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Payload is the JSON body of every POST. ID is the message's idempotency
// key, also sent as the webhook-id header: it is the same on every retry,
// so a receiver drops duplicates by it.
type Payload struct {
	Type      string            `json:"type"` // "message"
	ID        string            `json:"id"`
	Timestamp string            `json:"timestamp"` // RFC 3339, this attempt
	Channel   string            `json:"channel"`
	Customer  PayloadCustomer   `json:"customer"`
	Subject   string            `json:"subject,omitempty"`
	Text      string            `json:"text,omitempty"`
	HTML      string            `json:"html,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"` // e.g. List-Unsubscribe
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// PayloadCustomer is the recipient as the host filled it in.
type PayloadCustomer struct {
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Locale string `json:"locale,omitempty"`
}

// maxResponse is how much of a receiver's answer is read (for its id); the
// rest is discarded so the connection can be reused.
const maxResponse = 64 << 10

// Sign returns the webhook-signature header value for one message:
// "v1," + base64(HMAC-SHA256(secret, id + "." + timestamp + "." + body)).
func Sign(secret []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// WebhookID is the webhook-id of a message: its idempotency key when that
// is printable ASCII of at most 200 bytes (what the host makes), else a
// digest of it, so the header is always valid and stable across retries.
func WebhookID(key string) string {
	if len(key) <= 200 && printable(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "msg_" + base64.RawURLEncoding.EncodeToString(sum[:24])
}

// Send POSTs msg and answers the receiver's id for it (the "id" of a JSON
// answer) or else the webhook-id.
func (p *Plugin) Send(ctx context.Context, m *sdk.Message) (string, error) {
	st := p.st.Load()
	if st == nil || !st.configured {
		return "", sdk.Retryablef("webhook channel is not configured yet (set url and secret)")
	}
	if m.GetIdempotencyKey() == "" {
		return "", sdk.Invalidf("message without idempotency key")
	}
	key := WebhookID(m.GetIdempotencyKey())
	target := st.url
	if addr := m.GetRecipient().GetAddress(); addr != "" && st.allowRecipientURL {
		u, err := parseTarget(addr)
		if err != nil {
			return "", sdk.Permanentf("recipient address %q: %v", clip(addr, 100), err)
		}
		target = u
	}
	if target == nil {
		return "", sdk.Permanentf("no URL: none configured and the recipient has no address")
	}
	now := p.now()
	rc := m.GetRecipient()
	channel := m.GetChannel()
	if channel == "" {
		channel = Name
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Payload{Type: "message", ID: key, Timestamp: now.UTC().Format(time.RFC3339), Channel: channel,
		Customer: PayloadCustomer{ID: rc.GetCustomerId(), Name: rc.GetName(), Email: rc.GetEmail(), Phone: rc.GetPhone(), Locale: rc.GetLocale()},
		Subject:  m.GetSubject(), Text: m.GetText(), HTML: m.GetHtml(), Headers: m.GetHeaders(), Metadata: m.GetMetadata()}); err != nil {
		// Only invalid UTF-8 could do this, and encoding/json replaces it.
		return "", sdk.Invalidf("encode message: %v", err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if len(body) > st.maxBody {
		return "", sdk.Permanentf("message is %d bytes as JSON; max_body is %d", len(body), st.maxBody)
	}
	ts := strconv.FormatInt(now.Unix(), 10)

	ctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return "", sdk.Permanentf("request to %s: %v", where(target), err)
	}
	for k, v := range st.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "retain-webhook/1.0")
	req.Header.Set("Webhook-Id", key)
	req.Header.Set("Webhook-Timestamp", ts)
	req.Header.Set("Webhook-Signature", Sign(st.secret, key, ts, body))
	resp, err := st.client.Do(req)
	if err != nil {
		return "", sdk.Retryablef("POST %s: %v", where(target), netReason(err, st.timeout))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	// Drain a little more so the connection goes back to the pool.
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	return classify(resp, answer, key, target)
}

// classify turns the receiver's answer into a provider id or an error of
// the right kind: 2xx is delivered; 408, 429 and 5xx may pass later; a
// redirect that was not followed and every other 4xx will not.
func classify(resp *http.Response, answer []byte, key string, target *url.URL) (string, error) {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return providerID(answer, key), nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return "", sdk.Retryablef("POST %s: %s%s%s", where(target), resp.Status, retryAfter(resp.Header.Get("Retry-After")), snippet(answer))
	case code >= 300 && code < 400:
		return "", sdk.Permanentf("POST %s: %s to %q not followed (only 307/308 to the same host are)%s",
			where(target), resp.Status, clip(resp.Header.Get("Location"), 200), snippet(answer))
	case code >= 400:
		return "", sdk.Permanentf("POST %s: %s%s", where(target), resp.Status, snippet(answer))
	}
	return "", sdk.Retryablef("POST %s: unexpected %s", where(target), resp.Status)
}

// providerID is the "id" of a JSON answer (a string or a number), or key.
func providerID(answer []byte, key string) string {
	var a struct {
		ID json.RawMessage `json:"id"`
	}
	if len(answer) == 0 || json.Unmarshal(answer, &a) != nil || len(a.ID) == 0 {
		return key
	}
	var s string
	if json.Unmarshal(a.ID, &s) != nil {
		var n json.Number
		if json.Unmarshal(a.ID, &n) != nil {
			return key
		}
		s = n.String()
	}
	if s == "" || len(s) > 256 || !printable(s) {
		return key
	}
	return s
}

// retryAfter renders a Retry-After header (seconds or an HTTP date) for
// the error message, so the outbox's log says when the receiver wants us.
func retryAfter(h string) string {
	if h == "" {
		return ""
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		return "; retry after " + (time.Duration(n) * time.Second).String()
	}
	if t, err := http.ParseTime(h); err == nil {
		return "; retry after " + t.UTC().Format(time.RFC3339)
	}
	return ""
}

// netReason says why a request failed without repeating the URL (which may
// carry a token in its query).
func netReason(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within " + timeout.String()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// where names a target for messages: scheme, host and path, without user
// information or query (secrets live there).
func where(u *url.URL) string { return u.Scheme + "://" + u.Host + u.EscapedPath() }

// snippet is the start of an answer body, made safe for a log line.
func snippet(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	s := strings.Map(func(r rune) rune {
		if r < 32 || r == 127 || r == 0xFFFD {
			return ' '
		}
		return r
	}, clip(string(b), 200))
	return ": " + strings.TrimSpace(s)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// printable: visible ASCII and inner spaces.
func printable(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 32 || s[i] > 126 {
			return false
		}
	}
	return true
}
