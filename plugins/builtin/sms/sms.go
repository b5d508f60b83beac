// Package sms is the built-in SMS channel through a generic HTTP gateway:
// every country has its own SMS providers, so the request (URL, method,
// headers, auth, a Go text/template body) and the rule that says it
// succeeded (status codes, a JSON path) are configuration. ParseInbound
// takes delivery receipts at /hooks/sms/receipt and replies (MO messages)
// at /hooks/sms/reply, authenticated by a shared token; a STOP reply
// withdraws consent.
//
// Templates are parsed and checked at Configure: rendered with hostile
// sample text, a template must keep the shape of its URL, JSON, form or
// XML body — one that would let message text add fields (a forgotten
// {{json .Text}} or {{urlquery .Text}}) is refused. Message text is data
// for the template, never parsed as one.
//
// Like every built-in it imports only plugins/sdk (plus the standard
// library and protobuf's timestamp type), as a third party would.
package sms

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Name is the plugin's and its channel's name.
const Name = "sms"

const defaultTimeout = 10 * time.Second

// DefaultBodyTemplate is the JSON body sent when body_template is empty.
const DefaultBodyTemplate = `{"to":{{json .To}},"from":{{json .From}},"text":{{json .Text}},"reference":{{json .IdempotencyKey}}}`

// Plugin is the SMS channel. Configure swaps an immutable state that Send
// and ParseInbound load, so all three are safe to call concurrently.
type Plugin struct {
	st        atomic.Pointer[state]
	transport *http.Transport
	now       func() time.Time
}

type state struct {
	configured  bool
	method      string
	url         *template.Template
	body        *template.Template // nil for GET
	contentType string
	headers     http.Header
	from        string
	timeout     time.Duration
	success     statusSet
	successPath []string
	successWant *string
	idPath      []string
	maxLength   int
	maxSegments int
	client      *http.Client

	receiptToken  string
	receiptID     []string
	receiptStatus []string
	statusMap     map[string]string
	replyFrom     []string
	replyText     []string
	replyID       []string
	stopWords     map[string]bool
}

// New returns the plugin, unconfigured.
func New() sdk.Plugin {
	return &Plugin{now: time.Now, transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64, // one gateway, many delivery workers
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}}
}

const schema = `{
  "type": "object",
  "properties": {
    "url": {"type": "string", "description": "gateway URL; a template like the body (e.g. https://gw.example/send?to={{urlquery .To}} for GET gateways)"},
    "method": {"type": "string", "enum": ["POST", "GET"], "default": "POST"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "extra HTTP headers (e.g. an API key)"},
    "auth": {"type": "string", "enum": ["none", "basic", "bearer"], "default": "none"},
    "username": {"type": "string", "description": "for auth basic"},
    "password": {"type": "string", "writeOnly": true, "description": "for auth basic"},
    "token": {"type": "string", "writeOnly": true, "description": "for auth bearer"},
    "body_template": {"type": "string", "description": "Go text/template of the POST body with .To (E.164), .Text, .From, .IdempotencyKey, .CustomerID and the functions json, urlquery, xml; default: a JSON object with to, from, text, reference"},
    "content_type": {"type": "string", "default": "application/json", "description": "Content-Type of the body"},
    "from": {"type": "string", "description": "sender id or number, as .From"},
    "timeout": {"type": "string", "default": "10s", "description": "how long one request may take (1s to 5m)"},
    "success_status": {"type": "string", "default": "200-299", "description": "status codes that mean sent: codes and ranges, e.g. \"200,202\" or \"200-299\""},
    "success_json_path": {"type": "string", "description": "dotted path into the JSON answer that must be true (or equal success_json_value), e.g. \"status\" or \"messages.0.accepted\""},
    "success_json_value": {"type": "string", "description": "what the value at success_json_path must equal (as text)"},
    "provider_id_json_path": {"type": "string", "description": "dotted path to the gateway's message id in its JSON answer, e.g. \"messages.0.id\"; receipts are matched by it"},
    "max_length": {"type": "integer", "minimum": 0, "default": 0, "description": "refuse texts longer than this many characters (0: no limit)"},
    "max_segments": {"type": "integer", "minimum": 0, "default": 0, "description": "refuse texts needing more SMS segments (160 GSM-7 or 70 UCS-2 characters each; 0: no limit)"},
    "receipt_token": {"type": "string", "writeOnly": true, "description": "shared token gateways send with receipts and replies (query parameter token, header X-Retain-Token or Authorization: Bearer); empty refuses them"},
    "receipt_id_field": {"type": "string", "default": "id", "description": "field (form) or dotted path (JSON) of the message id in a receipt"},
    "receipt_status_field": {"type": "string", "default": "status", "description": "field or path of the status word in a receipt"},
    "status_map": {"type": "object", "additionalProperties": {"type": "string", "enum": ["delivered", "failed", "bounced", "ignore"]}, "description": "gateway status word → delivered, failed, bounced or ignore (added to the defaults for DELIVRD, UNDELIV, ...)"},
    "reply_from_field": {"type": "string", "default": "from"},
    "reply_text_field": {"type": "string", "default": "text"},
    "reply_id_field": {"type": "string", "default": "id"},
    "stop_words": {"type": "array", "items": {"type": "string"}, "description": "replies that withdraw SMS consent; default STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT"}
  },
  "required": ["url"],
  "additionalProperties": false
}`

