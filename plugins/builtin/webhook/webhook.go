// Package webhook is the built-in webhook channel: Send POSTs each message
// as JSON to a URL, signed the Standard Webhooks way
// (https://www.standardwebhooks.com: webhook-id, webhook-timestamp,
// webhook-signature = "v1," + base64 HMAC-SHA256), and ParseInbound takes
// receipts, replies and unsubscribes the receiver posts back to
// /hooks/webhook/events, signed the same way, checked against replays.
// It is the way to reach anything the CRM has no channel for (a messenger
// bot, an automation tool).
//
// Like every built-in it imports only plugins/sdk (plus the standard
// library and protobuf's timestamp type), as a third party would.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Name is the plugin's and its channel's name.
const Name = "webhook"

const (
	defaultTimeout = 10 * time.Second
	defaultMaxBody = 256 << 10
	maxMaxBody     = 10 << 20
	// secretPrefix starts a Standard Webhooks secret; base64 follows.
	secretPrefix = "whsec_"
)

// Plugin is the webhook channel. It is safe for concurrent use: Configure
// swaps an immutable state that Send and ParseInbound load.
type Plugin struct {
	st        atomic.Pointer[state]
	transport *http.Transport
	now       func() time.Time // tests move the clock

	// replayMu serialises check-and-remember of inbound webhook-ids (the
	// Host KV has no put-if-absent), striped by id; pruneMu guards
	// lastPrune and keeps to one pruning at a time.
	replayMu  [replayStripes]sync.Mutex
	pruneMu   sync.Mutex
	lastPrune time.Time
}

const replayStripes = 64

// state is one configuration, never changed after Configure built it.
type state struct {
	configured        bool
	url               *url.URL // nil: only per-message URLs
	allowRecipientURL bool
	secret            []byte
	inboundSecret     []byte
	timeout           time.Duration
	headers           http.Header
	maxBody           int
	client            *http.Client
	host              sdk.Host
}

// New returns the plugin, unconfigured.
func New() sdk.Plugin {
	return &Plugin{transport: newTransport(), now: time.Now}
}

// newTransport is tuned for many small POSTs to few receivers: idle
// connections are kept per host (Go's default keeps 2, which makes
// concurrent delivery workers open and close a connection per message).
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

const schema = `{
  "type": "object",
  "properties": {
    "url": {"type": "string", "format": "uri", "description": "where messages are POSTed (http or https)"},
    "allow_recipient_url": {"type": "boolean", "default": false,
      "description": "let a message carry its own URL in recipient.address (only for trusted senders: the CRM then POSTs wherever a message says)"},
    "secret": {"type": "string", "writeOnly": true,
      "description": "signing secret for outgoing messages: whsec_ followed by base64 of 24 to 64 random bytes"},
    "inbound_secret": {"type": "string", "writeOnly": true,
      "description": "secret the receiver signs receipts with (whsec_ + base64) when it POSTs them to /hooks/webhook/events; empty refuses receipts"},
    "timeout": {"type": "string", "default": "10s", "description": "how long one POST may take (Go duration, 1s to 5m)"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"},
      "description": "extra HTTP headers on every POST (e.g. an API key the receiver wants)"},
    "max_body": {"type": "integer", "default": 262144, "minimum": 1024, "maximum": 10485760,
      "description": "largest JSON body in bytes; a larger message fails permanently"}
  },
  "required": ["secret"],
  "additionalProperties": false
}`

func (p *Plugin) Describe(context.Context) (*sdk.Manifest, error) {
	return &sdk.Manifest{Name: Name, Version: "1.0.0",
		Description:      "POSTs messages as signed JSON (Standard Webhooks) and takes signed receipts back",
		Kinds:            []sdk.Kind{sdk.KindChannel},
		Channels:         []string{Name},
		ConfigSchemaJson: schema,
		// kv: the inbound webhook-ids seen, against replays.
		Grants: &sdk.Grants{Capabilities: []string{sdk.CapKV}},
	}, nil
}

type config struct {
	URL               string            `json:"url"`
	AllowRecipientURL bool              `json:"allow_recipient_url"`
	Secret            string            `json:"secret"`
	InboundSecret     string            `json:"inbound_secret"`
	Timeout           string            `json:"timeout"`
	Headers           map[string]string `json:"headers"`
	MaxBody           *int              `json:"max_body"`
}

// Configure checks config and swaps it in. An empty object leaves the
// channel unconfigured (Health says so, Send fails retryably) so that
// enabling the plugin before filling in the form is not an error.
func (p *Plugin) Configure(_ context.Context, raw json.RawMessage, host sdk.Host) error {
	st, err := parseConfig(raw, p.transport)
	if err != nil {
		return err
	}
	st.host = host
	p.st.Store(st)
	return nil
}

