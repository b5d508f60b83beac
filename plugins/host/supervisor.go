package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/plugins/sdk"
)

// proc is one supervised plugin: at most one process at a time.
type proc struct {
	h    *Host
	spec Spec
	log  *slog.Logger

	enable  chan struct{}
	disable chan string
	poke    chan struct{} // check health now (a call failed)
	restart chan struct{} // stop and start again (grants changed)

	mu     sync.Mutex
	st     core.PluginStatus
	client *plugin.Client
	plug   *sdk.PluginClient
	ch     *sdk.ChannelClient
	pack   *sdk.PackClient
	api    *hostAPI
	gen    int // starts so far; tests wait for it to move

	// The pack's place in the change log (events.go).
	evCursor   uint64
	evLoaded   bool
	evFailures int
	evLastErr  string // logged already
}

// errRestart ends watch when an admin asked for a restart: not a crash.
var errRestart = errors.New("restart requested")

// disabled is why run stops restarting a plugin.
type disabled struct{ reason string }

func (d disabled) Error() string { return d.reason }

func (p *proc) status() core.PluginStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Kinds = slices.Clone(st.Kinds)
	st.Channels = slices.Clone(st.Channels)
	return st
}

// Generation is how many times the plugin has been started.
func (p *proc) generation() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

func (p *proc) set(f func(st *core.PluginStatus)) {
	p.mu.Lock()
	f(&p.st)
	p.mu.Unlock()
}

// channel returns the Channel client while the plugin runs.
func (p *proc) channel() (sdk.Channel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.ch != nil && p.st.State != core.PluginStarting:
		return p.ch, nil
	case (p.st.State == core.PluginRunning || p.st.State == core.PluginDegraded) && !slices.Contains(p.st.Kinds, "channel"):
		return nil, core.Invalidf("plugin %s is not a channel", p.spec.Name)
	}
	// Going down or coming up (the client is cleared a moment before the
	// state says so): retryable, and not an attempt.
	return nil, fmt.Errorf("%w: %w: plugin %s is %s", core.ErrUnavailable, core.ErrPluginDown, p.spec.Name, p.st.State)
}

// alive tells whether the plugin process still answers, after a call to
// it failed in a retryable way: a plugin that answers its health check
// was alive, so the failure was its provider's; one that does not (killed,
// restarting) was never really asked.
func (p *proc) alive(ctx context.Context) bool {
	p.mu.Lock()
	plug, client := p.plug, p.client
	p.mu.Unlock()
	if plug == nil || client == nil || client.Exited() {
		return false
	}
	// Not the call's context: it may be what ran out (a slow provider).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
	defer cancel()
	err := plug.Health(cctx)
	var he *sdk.HealthError
	return err == nil || errors.As(err, &he) // degraded still answers
}

// check asks the supervisor to ping now when a call failed in a way that
// may mean the process died.
func (p *proc) check(err error) {
	if sdk.IsRetryable(err) {
		select {
		case p.poke <- struct{}{}:
		default:
		}
	}
}

// run starts the plugin and keeps it running until ctx ends.
func (p *proc) run(ctx context.Context) {
	cfg := p.h.opts.Config
	backoff := cfg.RestartBackoff
	var crashes []time.Time
	if p.h.opts.StartDisabled != nil {
		if reason, off := p.h.opts.StartDisabled(p.spec.Name); off {
			p.set(func(st *core.PluginStatus) { st.State, st.DisabledReason = core.PluginDisabled, reason })
			select {
			case <-ctx.Done():
				p.set(func(st *core.PluginStatus) { st.State = core.PluginStopped })
				return
			case <-p.enable:
				p.set(func(st *core.PluginStatus) { st.DisabledReason = "" })
				p.drain()
			}
		}
	}
	for ctx.Err() == nil {
		startedAt := time.Now()
		err := p.start(ctx)
		if err == nil {
			err = p.watch(ctx)
		}
		p.kill(ctx.Err() != nil || errors.Is(err, errRestart))
		if ctx.Err() != nil {
			p.set(func(st *core.PluginStatus) { st.State, st.PID = core.PluginStopped, 0 })
			return
		}
		if errors.Is(err, errRestart) {
			p.log.Info("plugin restarting on request")
			continue
		}
		if time.Since(startedAt) > cfg.CrashWindow {
			backoff = cfg.RestartBackoff // it ran well for a while
		}
		var d disabled
		var r errRefused
		byAdmin := false
		switch {
		case errors.As(err, &d):
			byAdmin = true
		case errors.As(err, &r):
			d = disabled{r.msg}
		default:
			now := time.Now()
			crashes = append(crashes, now)
			crashes = slices.DeleteFunc(crashes, func(t time.Time) bool { return now.Sub(t) > cfg.CrashWindow })
			if len(crashes) >= cfg.MaxCrashes {
				d = disabled{fmt.Sprintf("crashed %d times within %s; last: %v", len(crashes), cfg.CrashWindow, err)}
			}
		}
		p.set(func(st *core.PluginStatus) {
			st.LastError, st.LastErrorAt, st.PID = err.Error(), time.Now().UTC(), 0
		})
		if d.reason != "" {
			lvl := slog.LevelError // it cannot run: someone must look
			if byAdmin {
				lvl = slog.LevelInfo
			}
			p.log.Log(ctx, lvl, "plugin disabled", "reason", d.reason)
			p.set(func(st *core.PluginStatus) { st.State, st.DisabledReason = core.PluginDisabled, d.reason })
			select {
			case <-ctx.Done():
				continue
			case <-p.enable:
				crashes, backoff = nil, cfg.RestartBackoff
				p.set(func(st *core.PluginStatus) { st.DisabledReason = "" })
				p.drain()
				continue
			}
		}
		p.log.Warn("plugin failed; restarting", "error", err, "backoff", backoff)
		p.set(func(st *core.PluginStatus) { st.State = core.PluginRestarting; st.Restarts++ })
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		case reason := <-p.disable:
			p.set(func(st *core.PluginStatus) { st.State, st.DisabledReason = core.PluginDisabled, reason })
			select {
			case <-ctx.Done():
			case <-p.enable:
				crashes, backoff = nil, cfg.RestartBackoff
				p.set(func(st *core.PluginStatus) { st.DisabledReason = "" })
			}
			continue
		}
		backoff = min(2*backoff, cfg.MaxBackoff)
	}
}