func (p *Plugin) Describe(context.Context) (*sdk.Manifest, error) {
	return &sdk.Manifest{Name: Name, Version: "1.0.0",
		Description:      "sends SMS through any HTTP gateway (URL, method, body template, auth and success rule in the configuration)",
		Kinds:            []sdk.Kind{sdk.KindChannel},
		Channels:         []string{Name},
		ConfigSchemaJson: schema}, nil
}

type config struct {
	URL                string            `json:"url"`
	Method             string            `json:"method"`
	Headers            map[string]string `json:"headers"`
	Auth               string            `json:"auth"`
	Username           string            `json:"username"`
	Password           string            `json:"password"`
	Token              string            `json:"token"`
	BodyTemplate       string            `json:"body_template"`
	ContentType        string            `json:"content_type"`
	From               string            `json:"from"`
	Timeout            string            `json:"timeout"`
	SuccessStatus      json.RawMessage   `json:"success_status"`
	SuccessJSONPath    string            `json:"success_json_path"`
	SuccessJSONValue   *string           `json:"success_json_value"`
	ProviderIDJSONPath string            `json:"provider_id_json_path"`
	MaxLength          int               `json:"max_length"`
	MaxSegments        int               `json:"max_segments"`
	ReceiptToken       string            `json:"receipt_token"`
	ReceiptIDField     string            `json:"receipt_id_field"`
	ReceiptStatusField string            `json:"receipt_status_field"`
	StatusMap          map[string]string `json:"status_map"`
	ReplyFromField     string            `json:"reply_from_field"`
	ReplyTextField     string            `json:"reply_text_field"`
	ReplyIDField       string            `json:"reply_id_field"`
	StopWords          []string          `json:"stop_words"`
}

// Configure checks config and swaps it in. An empty object leaves the
// channel unconfigured (Health says so, Send fails retryably).
func (p *Plugin) Configure(_ context.Context, raw json.RawMessage, _ sdk.Host) error {
	st, err := parseConfig(raw)
	if err != nil {
		return err
	}
	st.client = &http.Client{Transport: p.transport, CheckRedirect: checkRedirect}
	p.st.Store(st)
	return nil
}

