package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	pb "github.com/retain-crm/retain/plugins/proto"
	"github.com/retain-crm/retain/plugins/sdk"
)

// Data is what the Host API reads about customers (core.Service has it).
type Data interface {
	GetCustomer(ctx context.Context, id core.ID) (core.Customer, error)
	Timeline(ctx context.Context, customerID core.ID, q core.TimelineQuery) (core.Page[core.Interaction], error)
}

// KV is the plugins' key-value store (store.DB has it).
type KV interface {
	PluginKVGet(ctx context.Context, plugin, key string) ([]byte, bool, error)
	PluginKVPut(ctx context.Context, plugin, key string, value []byte) error
	PluginKVDelete(ctx context.Context, plugin, key string) error
	PluginKVList(ctx context.Context, plugin, prefix, cursor string, limit int) ([]core.KVPair, string, error)
}

// QueryFunc returns the ids of customers matching a segment rule.
type QueryFunc func(ctx context.Context, ruleJSON, cursor string, limit int) ([]core.ID, string, error)

// ActionsFunc applies a plugin's actions (idempotently by action id).
type ActionsFunc func(ctx context.Context, plugin string, actions []*sdk.Action) ([]bool, error)

// Options configure a Host. Data, KV, Query and Actions may be nil: the
// corresponding Host API calls then answer Unimplemented.
type Options struct {
	Config config.Plugins
	Specs  []Spec
	Logger *slog.Logger
	// Environ is the host environment the allowlist (Config.Env) picks
	// from; nil means os.Environ().
	Environ []string
	Data    Data
	KV      KV
	Query   QueryFunc
	Actions ActionsFunc
	// Events is the change log packs are fed from (events.go); nil: packs
	// get no events or ticks. Their cursors are kept in KV.
	Events Events
	// Approved returns the grants an admin approved for a third-party
	// plugin; a plugin gets what it asks for and is approved (built-ins get
	// what they ask for). Nil approves nothing for third-party plugins.
	Approved func(name string) core.PluginGrants
	// PluginConfig returns a plugin's configuration (a JSON object); nil: {}.
	PluginConfig func(name string) json.RawMessage
	// StartDisabled says which plugins an admin disabled (they wait for
	// Enable instead of starting); nil: none.
	StartDisabled func(name string) (reason string, disabled bool)
	HostVersion   string
	// CallTimeout bounds start-up calls (Describe, Configure); 0 means 10s.
	CallTimeout time.Duration
}

// Host launches and supervises the plugins.
type Host struct {
	opts   Options
	log    *slog.Logger
	procs  map[string]*proc
	names  []string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ core.Channels = (*Host)(nil)
	_ core.Plugins  = (*Host)(nil)
)

// New checks the specs; Start launches them.
func New(opts Options) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = 10 * time.Second
	}
	// Zero intervals would panic the tickers; config.Validate keeps them
	// sane, these cover an Options built by hand.
	if opts.Config.HealthInterval <= 0 {
		opts.Config.HealthInterval = 10 * time.Second
	}
	if opts.Config.EventPollInterval <= 0 {
		opts.Config.EventPollInterval = time.Second
	}
	if opts.Config.TickInterval <= 0 {
		opts.Config.TickInterval = time.Minute
	}
	h := &Host{opts: opts, log: opts.Logger, procs: map[string]*proc{}}
	for _, s := range opts.Specs {
		if _, dup := h.procs[s.Name]; dup {
			return nil, fmt.Errorf("%w: two plugins named %q", core.ErrConflict, s.Name)
		}
		p := &proc{h: h, spec: s, log: h.log.With("plugin", s.Name), enable: make(chan struct{}, 1),
			disable: make(chan string, 1), poke: make(chan struct{}, 1), restart: make(chan struct{}, 1)}
		p.st = core.PluginStatus{Name: s.Name, Builtin: s.Builtin, State: core.PluginStopped}
		if !s.Builtin {
			p.st.Path, p.st.SHA256 = s.Path, s.SHA256
		}
		h.procs[s.Name] = p
		h.names = append(h.names, s.Name)
	}
	sort.Strings(h.names)
	return h, nil
}

// Start launches every plugin and supervises it until Stop.
func (h *Host) Start(ctx context.Context) {
	ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, n := range h.names {
		p := h.procs[n]
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			p.run(ctx)
		}()
		if h.opts.Events != nil && h.opts.KV != nil {
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				p.dispatch(ctx)
			}()
		}
	}
}

// Stop stops every plugin and waits for their processes to end.
func (h *Host) Stop() {
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
}

// Statuses reports every plugin, by name.
func (h *Host) Statuses() []core.PluginStatus {
	out := make([]core.PluginStatus, 0, len(h.names))
	for _, n := range h.names {
		out = append(out, h.procs[n].status())
	}
	return out
}

// Status reports one plugin.
func (h *Host) Status(name string) (core.PluginStatus, bool) {
	p, ok := h.procs[name]
	if !ok {
		return core.PluginStatus{}, false
	}
	return p.status(), true
}

