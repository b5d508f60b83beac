package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"time"

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

// MaxActions bounds one list of actions (an EmitActions call or the answer
// to one batch of events).
const MaxActions = core.MaxBatch

// applyActions carries out what a plugin asked for (DESIGN.md: plugins
// react, the host acts). The whole list is checked first — each customer's
// tags and attributes are changed in memory in list order and validated,
// interactions and messages normalised — so a list with anything wrong is
// refused before anything is written. Then it is written in few
// transactions: one per customer for tags and attributes (their net
// effect, so concurrent edits of other tags survive), one for all
// interactions, one per 1,000 messages. Every action is idempotent by its
// id (tags and attributes are states; interactions and messages carry keys
// derived from it), so a list cut short by a crash converges when it comes
// again. applied[i] is false when action i changed nothing.
func (a *App) applyActions(ctx context.Context, box *outbox.Service, plugin string, actions []*sdk.Action) ([]bool, error) {
	if len(actions) > MaxActions {
		return nil, fmt.Errorf("%w: %d actions in one list; at most %d", core.ErrTooLarge, len(actions), MaxActions)
	}
	applied := make([]bool, len(actions))
	src := "plugin " + plugin
	now := time.Now().UTC()
	type custState struct {
		before, after core.Customer
	}
	custs := map[core.ID]*custState{}
	customer := func(i int, id core.ID) (*custState, error) {
		if cs, ok := custs[id]; ok {
			return cs, nil
		}
		c, err := a.Service.GetCustomer(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("actions[%d]: %w", i, err)
		}
		after := c
		after.Tags = slices.Clone(c.Tags)
		after.Attributes = maps.Clone(c.Attributes)
		cs := &custState{before: c, after: after}
		custs[id] = cs
		return cs, nil
	}
	var ins []core.Interaction
	var insAt []int
	var msgs []core.OutboxMessage
	var msgAt []int
	for i, ac := range actions {
		field := func(f string) string { return fmt.Sprintf("actions[%d]%s", i, f) }
		id, err := core.ParseID(ac.GetCustomerId())
		if err != nil {
			return nil, core.FieldErr(field(".customer_id"), "%q is not a customer id", ac.GetCustomerId())
		}
		cs, err := customer(i, id)
		if err != nil {
			return nil, err
		}
		switch k := ac.GetKind().(type) {
		case *sdk.ActionAddTag, *sdk.ActionRemoveTag:
			raw, add := "", true
			if t, ok := k.(*sdk.ActionAddTag); ok {
				raw = t.AddTag
			} else {
				raw, add = k.(*sdk.ActionRemoveTag).RemoveTag, false
			}
			tag, err := core.NormalizeTag(raw)
			if err != nil {
				return nil, core.FieldErr(field(".tag"), "%v", err)
			}
			has := slices.Contains(cs.after.Tags, tag)
			switch {
			case add && !has:
				cs.after.Tags, applied[i] = append(cs.after.Tags, tag), true
			case !add && has:
				cs.after.Tags, applied[i] = slices.DeleteFunc(cs.after.Tags, func(t string) bool { return t == tag }), true
			}
		case *sdk.ActionSetAttribute:
			var v any
			if err := json.Unmarshal([]byte(k.SetAttribute.GetValueJson()), &v); err != nil {
				return nil, core.FieldErr(field(".set_attribute.value_json"), "not JSON")
			}
			key := k.SetAttribute.GetKey()
			old, had := cs.after.Attributes[key]
			if cs.after.Attributes == nil {
				cs.after.Attributes = map[string]any{}
			}
			if v == nil {
				delete(cs.after.Attributes, key)
				applied[i] = had
			} else {
				cs.after.Attributes[key] = v
				applied[i] = !had || !reflect.DeepEqual(old, v)
			}
		case *sdk.ActionAppendInteraction:
			pi := k.AppendInteraction
			in := core.Interaction{CustomerID: id, Type: core.InteractionType(pi.GetType()), Channel: core.Channel(pi.GetChannel()),
				Amount: pi.GetAmount(), Currency: pi.GetCurrency(), Properties: pi.GetProperties(), Text: pi.GetText(),
				IdempotencyKey: host.ActionInteractionKey(plugin, ac.GetId())}
			if pi.GetTime() != nil {
				in.Time = pi.GetTime().AsTime()
			}
			if err := a.Service.PrepareInteraction(&in, now); err != nil {
				return nil, fmt.Errorf("%s: %w", field(".append_interaction"), err)
			}
			ins, insAt = append(ins, in), append(insAt, i)
		case *sdk.ActionEnqueueMessage:
			if box == nil {
				return nil, fmt.Errorf("%w: the outbox is not running", core.ErrUnavailable)
			}
			pm := k.EnqueueMessage
			key := pm.GetIdempotencyKey()
			if key == "" {
				key = "action:" + ac.GetId()
			}
			m := core.OutboxMessage{Channel: pm.GetChannel(), CustomerID: id, IdempotencyKey: "plugin:" + plugin + ":" + key,
				Subject: pm.GetSubject(), Text: pm.GetText(), HTML: pm.GetHtml(), Headers: pm.GetHeaders(), Metadata: pm.GetMetadata()}
			check := m
			if err := check.Normalize(); err != nil {
				return nil, fmt.Errorf("%s: %w", field(".enqueue_message"), err)
			}
			msgs, msgAt = append(msgs, m), append(msgAt, i)
		default:
			return nil, core.FieldErr(field(""), "%T is not supported by this version of retain yet", k)
		}
	}
	// What the tags and attributes come to must be a valid customer.
	for id, cs := range custs {
		check := cs.after
		if err := check.Normalize(a.Service.DefaultCallingCode); err != nil {
			return nil, fmt.Errorf("actions for customer %s: %w", id, err)
		}
	}

	for id, cs := range custs {
		var p core.CustomerPatch
		for _, t := range cs.after.Tags {
			if !slices.Contains(cs.before.Tags, t) {
				p.AddTags = append(p.AddTags, t)
			}
		}
		for _, t := range cs.before.Tags {
			if !slices.Contains(cs.after.Tags, t) {
				p.RemoveTags = append(p.RemoveTags, t)
			}
		}
		for k, v := range cs.after.Attributes {
			if old, ok := cs.before.Attributes[k]; !ok || !reflect.DeepEqual(old, v) {
				if p.Attributes == nil {
					p.Attributes = map[string]any{}
				}
				p.Attributes[k] = v
			}
		}
		for k := range cs.before.Attributes {
			if _, ok := cs.after.Attributes[k]; !ok {
				if p.Attributes == nil {
					p.Attributes = map[string]any{}
				}
				p.Attributes[k] = nil
			}
		}
		if p.AddTags == nil && p.RemoveTags == nil && p.Attributes == nil {
			continue
		}
		if _, err := a.Service.UpdateCustomer(ctx, id, p, src); err != nil {
			return nil, fmt.Errorf("actions for customer %s: %w", id, err)
		}
	}
	if len(ins) > 0 {
		res, err := a.Service.AppendInteractions(ctx, ins)
		if err != nil {
			return nil, fmt.Errorf("actions: %w", err)
		}
		for k, r := range res {
			applied[insAt[k]] = !r.Duplicate
		}
	}
	for len(msgs) > 0 {
		n := min(len(msgs), core.MaxEnqueueBatch)
		_, dup, err := box.EnqueueBatch(ctx, msgs[:n], "plugin:"+plugin)
		if err != nil {
			return nil, fmt.Errorf("actions: %w", err)
		}
		for k, d := range dup {
			applied[msgAt[k]] = !d
		}
		msgs, msgAt = msgs[n:], msgAt[n:]
	}
	return applied, nil
}
