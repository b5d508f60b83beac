package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Metadata keys a sender may set on a message for this channel.
const (
	// MetaTags: ntfy tags, comma-separated (emoji short codes such as
	// "tada,package" show as emojis).
	MetaTags = "ntfy.tags"
	// MetaReplies: labels of up to two reply buttons, separated by "|",
	// e.g. "Yes|No". A tap becomes a "replied" interaction with the label
	// as its text.
	MetaReplies = "ntfy.replies"
)

// Send publishes one message: POST the text to SERVER/TOPIC with the title,
// priority, tags and buttons as headers; ntfy answers with the message's id
// in JSON. The host calls Send from several workers at once.
//
// Errors: Retryablef when trying later may help (network, 408, 429, 5xx,
// host briefly unavailable) — the outbox retries with backoff; Permanentf
// when it cannot (no topic, other 4xx) — the outbox marks it failed at once.
func (p *Plugin) Send(ctx context.Context, m *sdk.Message) (string, error) {
	st := p.st.Load()
	if st == nil {
		return "", sdk.Retryablef("not configured yet")
	}
	key := m.GetIdempotencyKey()
	if key == "" {
		return "", sdk.Invalidf("message without idempotency key")
	}
	topic, err := st.topic(m.GetRecipient())
	if err != nil {
		return "", err
	}
	if m.GetText() == "" {
		return "", sdk.Permanentf("ntfy sends plain text and this message has no text body")
	}
	day := p.now().UTC().Format(time.DateOnly)
	if st.kv {
		// The host sends a message again when it crashed between our
		// answer and recording it (same idempotency key). ntfy has no
		// idempotency header, so we remember what we sent and answer the
		// same id instead of notifying the customer twice.
		if id, ok, err := p.alreadySent(ctx, st, key, day); err != nil {
			return "", err
		} else if ok {
			p.log.Info("message already sent; not publishing it again", "idempotency_key", key, "provider_id", id)
			return id, nil
		}
		if st.DailyLimit > 0 {
			if n, err := p.sentToday(ctx, st, day); err != nil {
				return "", err
			} else if n >= st.DailyLimit {
				return "", sdk.Retryablef("daily_limit %d reached for %s (UTC); waiting for tomorrow", st.DailyLimit, day)
			}
		}
	}
	prio, err := p.priority(ctx, st, m.GetRecipient().GetCustomerId())
	if err != nil {
		return "", err
	}
	actions, err := st.actions(m)
	if err != nil {
		return "", err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.Server+"/"+topic, strings.NewReader(m.GetText()))
	if err != nil {
		return "", sdk.Permanentf("building the request: %v", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Priority", strconv.Itoa(prio))
	setHeader(req.Header, "Title", m.GetSubject())
	setHeader(req.Header, "Tags", m.GetMetadata()[MetaTags])
	setHeader(req.Header, "Actions", actions)
	if st.Token != "" {
		req.Header.Set("Authorization", "Bearer "+st.Token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// Connection refused, DNS, TLS, timeout: the server may be back later.
		return "", sdk.Retryablef("publishing to %s: %v", st.Server, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return "", p.classify(resp.StatusCode, body)
	}
	p.authProblem.Store(nil)
	var out struct {
		ID string `json:"id"`
	}
	// A 2xx means ntfy took the message; an answer we cannot read does not
	// make it unsent (failing here would send it again).
	if err := json.Unmarshal(body, &out); err != nil {
		p.log.Warn("ntfy accepted the message but its answer is not JSON", "err", err)
	}
	if st.kv {
		p.remember(ctx, st, key, day, out.ID)
	}
	return out.ID, nil
}

// classify turns an HTTP error answer into an error kind.
func (p *Plugin) classify(code int, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return sdk.Retryablef("ntfy answered %d: %s", code, msg)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		// Every message will fail the same way until an admin fixes the
		// token: say so on the plugins page too.
		s := fmt.Sprintf("ntfy refused the token or topic (%d: %s)", code, msg)
		p.authProblem.Store(&s)
		return sdk.Permanentf("%s", s)
	default:
		return sdk.Permanentf("ntfy answered %d: %s", code, msg)
	}
}

// topic is where a message goes: the recipient's address when the sender
// set one, else topic_template for the customer.
func (st *state) topic(to *sdk.Contact) (string, error) {
	if a := to.GetAddress(); a != "" {
		if !topicRe.MatchString(a) {
			return "", sdk.Permanentf("recipient address %q is not an ntfy topic (1-64 letters, digits, '-' or '_')", clip(a, 80))
		}
		return a, nil
	}
	t := st.TopicTemplate
	if strings.Contains(t, "{{customer_id}}") {
		if to.GetCustomerId() == "" {
			return "", sdk.Permanentf("topic_template %q needs a customer id and the message has none", t)
		}
		t = strings.ReplaceAll(t, "{{customer_id}}", to.GetCustomerId())
	}
	if !topicRe.MatchString(t) {
		return "", sdk.Permanentf("topic %q is not an ntfy topic", clip(t, 80))
	}
	return t, nil
}

// priority is the configured one, or 5 for a customer with urgent_tag. It
// reads the customer's tags through the Host API: only the field granted,
// and only when an admin approved it.
func (p *Plugin) priority(ctx context.Context, st *state, customerID string) (int, error) {
	if st.UrgentTag == "" || customerID == "" {
		return st.Priority, nil
	}
	c, err := st.host.GetCustomer(ctx, customerID, "tags")
	switch {
	case err == nil:
		p.tagsDenied.Store(false)
		if slices.ContainsFunc(c.GetTags(), func(t string) bool { return strings.EqualFold(t, st.UrgentTag) }) {
			return 5, nil
		}
	case errors.Is(err, sdk.ErrPermissionDenied):
		p.tagsDenied.Store(true) // Health reports it; the message still goes out
	case errors.Is(err, sdk.ErrNotFound):
	default:
		return 0, sdk.Retryablef("reading the customer's tags: %v", err)
	}
	return st.Priority, nil
}

// setHeader sets a header, RFC 2047-encoded when it is not ASCII (ntfy
// decodes it; raw UTF-8 in headers is garbled by some proxies).
func setHeader(h http.Header, name, v string) {
	if v == "" {
		return
	}
	for _, r := range v {
		if r >= 0x80 {
			v = mime.BEncoding.Encode("UTF-8", v)
			break
		}
	}
	h.Set(name, v)
}

// Duplicate protection and the daily count live in the host's key-value
// space: "sent/DAY/HASH" → provider id, "count/DAY" → a number.

func keyHash(idempotencyKey string) string {
	s := sha256.Sum256([]byte(idempotencyKey))
	return hex.EncodeToString(s[:16])
}

// alreadySent looks for the key among today's and yesterday's sends (a
// retry comes within hours: the outbox's backoff is capped at an hour).
func (p *Plugin) alreadySent(ctx context.Context, st *state, key, day string) (string, bool, error) {
	for _, d := range []string{day, daysBefore(day, 1)} {
		v, found, err := st.host.KVGet(ctx, "sent/"+d+"/"+keyHash(key))
		if err != nil {
			return "", false, sdk.Retryablef("checking for a duplicate: %v", err)
		}
		if found {
			return string(v), true, nil
		}
	}
	return "", false, nil
}

func (p *Plugin) sentToday(ctx context.Context, st *state, day string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, _, err := st.host.KVGet(ctx, "count/"+day)
	if err != nil {
		return 0, sdk.Retryablef("reading the daily count: %v", err)
	}
	n, _ := strconv.Atoi(string(v))
	return n, nil
}

// remember records a send. The message has gone out: a failure here is
// logged, not returned (an error would make the host send it again).
func (p *Plugin) remember(ctx context.Context, st *state, key, day, id string) {
	if err := st.host.KVPut(ctx, "sent/"+day+"/"+keyHash(key), []byte(id)); err != nil {
		p.log.Warn("could not record the send for duplicate protection", "err", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v, _, err := st.host.KVGet(ctx, "count/"+day)
	if err == nil {
		n, _ := strconv.Atoi(string(v))
		err = st.host.KVPut(ctx, "count/"+day, []byte(strconv.Itoa(n+1)))
	}
	if err != nil {
		p.log.Warn("could not update the daily count", "err", err)
	}
	if p.pruned != day {
		p.pruned = day
		p.prune(ctx, st, day)
	}
}

// prune deletes send records older than yesterday and counts older than a
// month, once a day: the key-value space is the CRM's disk, keep it small.
func (p *Plugin) prune(ctx context.Context, st *state, day string) {
	keepSent, keepCount := daysBefore(day, 1), daysBefore(day, 31)
	for _, pre := range []struct{ prefix, keep string }{{"sent/", keepSent}, {"count/", keepCount}} {
		cursor := ""
		for {
			items, next, err := st.host.KVList(ctx, pre.prefix, cursor, 1000)
			if err != nil {
				p.log.Warn("pruning old records", "err", err)
				return
			}
			for _, it := range items {
				d, _, _ := strings.Cut(strings.TrimPrefix(it.GetKey(), pre.prefix), "/")
				if d < pre.keep {
					if err := st.host.KVDelete(ctx, it.GetKey()); err != nil {
						p.log.Warn("pruning old records", "err", err)
						return
					}
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
}

func daysBefore(day string, n int) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.AddDate(0, 0, -n).Format(time.DateOnly)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
