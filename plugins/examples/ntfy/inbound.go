package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Buttons. ntfy shows up to three action buttons on a notification; an
// "http" button makes the customer's ntfy app POST to a URL in the
// background. Ours point at the CRM's public hook for this plugin
// (metadata sdk.MetaHookURL, i.e. BASE_URL/hooks/ntfy) plus "/reply" and a
// query that says what the tap means, signed so nobody can forge one:
//
//	/reply?a=reply&k=MESSAGE_KEY&c=CUSTOMER_ID&t=Yes&s=SIGNATURE
//
// a is "reply" or "unsubscribe", k the message's idempotency key, c the
// customer id, t the button label, s = base64url(HMAC-SHA256(button key,
// "ntfy-button" NUL a NUL k NUL c NUL t)).

const maxLabel = 40

// checkLabel refuses what ntfy's simple actions format cannot carry.
func checkLabel(l string) error {
	switch {
	case len(l) > maxLabel:
		return errors.New("longer than 40 bytes")
	case strings.ContainsAny(l, "\",;'\r\n"):
		return errors.New(`must not contain quotes, ',' , ';' or line breaks`)
	case !utf8.ValidString(l):
		return errors.New("not UTF-8")
	}
	return nil
}

// actions is the Actions header for m: its reply buttons and the
// unsubscribe button, or "" when the host gave no hook URL (server.base_url
// unset) or there is no signing key (no "kv" grant).
func (st *state) actions(m *sdk.Message) (string, error) {
	hook := m.GetMetadata()[sdk.MetaHookURL]
	if hook == "" || st.secret == nil {
		return "", nil
	}
	key, cid := m.GetIdempotencyKey(), m.GetRecipient().GetCustomerId()
	var out []string
	if r := m.GetMetadata()[MetaReplies]; r != "" {
		labels := strings.Split(r, "|")
		if len(labels) > 2 {
			return "", sdk.Permanentf("metadata %s: at most two reply buttons, got %d", MetaReplies, len(labels))
		}
		for _, l := range labels {
			if err := checkLabel(l); err != nil || l == "" {
				return "", sdk.Permanentf("metadata %s: label %q: %v", MetaReplies, clip(l, 50), err)
			}
			out = append(out, button(l, st.buttonURL(hook, "reply", key, cid, l)))
		}
	}
	if l := st.UnsubscribeLabel; l != nil && *l != "" && cid != "" {
		out = append(out, button(*l, st.buttonURL(hook, "unsubscribe", key, cid, "")))
	}
	return strings.Join(out, "; "), nil
}

// button is one action in ntfy's simple format. Values are quoted; the URL
// holds no quote (its query is escaped).
func button(label, u string) string {
	return `http, "` + label + `", "` + u + `", method=POST, clear=true`
}

func (st *state) buttonURL(hook, action, key, cid, text string) string {
	q := url.Values{"a": {action}, "k": {key}, "c": {cid}, "t": {text}}
	q.Set("s", st.sign(action, key, cid, text))
	return strings.TrimRight(hook, "/") + "/reply?" + q.Encode()
}

func (st *state) sign(action, key, cid, text string) string {
	mac := hmac.New(sha256.New, st.secret)
	mac.Write([]byte("ntfy-button\x00" + action + "\x00" + key + "\x00" + cid + "\x00" + text))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// ParseInbound takes a button tap: POST /hooks/ntfy/reply?... The host
// hands every request under /hooks/ntfy/ here and stores what we return:
// interactions (the customer found from the message's idempotency key) and
// consent changes. Errors store nothing: Invalidf (malformed) answers 400,
// PermissionDeniedf (bad signature) 401/403, NotFoundf 404.
func (p *Plugin) ParseInbound(_ context.Context, r *sdk.InboundRequest) (*sdk.InboundResponse, error) {
	u, err := url.Parse(r.GetPath())
	if err != nil {
		return nil, sdk.Invalidf("path: %v", err)
	}
	if u.Path != "/reply" {
		return nil, sdk.NotFoundf("no inbound route %q; ntfy buttons post to /hooks/ntfy/reply", clip(u.Path, 100))
	}
	if r.GetMethod() != http.MethodPost {
		return nil, sdk.Invalidf("buttons POST; got %s", clip(r.GetMethod(), 20))
	}
	st := p.st.Load()
	if st == nil || st.secret == nil {
		return nil, sdk.PermissionDeniedf(`cannot check button tokens: capability "kv" is not approved`)
	}
	q := u.Query()
	action, key, cid, text := q.Get("a"), q.Get("k"), q.Get("c"), q.Get("t")
	if key == "" || (action != "reply" && action != "unsubscribe") || len(text) > maxLabel {
		return nil, sdk.Invalidf("not a button request (a, k, c, t, s)")
	}
	sig, err := base64.RawURLEncoding.DecodeString(q.Get("s"))
	want, _ := base64.RawURLEncoding.DecodeString(st.sign(action, key, cid, text))
	if err != nil || !hmac.Equal(sig, want) {
		return nil, sdk.PermissionDeniedf("button token does not match its signature")
	}
	resp := &sdk.InboundResponse{StatusCode: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("ok\n")}
	// The idempotency keys make a replayed tap (or the app retrying) store
	// nothing new.
	switch action {
	case "reply":
		resp.Interactions = []*sdk.Interaction{{
			Type: sdk.TypeReplied, Channel: Name, Text: text, MessageKey: key,
			Properties:     map[string]string{"button": text},
			IdempotencyKey: "reply:" + keyHash(key) + ":" + text,
		}}
	case "unsubscribe":
		if cid == "" {
			return nil, sdk.Invalidf("unsubscribe without a customer")
		}
		resp.Interactions = []*sdk.Interaction{{
			Type: sdk.TypeUnsubscribed, Channel: Name, MessageKey: key,
			IdempotencyKey: "unsubscribe:" + keyHash(key),
		}}
		// Withdraws consent for this channel: the outbox suppresses every
		// later ntfy message to this customer.
		resp.ConsentChanges = []*sdk.ConsentChange{{
			Customer: &sdk.CustomerRef{Id: cid}, Channel: Name, Granted: false, Source: "ntfy unsubscribe button",
		}}
	}
	return resp, nil
}
