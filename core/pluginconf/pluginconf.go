// Package pluginconf is what admins decide about plugins: their
// configuration (checked against the JSON Schema the plugin declared, then
// offered to the plugin's own Configure, and only then stored), the grants
// approved for a third-party plugin, and whether a plugin is switched off.
// Secrets (writeOnly properties) are never shown again: Redacted replaces
// them with a marker, and an update that leaves one empty keeps it.
//
// It imports core only; the store and the plugin host come in through
// core's ports (core.PluginSettingsStore, core.Plugins).
package pluginconf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/retain-crm/retain/core"
)

// RedactedValue stands in for a stored secret wherever configuration is
// shown; sent back unchanged in an update it keeps the secret.
const RedactedValue = "[redacted]"

// MaxReasonLen bounds the reason an admin gives for disabling a plugin.
const MaxReasonLen = 200

// Service reads and changes plugin settings.
type Service struct {
	Store   core.PluginSettingsStore
	Plugins core.Plugins
	Now     func() time.Time // nil: time.Now
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// Status returns the running host's view of plugin name.
func (s *Service) Status(name string) (core.PluginStatus, error) {
	for _, st := range s.Plugins.Statuses() {
		if st.Name == name {
			return st, nil
		}
	}
	return core.PluginStatus{}, core.NotFoundf("no plugin %q", name)
}

// Settings returns what is stored for name, or zero settings (with Name)
// when nothing was ever set.
func (s *Service) Settings(ctx context.Context, name string) (core.PluginSettings, error) {
	st, err := s.Store.GetPluginSettings(ctx, name)
	if errors.Is(err, core.ErrNotFound) {
		return core.PluginSettings{Name: name}, nil
	}
	return st, err
}

// SetConfig checks cfg (a JSON object) against the plugin's schema, hands
// it to the plugin and stores it. A writeOnly property that is absent,
// empty or RedactedValue keeps the stored secret; null removes it. Every
// schema problem comes back (joined core.FieldErrs); a plugin that refuses
// the configuration makes an ErrInvalid with its message — at the field
// when the message starts with a property name ("url: …"). Nothing is
// stored then.
//
// A plugin the host stopped (its configuration refused at start, or it
// kept crashing) is started with the new configuration and SetConfig waits
// for its answer, up to StartWait: refused, the old settings are put back.
// A plugin an admin disabled cannot check anything: the configuration is
// stored, and checked reports false (it is offered at the next start).
func (s *Service) SetConfig(ctx context.Context, name string, cfg json.RawMessage, by string) (checked bool, err error) {
	st, err := s.Status(name)
	if err != nil {
		return false, err
	}
	schema, err := ParseSchema(st.ConfigSchema)
	if err != nil {
		return false, err
	}
	v, err := parseValue(cfg, MaxConfigBytes)
	if err != nil {
		return false, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false, core.FieldErr("config", "must be a JSON object, not %s", article(kindOf(v)))
	}
	if schema == nil {
		if len(obj) > 0 {
			return false, core.FieldErr("config", "plugin %s declares no configuration (it takes none, or has not started yet to describe it)", name)
		}
	}
	stored, err := s.Settings(ctx, name)
	if err != nil {
		return false, err
	}
	keepSecrets(schema, obj, stored.Config)
	if err := Validate(schema, obj); err != nil {
		return false, err
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return false, fmt.Errorf("pluginconf: encoding the configuration: %w", err)
	}
	prev := stored
	live := st.State == core.PluginRunning || st.State == core.PluginDegraded
	if live {
		if err := s.Plugins.Configure(ctx, name, out); err != nil {
			return false, refusal(name, schema, err)
		}
	}
	stored.Name, stored.Config, stored.UpdatedAt, stored.UpdatedBy = name, out, s.now(), by
	if err := s.Store.PutPluginSettings(ctx, stored); err != nil {
		return false, err
	}
	switch {
	case live:
		return true, nil
	case st.State == core.PluginDisabled && !stored.Disabled:
		// Stopped by the host, not by an admin: start it with this one.
		since := time.Now().UTC()
		if err := s.Plugins.Enable(ctx, name); err != nil {
			return false, err
		}
		after, err := s.awaitStart(ctx, name, since)
		if err != nil {
			return false, err
		}
		if after.State == core.PluginDisabled {
			if err := s.Store.PutPluginSettings(ctx, prev); err != nil {
				return false, err
			}
			return false, refusal(name, schema, fmt.Errorf("%w: %s", core.ErrInvalid,
				strings.TrimPrefix(after.DisabledReason, "configuration refused: ")))
		}
		return after.State == core.PluginRunning || after.State == core.PluginDegraded, nil
	}
	return false, nil
}

// StartWait bounds how long SetConfig waits for a plugin it started.
var StartWait = 15 * time.Second

// awaitStart waits until name has started again (running) or stopped
// (disabled) since since; the last status when StartWait runs out.
func (s *Service) awaitStart(ctx context.Context, name string, since time.Time) (core.PluginStatus, error) {
	deadline := time.Now().Add(StartWait)
	for {
		st, err := s.Status(name)
		if err != nil {
			return st, err
		}
		started := (st.State == core.PluginRunning || st.State == core.PluginDegraded) && st.StartedAt.After(since)
		refused := st.State == core.PluginDisabled && st.LastErrorAt.After(since) && st.DisabledReason != ""
		if started || refused || time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// refusal is a plugin's no as core sees it: ErrInvalid, at the property
// its message starts with ("url: …", as docs/plugins.md asks), or about the
// configuration as a whole.
func refusal(name string, schema *Schema, err error) error {
	if !errors.Is(err, core.ErrInvalid) {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), core.ErrInvalid.Error()+": ")
	msg = strings.TrimPrefix(msg, "plugin "+name+": ")
	msg = strings.TrimPrefix(msg, "configuration: ")
	if key, rest, ok := strings.Cut(msg, ": "); ok && schema != nil && schema.Properties.Get(key) != nil {
		return core.FieldErr(key, "%s", rest)
	}
	return fmt.Errorf("%w: plugin %s refused the configuration: %s", core.ErrInvalid, name, msg)
}

// keepSecrets fills writeOnly properties an update left out, empty or
// redacted from the stored configuration, and drops those set to null.
func keepSecrets(schema *Schema, obj map[string]any, stored json.RawMessage) {
	if schema == nil {
		return
	}
	var old map[string]any
	if len(stored) > 0 {
		if v, err := parseValue(stored, MaxConfigBytes); err == nil {
			old, _ = v.(map[string]any)
		}
	}
	for _, p := range schema.Properties {
		if !p.Schema.WriteOnly {
			continue
		}
		nv, present := obj[p.Name]
		switch {
		case present && nv == nil:
			delete(obj, p.Name)
		case !present || nv == "" || nv == RedactedValue:
			if ov, ok := old[p.Name]; ok && ov != nil && ov != "" {
				obj[p.Name] = ov
			} else {
				delete(obj, p.Name)
			}
		}
	}
}

// Redacted returns the stored configuration with every writeOnly value
// that is set replaced by RedactedValue. Without a schema it cannot tell
// secrets from the rest, so every value is replaced.
func Redacted(cfg json.RawMessage, schemaSrc string) json.RawMessage {
	if len(cfg) == 0 {
		return nil
	}
	v, err := parseValue(cfg, MaxConfigBytes)
	obj, ok := v.(map[string]any)
	if err != nil || !ok {
		return json.RawMessage(`{}`)
	}
	schema, err := ParseSchema(schemaSrc)
	for k, x := range obj {
		secret := err != nil || schema == nil
		if !secret {
			if ps := schema.Properties.Get(k); ps != nil && ps.WriteOnly {
				secret = true
			}
		}
		if secret && x != nil && x != "" {
			obj[k] = RedactedValue
		}
	}
	b, _ := json.Marshal(obj)
	return b
}

// SecretsSet lists the writeOnly properties that hold a value, for the
// form's "set" / "not set".
func SecretsSet(cfg json.RawMessage, schema *Schema) map[string]bool {
	set := map[string]bool{}
	if schema == nil || len(cfg) == 0 {
		return set
	}
	v, err := parseValue(cfg, MaxConfigBytes)
	obj, _ := v.(map[string]any)
	if err != nil {
		return set
	}
	for _, p := range schema.Properties {
		if x, ok := obj[p.Name]; ok && p.Schema.WriteOnly && x != nil && x != "" {
			set[p.Name] = true
		}
	}
	return set
}

// Approve stores the grants an admin approved for a third-party plugin and
// restarts it, so it runs with them. Only what the plugin asked for can be
// approved; built-in plugins get what they ask for and need no approval.
func (s *Service) Approve(ctx context.Context, name string, grants core.PluginGrants, by string) error {
	st, err := s.Status(name)
	if err != nil {
		return err
	}
	if st.Builtin {
		return core.Invalidf("plugin %s is built in: it gets the grants it asks for", name)
	}
	clean := core.PluginGrants{}
	for i, f := range grants.CustomerFields {
		if !slices.Contains(st.Asked.CustomerFields, f) {
			return core.FieldErr(fmt.Sprintf("customer_fields[%d]", i), "plugin %s did not ask for %q", name, f)
		}
		if !slices.Contains(clean.CustomerFields, f) {
			clean.CustomerFields = append(clean.CustomerFields, f)
		}
	}
	for i, c := range grants.Capabilities {
		if !slices.Contains(st.Asked.Capabilities, c) {
			return core.FieldErr(fmt.Sprintf("capabilities[%d]", i), "plugin %s did not ask for %q", name, c)
		}
		if !slices.Contains(clean.Capabilities, c) {
			clean.Capabilities = append(clean.Capabilities, c)
		}
	}
	slices.Sort(clean.CustomerFields)
	slices.Sort(clean.Capabilities)
	stored, err := s.Settings(ctx, name)
	if err != nil {
		return err
	}
	stored.Name, stored.Approved, stored.UpdatedAt, stored.UpdatedBy = name, clean, s.now(), by
	if err := s.Store.PutPluginSettings(ctx, stored); err != nil {
		return err
	}
	return s.Plugins.Restart(ctx, name)
}

// SetEnabled switches a plugin on or off; the choice is stored so that it
// outlives a restart of retain.
func (s *Service) SetEnabled(ctx context.Context, name string, on bool, reason, by string) error {
	if _, err := s.Status(name); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	switch {
	case !utf8.ValidString(reason) || strings.ContainsFunc(reason, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return core.FieldErr("reason", "must be one line of text")
	case utf8.RuneCountInString(reason) > MaxReasonLen:
		return core.FieldErr("reason", "at most %d characters", MaxReasonLen)
	}
	stored, err := s.Settings(ctx, name)
	if err != nil {
		return err
	}
	stored.Name, stored.Disabled, stored.UpdatedAt, stored.UpdatedBy = name, !on, s.now(), by
	stored.DisabledReason = ""
	if !on {
		if reason == "" {
			reason = "disabled by " + by
		}
		stored.DisabledReason = reason
	}
	if err := s.Store.PutPluginSettings(ctx, stored); err != nil {
		return err
	}
	if on {
		return s.Plugins.Enable(ctx, name)
	}
	return s.Plugins.Disable(ctx, name, reason)
}

// Fields lists the field problems in err (a joined list from SetConfig, or
// one core.FieldErr), keyed by path; general problems are under "".
func Fields(err error) map[string]string {
	out := map[string]string{}
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *core.FieldError
		if errors.As(e, &fe) {
			if _, seen := out[fe.Field]; !seen {
				out[fe.Field] = fe.Message
			}
			return
		}
		if _, seen := out[""]; !seen {
			out[""] = strings.TrimPrefix(e.Error(), core.ErrInvalid.Error()+": ")
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