// Enable starts a disabled plugin again, forgetting its crashes.
func (h *Host) Enable(_ context.Context, name string) error {
	p, ok := h.procs[name]
	if !ok {
		return core.NotFoundf("plugin %q", name)
	}
	select {
	case p.enable <- struct{}{}:
	default:
	}
	return nil
}

// Disable stops a plugin until Enable.
func (h *Host) Disable(_ context.Context, name, reason string) error {
	p, ok := h.procs[name]
	if !ok {
		return core.NotFoundf("plugin %q", name)
	}
	if reason == "" {
		reason = "disabled by an admin"
	}
	select {
	case p.disable <- reason:
	default:
	}
	return nil
}

// Configure hands a running plugin new configuration (core.Plugins).
func (h *Host) Configure(ctx context.Context, name string, conf json.RawMessage) error {
	p, ok := h.procs[name]
	if !ok {
		return core.NotFoundf("plugin %q", name)
	}
	p.mu.Lock()
	plug, api := p.plug, p.api
	p.mu.Unlock()
	if plug == nil {
		return nil // it reads the stored configuration when it starts
	}
	cctx, cancel := context.WithTimeout(ctx, h.opts.CallTimeout)
	defer cancel()
	if err := plug.Configure(cctx, conf, api); err != nil {
		return toCore(name, err)
	}
	// Ask for its health now: a plugin that said "not configured" should
	// not look degraded for another health interval.
	select {
	case p.poke <- struct{}{}:
	default:
	}
	return nil
}

// Restart stops a plugin and starts it again (core.Plugins).
func (h *Host) Restart(_ context.Context, name string) error {
	p, ok := h.procs[name]
	if !ok {
		return core.NotFoundf("plugin %q", name)
	}
	select {
	case p.restart <- struct{}{}:
	default:
	}
	return nil
}

// ParseInbound hands an inbound request to plugin (core.Channels). A bad
// signature or token (PermissionDenied from the plugin) is ErrUnauthorized.
func (h *Host) ParseInbound(ctx context.Context, plugin string, r core.InboundRequest) (core.InboundParsed, error) {
	p, ok := h.procs[plugin]
	if !ok {
		return core.InboundParsed{}, core.NotFoundf("plugin %q", plugin)
	}
	ch, err := p.channel()
	if err != nil {
		return core.InboundParsed{}, err
	}
	req := &pb.InboundRequest{Method: r.Method, Path: r.Path, Body: r.Body, RemoteAddr: r.RemoteAddr}
	for name, vs := range r.Headers {
		for _, v := range vs {
			req.Headers = append(req.Headers, &pb.Header{Name: name, Value: v})
		}
	}
	sort.Slice(req.Headers, func(i, j int) bool { return req.Headers[i].Name < req.Headers[j].Name })
	resp, err := ch.ParseInbound(ctx, req)
	if err != nil {
		if errors.Is(err, sdk.ErrPermissionDenied) {
			return core.InboundParsed{}, fmt.Errorf("%w: plugin %s: %v", core.ErrUnauthorized, plugin, err)
		}
		p.check(err)
		return core.InboundParsed{}, toCore(plugin, err)
	}
	return inboundFromPB(resp), nil
}

// inboundFromPB converts what a plugin answered; customer ids that do not
// parse become zero (the reference then names nobody by id).
func inboundFromPB(r *pb.InboundResponse) core.InboundParsed {
	out := core.InboundParsed{Status: int(r.GetStatusCode()), ContentType: r.GetContentType(), Body: r.GetBody()}
	ref := func(c *pb.CustomerRef) core.CustomerRef {
		id, _ := core.ParseID(c.GetId())
		return core.CustomerRef{ID: id, ExternalID: c.GetExternalId(), Email: c.GetEmail(), Phone: c.GetPhone()}
	}
	for _, in := range r.GetInteractions() {
		it := core.Interaction{Type: core.InteractionType(in.GetType()), Channel: core.Channel(in.GetChannel()),
			Amount: in.GetAmount(), Currency: in.GetCurrency(), Properties: in.GetProperties(), Text: in.GetText(),
			IdempotencyKey: in.GetIdempotencyKey()}
		if in.GetTime() != nil {
			it.Time = in.GetTime().AsTime()
		}
		out.Interactions = append(out.Interactions, core.InboundInteraction{Customer: ref(in.GetCustomer()),
			MessageKey: in.GetMessageKey(), ProviderID: in.GetProviderId(), Interaction: it})
	}
	for _, c := range r.GetConsentChanges() {
		cc := core.InboundConsent{Customer: ref(c.GetCustomer()), Channel: core.Channel(c.GetChannel()),
			Granted: c.GetGranted(), Source: c.GetSource()}
		if c.GetTime() != nil {
			cc.At = c.GetTime().AsTime()
		}
		out.Consent = append(out.Consent, cc)
	}
	return out
}

// ChannelNames lists the channels of the plugins running now, sorted: the
// outbox leaves the messages of a restarting or disabled plugin queued
// instead of spending their attempts on it.
func (h *Host) ChannelNames() []string {
	var out []string
	for _, n := range h.names {
		if st := h.procs[n].status(); st.State == core.PluginRunning || st.State == core.PluginDegraded {
			out = append(out, st.Channels...)
		}
	}
	sort.Strings(out)
	return out
}