func parseConfig(raw json.RawMessage) (*state, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, sdk.Invalidf("sms configuration: %v", err)
	}
	if bytes.Equal(bytes.Join(bytes.Fields(raw), nil), []byte("{}")) {
		return &state{}, nil
	}
	st := &state{configured: true, timeout: defaultTimeout, headers: http.Header{}, from: c.From}
	if c.URL == "" {
		return nil, sdk.Invalidf("url: required")
	}
	switch strings.ToUpper(c.Method) {
	case "", "POST":
		st.method = http.MethodPost
	case "GET":
		st.method = http.MethodGet
	default:
		return nil, sdk.Invalidf("method: %q; want POST or GET", c.Method)
	}
	var err error
	if st.url, err = parseTemplate("url", c.URL); err != nil {
		return nil, err
	}
	if len(c.From) > 64 || strings.ContainsAny(c.From, "\r\n\x00") {
		return nil, sdk.Invalidf("from: longer than 64 bytes or several lines")
	}
	if st.method == http.MethodGet {
		if c.BodyTemplate != "" {
			return nil, sdk.Invalidf("body_template: GET sends no body; put the fields into url, e.g. ?text={{urlquery .Text}}")
		}
	} else {
		if c.BodyTemplate == "" {
			c.BodyTemplate = DefaultBodyTemplate
			if c.ContentType == "" {
				c.ContentType = "application/json"
			}
		}
		if st.body, err = parseTemplate("body_template", c.BodyTemplate); err != nil {
			return nil, err
		}
		if c.ContentType == "" {
			c.ContentType = "application/json"
		}
		if _, _, err := mime.ParseMediaType(c.ContentType); err != nil || strings.ContainsAny(c.ContentType, "\r\n") {
			return nil, sdk.Invalidf("content_type: %q is not a media type", c.ContentType)
		}
		st.contentType = c.ContentType
	}
	if err := checkTemplates(st); err != nil {
		return nil, err
	}
	for k, v := range c.Headers {
		if err := checkHeader(k, v); err != nil {
			return nil, sdk.Invalidf("headers: %v", err)
		}
		st.headers.Set(k, v)
	}
	switch c.Auth {
	case "", "none":
		if c.Username != "" || c.Password != "" || c.Token != "" {
			return nil, sdk.Invalidf("auth: username, password or token given but auth is none")
		}
	case "basic":
		if c.Username == "" || strings.Contains(c.Username, ":") {
			return nil, sdk.Invalidf("username: required for auth basic, without ':'")
		}
		if c.Token != "" {
			return nil, sdk.Invalidf("token: only for auth bearer")
		}
		r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		r.SetBasicAuth(c.Username, c.Password)
		st.headers.Set("Authorization", r.Header.Get("Authorization"))
	case "bearer":
		if c.Token == "" || strings.ContainsAny(c.Token, "\r\n\x00 ") {
			return nil, sdk.Invalidf("token: required for auth bearer, one word")
		}
		st.headers.Set("Authorization", "Bearer "+c.Token)
	default:
		return nil, sdk.Invalidf("auth: %q; want none, basic or bearer", c.Auth)
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d < time.Second || d > 5*time.Minute {
			return nil, sdk.Invalidf("timeout: %q is not a duration between 1s and 5m", c.Timeout)
		}
		st.timeout = d
	}
	if st.success, err = parseStatusSet(c.SuccessStatus); err != nil {
		return nil, sdk.Invalidf("success_status: %v", err)
	}
	if st.successPath, err = parsePath(c.SuccessJSONPath); err != nil {
		return nil, sdk.Invalidf("success_json_path: %v", err)
	}
	if c.SuccessJSONValue != nil && st.successPath == nil {
		return nil, sdk.Invalidf("success_json_value: needs success_json_path")
	}
	st.successWant = c.SuccessJSONValue
	if st.idPath, err = parsePath(c.ProviderIDJSONPath); err != nil {
		return nil, sdk.Invalidf("provider_id_json_path: %v", err)
	}
	if c.MaxLength < 0 || c.MaxLength > 10000 {
		return nil, sdk.Invalidf("max_length: %d is outside 0..10000", c.MaxLength)
	}
	if c.MaxSegments < 0 || c.MaxSegments > 255 {
		return nil, sdk.Invalidf("max_segments: %d is outside 0..255", c.MaxSegments)
	}
	st.maxLength, st.maxSegments = c.MaxLength, c.MaxSegments
	if err := parseInboundConfig(st, &c); err != nil {
		return nil, err
	}
	return st, nil
}

func (p *Plugin) Health(context.Context) error {
	if st := p.st.Load(); st == nil || !st.configured {
		return fmt.Errorf("not configured: set the gateway url")
	}
	return nil
}

// reserved headers are set by Send itself (Authorization through auth).
var reserved = map[string]bool{"Content-Type": true, "Content-Length": true, "Host": true,
	"Transfer-Encoding": true, "Connection": true, "Authorization": true}

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
		return fmt.Errorf("header %q is set by the channel (use auth for Authorization)", name)
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

// checkRedirect follows redirects only to the same scheme and host
// (another host must not get the credentials), and for a POST only 307
// and 308 (a 301/302/303 turns it into a GET without the message).
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0]
	keepsBody := req.Response != nil &&
		(req.Response.StatusCode == http.StatusTemporaryRedirect || req.Response.StatusCode == http.StatusPermanentRedirect)
	if len(via) >= 5 || req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host ||
		(first.Method != http.MethodGet && !keepsBody) {
		return http.ErrUseLastResponse
	}
	return nil
}
