package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/outbox"
	"github.com/retain-crm/retain/core/segments"
	"github.com/retain-crm/retain/plugins/builtin"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/plugins/sdk"
)

// This file wires the plugin host and the outbox: which plugins start,
// what the Host API may read and do, and where admins' settings live.

// pluginSpecs lists the plugins the configuration asks for: built-ins by
// re-executing this binary, third-party executables by their pins.
func pluginSpecs(cfgBuiltin []string, dir string, pinned map[string]string) ([]host.Spec, error) {
	var specs []host.Spec
	if len(cfgBuiltin) > 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("plugins: finding this binary to start built-in plugins: %w", err)
		}
		for _, n := range cfgBuiltin {
			if !builtin.Has(n) {
				return nil, fmt.Errorf("%w: plugins.builtin: no built-in plugin %q (built-ins: %v)", core.ErrInvalid, n, builtin.Names())
			}
			specs = append(specs, host.BuiltinSpec(exe, n))
		}
	}
	if len(pinned) > 0 {
		tp, err := host.ThirdPartySpecs(dir, pinned)
		if err != nil {
			return nil, err
		}
		specs = append(specs, tp...)
	}
	return specs, nil
}

// newHost builds the plugin host (not started) over the app's data.
func (a *App) newHost(specs []host.Spec, segs *segments.Maintainer, box func() *outbox.Service, log *slog.Logger) (*host.Host, error) {
	settings := func(name string) core.PluginSettings {
		s, err := a.Store.GetPluginSettings(context.Background(), name)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			log.Warn("reading plugin settings failed", "plugin", name, "err", err)
		}
		return s
	}
	opts := host.Options{
		Config: a.Cfg.Plugins, Specs: specs, Logger: log, Data: a.Service, KV: a.Store, Events: a.Store, HostVersion: Version,
		Approved:     func(name string) core.PluginGrants { return settings(name).Approved },
		PluginConfig: func(name string) json.RawMessage { return settings(name).Config },
		StartDisabled: func(name string) (string, bool) {
			s := settings(name)
			return s.DisabledReason, s.Disabled
		},
		Actions: func(ctx context.Context, plugin string, actions []*sdk.Action) ([]bool, error) {
			return a.applyActions(ctx, box(), plugin, actions)
		},
	}
	if segs != nil {
		opts.Query = func(ctx context.Context, ruleJSON, cursor string, limit int) ([]core.ID, string, error) {
			rule, err := core.ParseRule([]byte(ruleJSON))
			if err != nil {
				return nil, "", err
			}
			return segs.Query(ctx, rule, cursor, limit)
		}
	}
	return host.New(opts)
}

// applyActions carries out what a plugin asked for (DESIGN.md: plugins
// react, the host acts). Every action is idempotent by its id: tags and
// attributes are states, interactions and messages carry keys derived from
// the id. The list is checked whole before anything is applied, so a bad
// action refuses the call instead of half of it.
func (a *App) applyActions(ctx context.Context, box *outbox.Service, plugin string, actions []*sdk.Action) ([]bool, error) {
	ids := make([]core.ID, len(actions))
	for i, ac := range actions {
		id, err := core.ParseID(ac.GetCustomerId())
		if err != nil {
			return nil, core.FieldErr(fmt.Sprintf("actions[%d].customer_id", i), "%q is not a customer id", ac.GetCustomerId())
		}
		ids[i] = id
		switch k := ac.GetKind().(type) {
		case *sdk.ActionAddTag, *sdk.ActionRemoveTag, *sdk.ActionAppendInteraction:
		case *sdk.ActionSetAttribute:
			if !json.Valid([]byte(k.SetAttribute.GetValueJson())) {
				return nil, core.FieldErr(fmt.Sprintf("actions[%d].set_attribute.value_json", i), "not JSON")
			}
		case *sdk.ActionEnqueueMessage:
			if box == nil {
				return nil, fmt.Errorf("%w: the outbox is not running", core.ErrUnavailable)
			}
		default:
			return nil, core.FieldErr(fmt.Sprintf("actions[%d]", i), "%T is not supported by this version of retain yet", k)
		}
	}
	applied := make([]bool, len(actions))
	src := "plugin " + plugin
	for i, ac := range actions {
		var err error
		switch k := ac.GetKind().(type) {
		case *sdk.ActionAddTag, *sdk.ActionRemoveTag:
			var before core.Customer
			if before, err = a.Service.GetCustomer(ctx, ids[i]); err != nil {
				break
			}
			p := core.CustomerPatch{}
			if t, ok := k.(*sdk.ActionAddTag); ok {
				p.AddTags = []string{t.AddTag}
			} else {
				p.RemoveTags = []string{k.(*sdk.ActionRemoveTag).RemoveTag}
			}
			var after core.Customer
			if after, err = a.Service.UpdateCustomer(ctx, ids[i], p, src); err == nil {
				applied[i] = !slices.Equal(before.Tags, after.Tags)
			}
		case *sdk.ActionSetAttribute:
			var v any
			_ = json.Unmarshal([]byte(k.SetAttribute.GetValueJson()), &v)
			key := k.SetAttribute.GetKey()
			var before, after core.Customer
			if before, err = a.Service.GetCustomer(ctx, ids[i]); err != nil {
				break
			}
			if after, err = a.Service.UpdateCustomer(ctx, ids[i], core.CustomerPatch{Attributes: map[string]any{key: v}}, src); err == nil {
				applied[i] = !reflect.DeepEqual(before.Attributes[key], after.Attributes[key])
			}
		case *sdk.ActionAppendInteraction:
			pi := k.AppendInteraction
			in := core.Interaction{CustomerID: ids[i], Type: core.InteractionType(pi.GetType()), Channel: core.Channel(pi.GetChannel()),
				Amount: pi.GetAmount(), Currency: pi.GetCurrency(), Properties: pi.GetProperties(), Text: pi.GetText(),
				IdempotencyKey: host.ActionInteractionKey(plugin, ac.GetId())}
			if pi.GetTime() != nil {
				in.Time = pi.GetTime().AsTime()
			}
			var res []core.AppendResult
			if res, err = a.Service.AppendInteractions(ctx, []core.Interaction{in}); err == nil {
				applied[i] = !res[0].Duplicate
			}
		case *sdk.ActionEnqueueMessage:
			pm := k.EnqueueMessage
			key := pm.GetIdempotencyKey()
			if key == "" {
				key = "action:" + ac.GetId()
			}
			m := core.OutboxMessage{Channel: pm.GetChannel(), CustomerID: ids[i], IdempotencyKey: "plugin:" + plugin + ":" + key,
				Subject: pm.GetSubject(), Text: pm.GetText(), HTML: pm.GetHtml(), Headers: pm.GetHeaders(), Metadata: pm.GetMetadata()}
			var dup bool
			if _, dup, err = box.Enqueue(ctx, m, "plugin:"+plugin); err == nil {
				applied[i] = !dup
			}
		}
		if err != nil {
			return nil, fmt.Errorf("actions[%d]: %w", i, err)
		}
	}
	return applied, nil
}
