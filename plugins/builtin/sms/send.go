package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/retain-crm/retain/plugins/sdk"
)

const maxAnswer = 256 << 10

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// NormalizePhone returns an E.164 number: spaces, dashes, dots and
// brackets dropped, a leading 00 read as +. ok is false when the result is
// not E.164.
func NormalizePhone(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -.()\t", r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if rest, ok := strings.CutPrefix(s, "00"); ok {
		s = "+" + rest
	}
	return s, e164.MatchString(s)
}

// Send renders the request for msg, sends it and applies the success rule.
// The provider id is the value at provider_id_json_path, or else the
// idempotency key.
func (p *Plugin) Send(ctx context.Context, m *sdk.Message) (string, error) {
	st := p.st.Load()
	if st == nil || !st.configured {
		return "", sdk.Retryablef("sms channel is not configured yet (set the gateway url)")
	}
	if m.GetIdempotencyKey() == "" {
		return "", sdk.Invalidf("message without idempotency key")
	}
	to, ok := NormalizePhone(m.GetRecipient().GetPhone())
	if m.GetRecipient().GetPhone() == "" {
		return "", sdk.Permanentf("the recipient has no phone number")
	}
	if !ok {
		return "", sdk.Permanentf("recipient phone %q is not an E.164 number (+ and 7 to 15 digits)", clip(m.GetRecipient().GetPhone(), 40))
	}
	text := m.GetText()
	if strings.TrimSpace(text) == "" {
		return "", sdk.Permanentf("an SMS needs a text body")
	}
	if !utf8.ValidString(text) {
		return "", sdk.Permanentf("text is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(text); st.maxLength > 0 && n > st.maxLength {
		return "", sdk.Permanentf("text is %d characters; max_length is %d", n, st.maxLength)
	}
	if st.maxSegments > 0 {
		if n, enc := Segments(text); n > st.maxSegments {
			return "", sdk.Permanentf("text needs %d %s segments; max_segments is %d", n, enc, st.maxSegments)
		}
	}
	d := Data{To: to, Text: text, From: st.from, IdempotencyKey: m.GetIdempotencyKey(), CustomerID: m.GetRecipient().GetCustomerId()}
	rawURL, err := render(st.url, d)
	if err != nil {
		return "", sdk.Permanentf("render url: %v", err)
	}
	target, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return "", sdk.Permanentf("rendered url is not an http(s) URL")
	}
	var body io.Reader
	var bodyLen int
	if st.body != nil {
		b, err := render(st.body, d)
		if err != nil {
			return "", sdk.Permanentf("render body_template: %v", err)
		}
		if bodyKind(st.contentType) == "JSON" && !json.Valid([]byte(b)) {
			return "", sdk.Permanentf("rendered body is not valid JSON")
		}
		body, bodyLen = strings.NewReader(b), len(b)
	}

	ctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, st.method, target.String(), body)
	if err != nil {
		return "", sdk.Permanentf("request: %v", err)
	}
	for k, v := range st.headers {
		req.Header[k] = v
	}
	if st.body != nil {
		req.Header.Set("Content-Type", st.contentType)
		req.ContentLength = int64(bodyLen)
	}
	req.Header.Set("User-Agent", "retain-sms/1.0")
	resp, err := st.client.Do(req)
	if err != nil {
		return "", sdk.Retryablef("%s %s: %v", st.method, where(target), netReason(err, st.timeout))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	return st.classify(resp, answer, m.GetIdempotencyKey(), where(target))
}

// classify applies the success rule: a status in success_status, then the
// JSON answer's success_json_path; the provider id from
// provider_id_json_path. Outside success_status: 408, 429 and 5xx may
// pass later, the rest will not.
func (st *state) classify(resp *http.Response, answer []byte, key, where string) (string, error) {
	code := resp.StatusCode
	if !st.success.has(code) {
		if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
			return "", sdk.Retryablef("gateway %s: %s%s%s", where, resp.Status, retryAfter(resp.Header.Get("Retry-After")), snippet(answer))
		}
		return "", sdk.Permanentf("gateway %s: %s%s", where, resp.Status, snippet(answer))
	}
	if st.successPath == nil && st.idPath == nil {
		return key, nil
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber()
	jsonErr := dec.Decode(&doc)
	if st.successPath != nil {
		if jsonErr != nil {
			return "", sdk.Permanentf("gateway %s: %s but the answer is not JSON%s", where, resp.Status, snippet(answer))
		}
		v, found := Lookup(doc, st.successPath)
		ok := found && truthy(v)
		if st.successWant != nil {
			s, scalar := scalarText(v)
			ok = found && scalar && s == *st.successWant
		}
		if !ok {
			return "", sdk.Permanentf("gateway %s: %s but %s is not a success%s", where, resp.Status,
				strings.Join(st.successPath, "."), snippet(answer))
		}
	}
	if st.idPath != nil && jsonErr == nil {
		if v, found := Lookup(doc, st.idPath); found {
			if s, ok := scalarText(v); ok && s != "" && len(s) <= maxProviderID && printable(s) {
				return s, nil
			}
		}
	}
	// No id in the answer: receipts can still name the message if the
	// gateway echoes the reference the body template sent.
	return key, nil
}

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

// netReason says why a request failed without the URL (the query may
// hold the gateway's key).
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

func where(u *url.URL) string { return u.Scheme + "://" + u.Host + u.EscapedPath() }

func snippet(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	s := strings.Map(func(r rune) rune {
		if r < 32 || r == 127 || r == utf8.RuneError {
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
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
