// Package email is the built-in e-mail channel: it delivers messages over
// SMTP (STARTTLS, implicit TLS or, to loopback, plain; optional AUTH)
// through a small pool of kept-open connections, derives each Message-ID
// from the message's idempotency key (so a resend after a crash carries the
// same id and the receiver can drop it), and offers RFC 8058 one-click
// unsubscribe: Send adds List-Unsubscribe headers pointing at
// /hooks/email/unsubscribe, and ParseInbound turns the POST there into a
// withdrawn consent.
//
// Like every built-in it imports only plugins/sdk (and well-kept
// libraries: wneessen/go-mail for SMTP), as a third party would.
// Package emailtest is the SMTP server its tests (and the CRM's) run.
package email

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/retain-crm/retain/plugins/sdk"
)

// Name is the plugin's and the channel's name.
const Name = "email"

// kvSecret is the key-value key of the generated unsubscribe secret.
const kvSecret = "unsubscribe_secret"

// Plugin is the email channel. The zero value is not configured; use New.
type Plugin struct {
	mu      sync.Mutex // serialises Configure
	st      atomic.Pointer[state]
	failure atomic.Pointer[failure] // the last connection failure, nil after a success
}

// state is one configuration with its connections; Configure swaps it
// whole, so a Send in flight finishes on the state it started with.
type state struct {
	cfg    *config
	client *gomail.Client // settings and dialling; safe for concurrent use
	pool   *pool
	secret []byte
}

type failure struct {
	err error
	at  time.Time
}

var (
	_ sdk.Plugin  = (*Plugin)(nil)
	_ sdk.Channel = (*Plugin)(nil)
)

// New returns the plugin (the registry's constructor).
func New() sdk.Plugin { return &Plugin{} }

// Describe returns the manifest. The plugin asks for the key-value space
// only: the host fills the recipient from the customer, so it reads no
// customer fields.
func (p *Plugin) Describe(context.Context) (*sdk.Manifest, error) {
	return &sdk.Manifest{
		Name: Name, Version: "1.0.0",
		Description: "E-mail over SMTP (STARTTLS/TLS, AUTH) with Message-IDs from the idempotency key and RFC 8058 one-click unsubscribe",
		Kinds:       []sdk.Kind{sdk.KindChannel}, Channels: []string{Name},
		ConfigSchemaJson: schema,
		Grants:           &sdk.Grants{Capabilities: []string{sdk.CapKV}},
	}, nil
}

// Configure checks the configuration, finds or creates the unsubscribe
// secret and replaces the connection pool.
func (p *Plugin) Configure(ctx context.Context, raw json.RawMessage, host sdk.Host) error {
	cfg, err := parseConfig(raw)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	secret, err := unsubscribeSecret(ctx, cfg, host)
	if err != nil {
		return err
	}
	client, err := newClient(cfg)
	if err != nil {
		return sdk.Invalidf("email configuration: %v", err)
	}
	st := &state{cfg: cfg, client: client, pool: newPool(cfg.MaxConnections), secret: secret}
	if old := p.st.Swap(st); old != nil {
		old.pool.close()
	}
	p.failure.Store(nil)
	return nil
}

// unsubscribeSecret is the configured secret, else the one kept in the
// host's key-value space, else a new random one stored there (once, so
// links in mail already sent keep working after a restart).
func unsubscribeSecret(ctx context.Context, cfg *config, host sdk.Host) ([]byte, error) {
	if cfg.UnsubscribeSecret != "" {
		return []byte(cfg.UnsubscribeSecret), nil
	}
	if host == nil {
		return nil, sdk.Invalidf("unsubscribe_secret: required when the host offers no key-value space")
	}
	v, found, err := host.KVGet(ctx, kvSecret)
	if err != nil {
		return nil, kvError(err)
	}
	if found && len(v) >= 16 {
		return v, nil
	}
	v = make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		return nil, fmt.Errorf("unsubscribe secret: %w", err)
	}
	if err := host.KVPut(ctx, kvSecret, v); err != nil {
		return nil, kvError(err)
	}
	return v, nil
}

func kvError(err error) error {
	if errors.Is(err, sdk.ErrPermissionDenied) || errors.Is(err, sdk.ErrUnimplemented) {
		return sdk.Invalidf("unsubscribe_secret: required when the host offers no key-value space (%v)", err)
	}
	return sdk.Retryablef("reading the unsubscribe secret from the host: %v", err)
}

// Health reports a connection failure of the last two minutes that no
// success followed (the plugin is then shown degraded, not restarted).
func (p *Plugin) Health(context.Context) error {
	if p.st.Load() == nil {
		return errors.New("not configured")
	}
	if f := p.failure.Load(); f != nil && time.Since(f.at) < 2*time.Minute {
		return fmt.Errorf("SMTP server unreachable since %s: %v", f.at.Format(time.RFC3339), f.err)
	}
	return nil
}

func (p *Plugin) noteFailure(err error) { p.failure.Store(&failure{err: err, at: time.Now()}) }

func (p *Plugin) noteSuccess() {
	if p.failure.Load() != nil {
		p.failure.Store(nil)
	}
}
