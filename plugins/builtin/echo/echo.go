// Package echo is the smallest channel plugin: it "delivers" a message by
// answering with a provider id made from its idempotency key. The host's
// tests use it, and it is the example docs/plugins.md walks through. Like
// every built-in it imports only plugins/sdk, as a third party would.
package echo

import (
	"context"
	"encoding/json"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Plugin is the echo channel. Configuration: {"prefix": "echo-"}.
type Plugin struct {
	prefix string
}

// New returns the plugin.
func New() sdk.Plugin { return &Plugin{prefix: "echo-"} }

const schema = `{"type":"object","properties":{"prefix":{"type":"string","default":"echo-",` +
	`"description":"put before the idempotency key to make the provider id"}},"additionalProperties":false}`

func (p *Plugin) Describe(context.Context) (*sdk.Manifest, error) {
	return &sdk.Manifest{Name: "echo", Version: "1.0.0", Description: "answers every message with a provider id; for tests",
		Kinds: []sdk.Kind{sdk.KindChannel}, ConfigSchemaJson: schema}, nil
}

func (p *Plugin) Configure(_ context.Context, config json.RawMessage, _ sdk.Host) error {
	var c struct {
		Prefix *string `json:"prefix"`
	}
	if err := sdk.DecodeConfig(config, &c); err != nil {
		return err
	}
	if c.Prefix != nil {
		p.prefix = *c.Prefix
	}
	return nil
}

func (p *Plugin) Health(context.Context) error { return nil }

// Send answers prefix+idempotency key. Metadata "echo.fail" = "retryable"
// or "permanent" makes it fail that way (for outbox tests).
func (p *Plugin) Send(_ context.Context, m *sdk.Message) (string, error) {
	switch m.GetMetadata()["echo.fail"] {
	case "retryable":
		return "", sdk.Retryablef("asked to fail (retryable)")
	case "permanent":
		return "", sdk.Permanentf("asked to fail (permanent)")
	}
	if m.GetIdempotencyKey() == "" {
		return "", sdk.Invalidf("message without idempotency key")
	}
	return p.prefix + m.GetIdempotencyKey(), nil
}

// ParseInbound accepts {"email": "...", "type": "reply", "text": "..."} and
// returns it as one interaction.
func (p *Plugin) ParseInbound(_ context.Context, r *sdk.InboundRequest) (*sdk.InboundResponse, error) {
	var in struct{ Email, Type, Text string }
	if err := json.Unmarshal(r.GetBody(), &in); err != nil || in.Email == "" || in.Type == "" {
		return nil, sdk.Invalidf("expected a JSON object with email and type")
	}
	return &sdk.InboundResponse{StatusCode: 202, Interactions: []*sdk.Interaction{{
		Customer: &sdk.CustomerRef{Email: in.Email}, Type: in.Type, Text: in.Text, Channel: "echo"}}}, nil
}
