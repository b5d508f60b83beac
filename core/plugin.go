package core

import (
	"context"
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
	Restarts       int          `json:"restarts"`
	LastError      string       `json:"last_error,omitempty"`
	LastErrorAt    time.Time    `json:"last_error_at,omitzero"`
	DisabledReason string       `json:"disabled_reason,omitempty"`
	StartedAt      time.Time    `json:"started_at,omitzero"`
	LastHealthy    time.Time    `json:"last_healthy,omitzero"`
	Health         string       `json:"health,omitempty"` // the degraded message
	Grants         PluginGrants `json:"grants"`
	ConfigSchema   string       `json:"config_schema,omitempty"` // JSON Schema
	Events         []string     `json:"events,omitempty"`
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
// ErrNotFound for an unknown channel). IsRetryable tells them apart.
type Channels interface {
	Send(ctx context.Context, channel string, msg OutboundMessage) (providerID string, err error)
	// ChannelNames lists the channels of the running plugins.
	ChannelNames() []string
}

// Plugins is what the admin pages read and do.
type Plugins interface {
	Statuses() []PluginStatus
	// Enable starts a disabled plugin again (resetting its crash count);
	// Disable stops one. ErrNotFound for an unknown name.
	Enable(ctx context.Context, name string) error
	Disable(ctx context.Context, name, reason string) error
}

// IsRetryable reports whether an error from a port such as Channels may go
// away when the call is retried later.
func IsRetryable(err error) bool { return errors.Is(err, ErrUnavailable) }

// KVPair is one entry of a plugin's key-value space.
type KVPair struct {
	Key   string
	Value []byte
}