func (h *Host) channelProc(channel string) *proc {
	for _, n := range h.names {
		if slices.Contains(h.procs[n].status().Channels, channel) {
			return h.procs[n]
		}
	}
	return nil
}

// Send hands msg to the plugin serving channel (core.Channels).
func (h *Host) Send(ctx context.Context, channel string, msg core.OutboundMessage) (string, error) {
	p := h.channelProc(channel)
	if p == nil {
		// Retryable: the plugin may be starting, restarting or disabled for now.
		return "", fmt.Errorf("%w: %w: no running plugin serves channel %q", core.ErrUnavailable, core.ErrPluginDown, channel)
	}
	m := &pb.Message{IdempotencyKey: msg.IdempotencyKey, Channel: channel, Subject: msg.Subject,
		Text: msg.Text, Html: msg.HTML, Headers: msg.Headers, Metadata: msg.Metadata,
		Recipient: &pb.Contact{Name: msg.Recipient.Name, Email: msg.Recipient.Email, Phone: msg.Recipient.Phone,
			Address: msg.Recipient.Address, Locale: msg.Recipient.Locale}}
	if msg.Recipient.CustomerID != 0 {
		m.Recipient.CustomerId = msg.Recipient.CustomerID.String()
	}
	if msg.IdempotencyKey == "" {
		return "", core.FieldErr("idempotency_key", "required")
	}
	ch, err := p.channel()
	if err != nil {
		return "", err
	}
	id, err := ch.Send(ctx, m)
	if err != nil {
		p.check(err)
		cerr := toCore(p.spec.Name, err)
		if sdk.IsRetryable(err) && !p.alive(ctx) {
			// The process went away under the call: the provider was not
			// the problem.
			return "", fmt.Errorf("%w: %w", core.ErrPluginDown, cerr)
		}
		return "", cerr
	}
	return id, nil
}

// Channel returns the Channel client of plugin name while it runs (the
// inbound webhook route uses ParseInbound through it). Errors are the
// SDK's kinds; ToCore translates them.
func (h *Host) Channel(name string) (sdk.Channel, error) {
	p, ok := h.procs[name]
	if !ok {
		return nil, core.NotFoundf("plugin %q", name)
	}
	return p.channel()
}

// ToCore translates an SDK error kind from plugin into core's kinds.
func ToCore(plugin string, err error) error { return toCore(plugin, err) }

// toCore is the one translation from the SDK's error kinds (what crossed
// the wire) to core's. Everything retrying may fix wraps ErrUnavailable.
// The message is "plugin NAME: " and the plugin's own words, without the
// kind words of either side (staff read it in the outbox and on pages).
func toCore(plugin string, err error) error {
	if err == nil {
		return nil
	}
	e := &pluginError{msg: "plugin " + plugin + ": " + kindMessage(err)}
	if errors.Is(err, sdk.ErrBounced) {
		e.kinds = []error{core.ErrInvalid, core.ErrBounced}
		return e
	}
	kinds := []struct{ sdk, core error }{
		{sdk.ErrRetryable, core.ErrUnavailable},
		{context.DeadlineExceeded, core.ErrUnavailable},
		{context.Canceled, core.ErrUnavailable},
		{sdk.ErrInvalid, core.ErrInvalid},
		{sdk.ErrPermanent, core.ErrInvalid},
		{sdk.ErrUnimplemented, core.ErrInvalid},
		{sdk.ErrPermissionDenied, core.ErrForbidden},
		{sdk.ErrNotFound, core.ErrNotFound},
		{sdk.ErrTooLarge, core.ErrTooLarge},
	}
	e.kinds = []error{core.ErrInvalid}
	for _, k := range kinds {
		if errors.Is(err, k.sdk) {
			e.kinds = []error{k.core}
			break
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		e.msg = "plugin " + plugin + ": no answer in time"
	}
	return e
}

// kindMessage is what the plugin said, without the SDK's kind word.
func kindMessage(err error) string {
	var se *sdk.Error
	if errors.As(err, &se) {
		return se.Message
	}
	return err.Error()
}

// pluginError is a plugin's failure as core sees it: of core's kinds, in
// the plugin's words.
type pluginError struct {
	kinds []error
	msg   string
}

func (e *pluginError) Error() string   { return e.msg }
func (e *pluginError) Unwrap() []error { return e.kinds }

// clientConfig is the go-plugin configuration of one launch.
func (h *Host) clientConfig(p *proc) *plugin.ClientConfig {
	return &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{pb.ProtocolVersion: sdk.ClientPluginSet()},
		Cmd:              command(p.spec, h.opts.Environ, h.opts.Config.Env),
		SkipHostEnv:      true,
		AutoMTLS:         true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     h.opts.CallTimeout,
		Logger:           hclogToSlog(p.log),
		SyncStdout:       &lineLogger{log: p.log, stream: "stdout"},
		SyncStderr:       &lineLogger{log: p.log, stream: "stderr"},
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(sdk.MaxMessageBytes), grpc.MaxCallSendMsgSize(sdk.MaxMessageBytes))},
	}
}
