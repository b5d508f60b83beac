package core

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// This file holds the ports between the domain and the plugin host
// (plugins/host): what the outbox uses to hand a message to a channel, and
// what the admin pages show about running plugins. The host implements them;
// core/app wires them.

// PluginState is where a plugin is in its life.
type PluginState string

// The plugin states.
const (
	PluginStarting   PluginState = "starting"
	PluginRunning    PluginState = "running"
	PluginDegraded   PluginState = "degraded"   // answers, but says its provider fails
	PluginRestarting PluginState = "restarting" // crashed or hung; waiting for the backoff
	PluginDisabled   PluginState = "disabled"   // crashed too often, refused, or by an admin
	PluginStopped    PluginState = "stopped"
)

// PluginStatus is what the plugins page shows about one plugin.
type PluginStatus struct {
	Name     string      `json:"name"`
	Version  string      `json:"version,omitempty"`
	Builtin  bool        `json:"builtin"`
	Path     string      `json:"path,omitempty"` // the executable of a third-party plugin
	SHA256   string      `json:"sha256,omitempty"`
	Kinds    []string    `json:"kinds,omitempty"`
	Channels []string    `json:"channels,omitempty"`
	State    PluginState `json:"state"`
	PID      int         `json:"pid,omitempty"`
	// Restarts since the host started; LastError is the latest crash, hang
	// or refusal; DisabledReason says why a disabled plugin is not running.
	Restarts       int       `json:"restarts"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	StartedAt      time.Time `json:"started_at,omitzero"`
	LastHealthy    time.Time `json:"last_healthy,omitzero"`
	Health         string    `json:"health,omitempty"` // the degraded message
	// Asked is what the plugin's manifest asks for; Grants what it runs
	// with (built-ins: all it asked; third-party: asked and approved).
	Asked        PluginGrants `json:"asked"`
	Grants       PluginGrants `json:"grants"`
	ConfigSchema string       `json:"config_schema,omitempty"` // JSON Schema
	Events       []string     `json:"events,omitempty"`
	// PanelTitle, when set, is the heading of the pack's panel on the
	// customer page (from its Contributions).
	PanelTitle string `json:"panel_title,omitempty"`
}

// PluginGrants is what a plugin may read and do through the host API.
type PluginGrants struct {
	CustomerFields []string `json:"customer_fields,omitempty"`
	Capabilities   []string `json:"capabilities,omitempty"`
}

// OutboundMessage is one message handed to a channel plugin. The outbox
// stores it under IdempotencyKey before any channel sees it.
type OutboundMessage struct {
	IdempotencyKey string            `json:"idempotency_key"`
	Recipient      MessageContact    `json:"recipient"`
	Subject        string            `json:"subject,omitempty"`
	Text           string            `json:"text,omitempty"`
	HTML           string            `json:"html,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"` // e.g. List-Unsubscribe
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// MessageContact is where a message goes.
type MessageContact struct {
	CustomerID ID     `json:"customer_id,omitempty"`
	Name       string `json:"name,omitempty"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Address    string `json:"address,omitempty"` // webhook URL, device token, chat id
	Locale     string `json:"locale,omitempty"`
}

// Channels is how the outbox delivers: Send hands msg to the plugin serving
// channel and returns the provider's id. A failure that retrying may fix
// (plugin restarting, provider down, timeout) wraps ErrUnavailable; one that
// it cannot fix wraps another kind (ErrInvalid, ErrTooLarge, ErrForbidden,
// ErrNotFound). No running plugin for the channel is ErrUnavailable: it may
// be restarting. IsRetryable tells them apart. A hard bounce (the receiver
// refused the recipient for good) wraps ErrBounced as well as ErrInvalid.
type Channels interface {
	Send(ctx context.Context, channel string, msg OutboundMessage) (providerID string, err error)
	// ChannelNames lists the channels of the running plugins.
	ChannelNames() []string
	// ParseInbound hands a request to /hooks/{plugin}/... to the plugin.
	// A refusal wraps ErrInvalid (malformed), ErrUnauthorized (bad
	// signature or token) or ErrNotFound (no such plugin or path).
	ParseInbound(ctx context.Context, plugin string, r InboundRequest) (InboundParsed, error)
}