func parseConfig(raw json.RawMessage, tr *http.Transport) (*state, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, sdk.Invalidf("webhook configuration: %v", err)
	}
	if dec.More() {
		return nil, sdk.Invalidf("webhook configuration: trailing data after the object")
	}
	st := &state{timeout: defaultTimeout, maxBody: defaultMaxBody, headers: http.Header{}}
	if c.URL == "" && c.Secret == "" && c.InboundSecret == "" && c.Headers == nil && c.MaxBody == nil &&
		c.Timeout == "" && !c.AllowRecipientURL {
		return st, nil
	}
	st.configured = true
	var err error
	if c.URL != "" {
		if st.url, err = parseTarget(c.URL); err != nil {
			return nil, sdk.Invalidf("url: %v", err)
		}
	} else if !c.AllowRecipientURL {
		return nil, sdk.Invalidf("url: required unless allow_recipient_url is true")
	}
	st.allowRecipientURL = c.AllowRecipientURL
	if c.Secret == "" {
		return nil, sdk.Invalidf("secret: required (whsec_ followed by base64 of 24 to 64 random bytes)")
	}
	if st.secret, err = DecodeSecret(c.Secret); err != nil {
		return nil, sdk.Invalidf("secret: %v", err)
	}
	if c.InboundSecret != "" {
		if st.inboundSecret, err = DecodeSecret(c.InboundSecret); err != nil {
			return nil, sdk.Invalidf("inbound_secret: %v", err)
		}
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d < time.Second || d > 5*time.Minute {
			return nil, sdk.Invalidf("timeout: %q is not a duration between 1s and 5m", c.Timeout)
		}
		st.timeout = d
	}
	if c.MaxBody != nil {
		if *c.MaxBody < 1024 || *c.MaxBody > maxMaxBody {
			return nil, sdk.Invalidf("max_body: %d is outside 1024..%d", *c.MaxBody, maxMaxBody)
		}
		st.maxBody = *c.MaxBody
	}
	for k, v := range c.Headers {
		if err := checkHeader(k, v); err != nil {
			return nil, sdk.Invalidf("headers: %v", err)
		}
		st.headers.Set(k, v)
	}
	st.client = &http.Client{Transport: tr, CheckRedirect: checkRedirect}
	return st, nil
}

// DecodeSecret decodes a Standard Webhooks secret ("whsec_" + base64).
func DecodeSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("must start with %q", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("not base64 after %q", secretPrefix)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("decodes to %d bytes; want 24 to 64", len(key))
	}
	return key, nil
}

// reserved headers are set by Send itself.
var reserved = map[string]bool{"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
	"Content-Type": true, "Content-Length": true, "Host": true, "Transfer-Encoding": true, "Connection": true}

func checkHeader(name, value string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("header name %q: empty or too long", name)
	}
	for _, r := range name {
		if r > 126 || r <= 32 || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return fmt.Errorf("header name %q: not a valid HTTP header name", name)
		}
	}
	if reserved[http.CanonicalHeaderKey(name)] {
		return fmt.Errorf("header %q is set by the channel itself", name)
	}
	if len(value) > 4096 {
		return fmt.Errorf("header %q: value longer than 4096 bytes", name)
	}
	for _, r := range value {
		if r == '\r' || r == '\n' || r == 0 || (r < 32 && r != '\t') || r == 127 {
			return fmt.Errorf("header %q: value has control characters", name)
		}
	}
	return nil
}

// parseTarget accepts an absolute http(s) URL with a host.
func parseTarget(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("no host")
	}
	if u.Fragment != "" {
		u.Fragment = ""
	}
	return u, nil
}

// checkRedirect follows a redirect only to the same scheme and host and
// only when it keeps the method and body (307, 308): a 301/302/303 would
// turn the POST into a body-less GET, and another host must not receive
// signed messages it was not configured for. Refused redirects come back
// as the 3xx response, which Send reports as permanent.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) >= 5,
		req.URL.Scheme != first.Scheme || req.URL.Host != first.Host,
		req.Response == nil || (req.Response.StatusCode != http.StatusTemporaryRedirect && req.Response.StatusCode != http.StatusPermanentRedirect):
		return http.ErrUseLastResponse
	}
	return nil
}

func (p *Plugin) Health(context.Context) error {
	st := p.st.Load()
	if st == nil || !st.configured {
		return fmt.Errorf("not configured: set url and secret")
	}
	return nil
}
