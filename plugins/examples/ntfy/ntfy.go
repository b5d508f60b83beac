package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Name is the plugin's name and the one channel it serves. The CRM routes
// /hooks/ntfy/... to ParseInbound and keeps its key-value space under it.
const Name = "ntfy"

// Version is the plugin's own version, shown on the plugins page.
const Version = "1.0.0"

const defaultServer = "https://ntfy.sh"

// schema is the configuration's JSON Schema; the admin page builds its form
// from it. "writeOnly" marks the token: the page never shows it back.
const schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["topic_template"],
  "properties": {
    "server": {"type": "string", "default": "https://ntfy.sh",
      "description": "ntfy server to publish to (https://ntfy.sh or your own)"},
    "topic_template": {"type": "string",
      "description": "topic each customer subscribes to; {{customer_id}} is replaced by the customer's id, e.g. retain-{{customer_id}}. A message whose recipient address is set goes to that topic instead. Topics on ntfy.sh are public by name: use a server with access control, or unguessable topics."},
    "token": {"type": "string", "writeOnly": true,
      "description": "access token (sent as Authorization: Bearer); empty for an open server"},
    "priority": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3,
      "description": "ntfy priority: 1 min, 3 default, 5 urgent"},
    "urgent_tag": {"type": "string", "default": "",
      "description": "customers carrying this tag get priority 5 (needs the customer field grant \"tags\"); empty: off"},
    "daily_limit": {"type": "integer", "minimum": 0, "default": 0,
      "description": "at most this many notifications a day (UTC), e.g. to stay within ntfy.sh's limits; more wait for the next day. 0: no limit. Needs the \"kv\" grant."},
    "unsubscribe_label": {"type": "string", "default": "Unsubscribe",
      "description": "label of the unsubscribe button on every notification; empty: no button"}
  }
}`

// config is the decoded configuration.
type config struct {
	Server           string  `json:"server"`
	TopicTemplate    string  `json:"topic_template"`
	Token            string  `json:"token"`
	Priority         int     `json:"priority"`
	UrgentTag        string  `json:"urgent_tag"`
	DailyLimit       int     `json:"daily_limit"`
	UnsubscribeLabel *string `json:"unsubscribe_label"`
}

// state is what one Configure call set up. Send and ParseInbound read it
// through an atomic pointer: the host calls them concurrently, and calls
// Configure again when an admin changes the configuration.
type state struct {
	config
	host sdk.Host
	// kv is whether the "kv" grant works; without it there is no duplicate
	// protection, no daily count and no signing key for buttons.
	kv     bool
	secret []byte // signs button tokens; nil without kv
}

// Plugin is the ntfy channel.
type Plugin struct {
	st     atomic.Pointer[state]
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	mu     sync.Mutex // the daily counter's read-modify-write, pruning
	pruned string     // the day old keys were last pruned

	// What Health reports (the plugins page shows it as "degraded").
	tagsDenied  atomic.Bool
	authProblem atomic.Pointer[string]
}

// New returns an unconfigured plugin.
func New() *Plugin {
	return &Plugin{
		client: &http.Client{Timeout: 20 * time.Second},
		now:    time.Now,
		// Anything a plugin writes to stderr lands in the CRM's log, tagged
		// plugin=ntfy.
		log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
}

// Interfaces this plugin implements, checked at compile time.
var (
	_ sdk.Plugin  = (*Plugin)(nil)
	_ sdk.Channel = (*Plugin)(nil)
)

// Describe must not depend on configuration: the host calls it before
// Configure, and shows the grants to an admin for approval.
func (p *Plugin) Describe(context.Context) (*sdk.Manifest, error) {
	return &sdk.Manifest{
		Name:             Name,
		Version:          Version,
		Description:      "push notifications through an ntfy server (ntfy.sh or self-hosted)",
		Kinds:            []sdk.Kind{sdk.KindChannel},
		Channels:         []string{Name},
		ConfigSchemaJson: schema,
		Grants: &sdk.Grants{
			CustomerFields: []string{"tags"},    // urgent_tag
			Capabilities:   []string{sdk.CapKV}, // duplicates, daily count, button key
		},
	}, nil
}

// topicRe is what ntfy accepts as a topic name.
var topicRe = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

// Configure checks the configuration and refuses a bad one with Invalidf
// naming the field: the host then disables the plugin and shows the reason.
func (p *Plugin) Configure(ctx context.Context, raw json.RawMessage, host sdk.Host) error {
	label := "Unsubscribe"
	c := config{Server: defaultServer, Priority: 3, UnsubscribeLabel: &label}
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return err
	}
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return sdk.Invalidf("server: %q is not an http(s) URL", c.Server)
	}
	c.Server = strings.TrimRight(c.Server, "/")
	if c.TopicTemplate == "" {
		return sdk.Invalidf("topic_template: required (e.g. retain-{{customer_id}})")
	}
	if !topicRe.MatchString(strings.ReplaceAll(c.TopicTemplate, "{{customer_id}}", "1")) {
		return sdk.Invalidf("topic_template: %q must give a topic of 1-64 letters, digits, '-' or '_' ({{customer_id}} is the only placeholder)", c.TopicTemplate)
	}
	if strings.ContainsAny(c.Token, "\r\n") {
		return sdk.Invalidf("token: must be one line")
	}
	if c.Priority < 1 || c.Priority > 5 {
		return sdk.Invalidf("priority: %d is not between 1 and 5", c.Priority)
	}
	if c.DailyLimit < 0 {
		return sdk.Invalidf("daily_limit: must not be negative")
	}
	if c.UnsubscribeLabel != nil {
		if err := checkLabel(*c.UnsubscribeLabel); err != nil {
			return sdk.Invalidf("unsubscribe_label: %v", err)
		}
	}
	st := &state{config: c, host: host}
	secret, err := buttonSecret(ctx, host)
	switch {
	case err == nil:
		st.kv, st.secret = true, secret
	case errors.Is(err, sdk.ErrPermissionDenied) || errors.Is(err, sdk.ErrUnimplemented):
		// Not approved (yet): run without what needs the key-value space,
		// and say so in Health. A setting that cannot work without it is
		// refused instead, so the admin sees why.
		if c.DailyLimit > 0 {
			return sdk.Invalidf("daily_limit: needs the \"kv\" grant, which is not approved; approve it on the plugins page or set daily_limit to 0")
		}
	default:
		return fmt.Errorf("reading the button key: %w", err) // host trouble: the host restarts us
	}
	p.st.Store(st)
	return nil
}

// buttonSecret is the key that signs button tokens. It lives in the host's
// key-value space (a plugin keeps no files), so it survives restarts and
// tokens in notifications already delivered stay valid.
func buttonSecret(ctx context.Context, host sdk.Host) ([]byte, error) {
	v, found, err := host.KVGet(ctx, "button-secret")
	if err != nil || found {
		return v, err
	}
	v = make([]byte, 32)
	_, _ = rand.Read(v)
	return v, host.KVPut(ctx, "button-secret", v)
}

// Health answers the supervisor's ping at once (no network call). An error
// does not restart the plugin; it marks it degraded with this message.
func (p *Plugin) Health(context.Context) error {
	st := p.st.Load()
	if st == nil {
		return nil
	}
	var problems []string
	if !st.kv {
		problems = append(problems, `capability "kv" not approved: no duplicate protection after a crash, no reply or unsubscribe buttons`)
	}
	if st.UrgentTag != "" && p.tagsDenied.Load() {
		problems = append(problems, `customer field "tags" not approved: urgent_tag has no effect`)
	}
	if a := p.authProblem.Load(); a != nil {
		problems = append(problems, *a)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