// Metadata keys the outbox sets on every message it hands to a channel
// (plugins/sdk names them MetaHookURL, MetaOutboxID, MetaAttempt; a test in
// plugins/host keeps the two lists equal).
const (
	MetaHookURL  = "retain.hook_url"
	MetaOutboxID = "retain.outbox_id"
	MetaAttempt  = "retain.attempt"
)

// InboundRequest is an HTTP request to /hooks/{plugin}/{path}.
type InboundRequest struct {
	Method     string
	Path       string // what follows /hooks/{plugin}, with the query ("/unsubscribe?c=1")
	Headers    map[string][]string
	Body       []byte
	RemoteAddr string
}

// InboundParsed is what a plugin made of an inbound request: the answer
// for the caller and what the host should record.
type InboundParsed struct {
	Status       int // 0 means 200
	ContentType  string
	Body         []byte
	Interactions []InboundInteraction
	Consent      []InboundConsent
}

// CustomerRef names a customer the way an outside system knows them; the
// first non-empty field wins (ID, ExternalID, Email, Phone).
type CustomerRef struct {
	ID         ID
	ExternalID string
	Email      string
	Phone      string
}

// IsZero reports whether the reference names nobody.
func (r CustomerRef) IsZero() bool { return r == CustomerRef{} }

// InboundInteraction is an interaction reported by a plugin. Its customer
// is Customer, or the customer of the outbox message named by MessageKey
// (its idempotency key) or ProviderID (what the channel answered to Send).
type InboundInteraction struct {
	Customer    CustomerRef
	MessageKey  string
	ProviderID  string
	Interaction Interaction // CustomerID is filled in by the host
}

// InboundConsent is a consent change reported by a plugin (an unsubscribe).
type InboundConsent struct {
	Customer CustomerRef
	Channel  Channel
	Granted  bool
	Source   string
	At       time.Time
}

// Plugins is what the admin pages read and do.
type Plugins interface {
	Statuses() []PluginStatus
	// Enable starts a disabled plugin again (resetting its crash count);
	// Disable stops one. ErrNotFound for an unknown name.
	Enable(ctx context.Context, name string) error
	Disable(ctx context.Context, name, reason string) error
	// Configure hands a running plugin new configuration (a JSON object)
	// through its Configure call; ErrInvalid when the plugin refuses it
	// (it keeps the old one). A plugin that is not running gets it at its
	// next start, so this returns nil then.
	Configure(ctx context.Context, name string, config json.RawMessage) error
	// Restart stops a plugin and starts it again (its grants changed).
	Restart(ctx context.Context, name string) error
	// CustomerPanel asks a running pack with a panel (PanelTitle) for its
	// HTML fragment about one customer; untrusted markup the caller must
	// sanitise. ErrNotFound when the plugin has no panel or is not running.
	CustomerPanel(ctx context.Context, plugin string, customerID ID) (string, error)
}

// ErrPluginDown marks a Channels.Send failure because no plugin process
// could take the message (none runs for the channel, or it died during the
// call); it comes with ErrUnavailable. The channel was not really tried, so
// the outbox retries without counting an attempt: plugin crashes alone never
// make a message give up.
var ErrPluginDown = errors.New("plugin down")

// ErrBounced marks a Channels.Send failure that is a hard bounce: the
// receiving system refused the recipient's address or number for good.
// It always comes with ErrInvalid (what status it maps to); the outbox
// records a bounced interaction for it instead of a failed one.
var ErrBounced = errors.New("bounced")

// IsRetryable reports whether an error from a port such as Channels may go
// away when the call is retried later.
func IsRetryable(err error) bool { return errors.Is(err, ErrUnavailable) }

// KVPair is one entry of a plugin's key-value space.
type KVPair struct {
	Key   string
	Value []byte
}