// drain forgets a disable request that arrived while disabled.
func (p *proc) drain() {
	select {
	case <-p.disable:
	default:
	}
}

// start launches the process, checks the manifest and configures it.
func (p *proc) start(ctx context.Context) error {
	p.set(func(st *core.PluginStatus) { st.State = core.PluginStarting })
	if p.spec.SHA256 != "" {
		if _, err := verify(p.spec); err != nil {
			return err
		}
	}
	client := plugin.NewClient(p.h.clientConfig(p))
	p.mu.Lock()
	p.client, p.gen = client, p.gen+1
	p.mu.Unlock()
	rpc, err := client.Client()
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	raw, err := rpc.Dispense("plugin")
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	plug := raw.(*sdk.PluginClient)
	cctx, cancel := context.WithTimeout(ctx, p.h.opts.CallTimeout)
	defer cancel()
	m, err := plug.Describe(cctx)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if err := p.checkManifest(m); err != nil {
		return err
	}
	grants := p.effectiveGrants(m.GetGrants())
	// What the manifest says is known now, before Configure: an admin can
	// fix a configuration the plugin refused (the form needs the schema)
	// and approve what it asks for while it is not running.
	p.set(func(st *core.PluginStatus) {
		st.Version, st.ConfigSchema, st.Events = m.GetVersion(), m.GetConfigSchemaJson(), slices.Clone(m.GetEvents())
		st.Asked = core.PluginGrants{CustomerFields: slices.Clone(m.GetGrants().GetCustomerFields()),
			Capabilities: slices.Clone(m.GetGrants().GetCapabilities())}
	})
	var ch *sdk.ChannelClient
	var pack *sdk.PackClient
	var kinds []string
	for _, k := range m.GetKinds() {
		switch k {
		case sdk.KindChannel:
			raw, err := rpc.Dispense("channel")
			if err != nil {
				return fmt.Errorf("start: %w", err)
			}
			ch, kinds = raw.(*sdk.ChannelClient), append(kinds, "channel")
		case sdk.KindPack:
			raw, err := rpc.Dispense("pack")
			if err != nil {
				return fmt.Errorf("start: %w", err)
			}
			pack, kinds = raw.(*sdk.PackClient), append(kinds, "pack")
		}
	}
	conf := json.RawMessage("{}")
	if p.h.opts.PluginConfig != nil {
		if c := p.h.opts.PluginConfig(p.spec.Name); len(c) > 0 {
			conf = c
		}
	}
	api := &hostAPI{h: p.h, plugin: p.spec.Name, grants: grants}
	if err := plug.Configure(cctx, conf, api); err != nil {
		if errors.Is(err, sdk.ErrInvalid) {
			return errRefused{"configuration refused: " + kindMessage(err)}
		}
		return fmt.Errorf("configure: %w", err)
	}
	panel := ""
	if pack != nil {
		// A pack that cannot say what it contributes still runs; it just
		// has no panel.
		if c, err := pack.Contributions(cctx); err == nil {
			panel = c.GetPanelTitle()
		} else if !errors.Is(err, sdk.ErrUnimplemented) {
			p.log.Warn("contributions failed; no customer panel", "err", err)
		}
	}
	channels := m.GetChannels()
	if ch != nil && len(channels) == 0 {
		channels = []string{m.GetName()}
	}
	if ch == nil {
		channels = nil
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	p.mu.Lock()
	p.plug, p.ch, p.pack, p.api = plug, ch, pack, api
	p.st.Version, p.st.Kinds, p.st.Channels, p.st.PID = m.GetVersion(), kinds, slices.Clone(channels), pid
	p.st.Grants, p.st.ConfigSchema, p.st.Events = grants, m.GetConfigSchemaJson(), slices.Clone(m.GetEvents())
	p.st.PanelTitle = clip(panel, 80)
	p.st.State, p.st.StartedAt, p.st.LastHealthy, p.st.Health = core.PluginRunning, time.Now().UTC(), time.Now().UTC(), ""
	p.mu.Unlock()
	p.log.Info("plugin started", "version", m.GetVersion(), "pid", pid, "kinds", kinds)
	return nil
}

// checkManifest refuses a manifest the host cannot honour.
func (p *proc) checkManifest(m *sdk.Manifest) error {
	if m.GetName() != p.spec.Name {
		return errRefused{fmt.Sprintf("plugin calls itself %q but was started as %q", m.GetName(), p.spec.Name)}
	}
	if len(m.GetKinds()) == 0 {
		return errRefused{"manifest names no kind (channel or pack)"}
	}
	for _, k := range m.GetKinds() {
		if k != sdk.KindChannel && k != sdk.KindPack {
			return errRefused{fmt.Sprintf("manifest names unknown kind %v", k)}
		}
	}
	if s := m.GetConfigSchemaJson(); s != "" && !json.Valid([]byte(s)) {
		return errRefused{"config_schema_json is not JSON"}
	}
	for _, f := range m.GetGrants().GetCustomerFields() {
		if !knownField(f) {
			return errRefused{fmt.Sprintf("grants name unknown customer field %q", f)}
		}
	}
	for _, c := range m.GetGrants().GetCapabilities() {
		if !slices.Contains([]string{sdk.CapTimeline, sdk.CapQuery, sdk.CapKV, sdk.CapActions}, c) {
			return errRefused{fmt.Sprintf("grants name unknown capability %q", c)}
		}
	}
	return nil
}

// effectiveGrants: a built-in gets what it asks for (it is part of the
// reviewed binary); a third-party plugin what it asks for and an admin
// approved.
func (p *proc) effectiveGrants(asked *sdk.Grants) core.PluginGrants {
	g := core.PluginGrants{CustomerFields: slices.Clone(asked.GetCustomerFields()),
		Capabilities: slices.Clone(asked.GetCapabilities())}
	if p.spec.Builtin {
		return g
	}
	var ok core.PluginGrants
	if p.h.opts.Approved != nil {
		ok = p.h.opts.Approved(p.spec.Name)
	}
	keep := func(have []string, allowed []string) []string {
		return slices.DeleteFunc(have, func(x string) bool { return !slices.Contains(allowed, x) })
	}
	return core.PluginGrants{CustomerFields: keep(g.CustomerFields, ok.CustomerFields),
		Capabilities: keep(g.Capabilities, ok.Capabilities)}
}

// watch pings the plugin until it fails, ctx ends or it is disabled.
func (p *proc) watch(ctx context.Context) error {
	cfg := p.h.opts.Config
	t := time.NewTicker(cfg.HealthInterval)
	defer t.Stop()
	p.mu.Lock()
	client, plug := p.client, p.plug
	p.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case reason := <-p.disable:
			return disabled{reason}
		case <-p.restart:
			return errRestart
		case <-t.C:
		case <-p.poke:
		}
		if client.Exited() {
			return errors.New("plugin process exited")
		}
		hctx, cancel := context.WithTimeout(ctx, cfg.HealthTimeout)
		err := plug.Health(hctx)
		cancel()
		var he *sdk.HealthError
		switch {
		case err == nil:
			p.set(func(st *core.PluginStatus) {
				st.State, st.Health, st.LastHealthy = core.PluginRunning, "", time.Now().UTC()
			})
		case errors.As(err, &he):
			p.set(func(st *core.PluginStatus) { st.State, st.Health = core.PluginDegraded, he.Message })
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("plugin hung: no answer to the health check within %s", cfg.HealthTimeout)
		default:
			if client.Exited() {
				return errors.New("plugin process exited")
			}
			return fmt.Errorf("health check failed: %w", err)
		}
	}
}

// kill ends the current process. graceful asks it to shut down first (host
// stopping); otherwise it has crashed or hung and is killed at once, with
// its whole process group.
func (p *proc) kill(graceful bool) {
	p.mu.Lock()
	client := p.client
	pid := p.st.PID
	p.client, p.plug, p.ch, p.pack, p.api = nil, nil, nil, nil, nil
	p.mu.Unlock()
	if client == nil {
		return
	}
	if pid == 0 {
		if rc := client.ReattachConfig(); rc != nil {
			pid = rc.Pid
		}
	}
	if !graceful {
		killGroup(pid)
	}
	client.Kill()
	killGroup(pid) // children the plugin started
}
