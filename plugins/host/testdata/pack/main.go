// Command pack is a small pack built only by the host's tests: it follows
// every interaction ("*"), answers each with a tag, an attribute and an
// interaction of its own, and ticks by setting an attribute on the
// customer named in its configuration (required: it refuses to start
// without). An interaction with the property
// "poison" makes it fail the whole batch (permanently).
package main

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
)

type pack struct{ tickCustomer string }

func (p *pack) Describe(context.Context) (*sdk.Manifest, error) {
	return &sdk.Manifest{Name: "pack", Version: "1.0.0", Kinds: []sdk.Kind{sdk.KindPack}, Events: []string{"*"},
		ConfigSchemaJson: `{"type":"object","required":["tick_customer"],"properties":{"tick_customer":{"type":"string"}}}`,
		Grants:           &sdk.Grants{Capabilities: []string{sdk.CapActions, sdk.CapTimeline}}}, nil
}

func (p *pack) Configure(_ context.Context, config json.RawMessage, _ sdk.Host) error {
	var c struct {
		TickCustomer string `json:"tick_customer"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return sdk.Invalidf("%v", err)
	}
	if c.TickCustomer == "" {
		// Strict on purpose: the host's tests check that an admin can
		// still configure a plugin that refused its first configuration.
		return sdk.Invalidf("tick_customer: required")
	}
	if c.TickCustomer == "nobody" {
		return sdk.Invalidf("tick_customer: no such customer")
	}
	p.tickCustomer = c.TickCustomer
	return nil
}

func (p *pack) Health(context.Context) error { return nil }

func (p *pack) HandleEvents(_ context.Context, events []*sdk.Event) ([]*sdk.Action, error) {
	var out []*sdk.Action
	for _, ev := range events {
		in := ev.GetInteraction()
		if in == nil {
			return nil, sdk.Permanentf("event %s without its interaction", ev.GetId())
		}
		if in.GetProperties()["poison"] != "" {
			return nil, sdk.Permanentf("cannot digest %s", ev.GetId())
		}
		out = append(out,
			&sdk.Action{Id: "tag:" + ev.GetId(), CustomerId: ev.GetCustomerId(), Kind: &sdk.ActionAddTag{AddTag: "seen-" + ev.GetType()}},
			&sdk.Action{Id: "amount:" + ev.GetId(), CustomerId: ev.GetCustomerId(), Kind: &sdk.ActionSetAttribute{
				SetAttribute: &sdk.SetAttribute{Key: "last_amount", ValueJson: strconv.FormatInt(in.GetAmount(), 10)}}},
			&sdk.Action{Id: "echo:" + ev.GetId(), CustomerId: ev.GetCustomerId(), Kind: &sdk.ActionAppendInteraction{
				AppendInteraction: &sdk.Interaction{Type: "pack_seen", Text: ev.GetId()}}})
	}
	return out, nil
}

func (p *pack) Tick(_ context.Context, now time.Time) ([]*sdk.Action, error) {
	if p.tickCustomer == "" {
		return nil, nil
	}
	return []*sdk.Action{{Id: "tick", CustomerId: p.tickCustomer, Kind: &sdk.ActionSetAttribute{
		SetAttribute: &sdk.SetAttribute{Key: "ticked", ValueJson: "true"}}}}, nil
}

func (p *pack) Contributions(context.Context) (*sdk.ContributionsResponse, error) {
	return &sdk.ContributionsResponse{PanelTitle: "Pack\x00 panel"}, nil
}

func (p *pack) CustomerPanel(_ context.Context, id string) (string, error) {
	if id == "" {
		return "", sdk.Invalidf("no customer")
	}
	return "<p>Customer " + id + "</p>", nil
}

func main() { sdk.Serve(&pack{}) }
