// Package sdktest runs a plugin in process, over real gRPC (go-plugin's
// test connection, the same shims and error translation as in production),
// without the CRM: plugin authors test Send, ParseInbound and their use of
// the Host API with it. Host is an in-memory host that enforces grants like
// the real one. It imports only plugins/sdk, plugins/proto and go-plugin.
package sdktest

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-plugin"

	pb "github.com/retain-crm/retain/plugins/proto"
	"github.com/retain-crm/retain/plugins/sdk"
)

// Harness is a plugin connected through gRPC.
type Harness struct {
	Plugin  *sdk.PluginClient
	Channel *sdk.ChannelClient // nil unless the plugin implements sdk.Channel
	Pack    *sdk.PackClient    // nil unless the plugin implements sdk.Pack
	Host    *Host
}

// Start connects impl, calls Describe, and Configure with config (nil: {})
// and a Host granting what the manifest asks for. It fails t on any error.
func Start(t testing.TB, impl sdk.Plugin, config json.RawMessage) *Harness {
	t.Helper()
	h := Connect(t, impl)
	if err := h.Configure(config); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return h
}

// Configure hands the plugin config (nil: {}) as the host would, with
// h.Host; what a refusal looks like to the CRM is what it returns
// (errors.Is(err, sdk.ErrInvalid)).
func (h *Harness) Configure(config json.RawMessage) error {
	if config == nil {
		config = json.RawMessage("{}")
	}
	return h.Plugin.Configure(context.Background(), config, h.Host)
}

// Connect is Start without Configure: for testing what your Configure
// refuses, including the empty configuration of a first start.
func Connect(t testing.TB, impl sdk.Plugin) *Harness {
	t.Helper()
	set := sdk.ServeConfig(impl).VersionedPlugins[pb.ProtocolVersion]
	client, _ := plugin.TestPluginGRPCConn(t, false, set)
	t.Cleanup(func() { client.Close() })
	h := &Harness{}
	raw, err := client.Dispense(pb.ServicePlugin)
	if err != nil {
		t.Fatal(err)
	}
	h.Plugin = raw.(*sdk.PluginClient)
	m, err := h.Plugin.Describe(context.Background())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	h.Host = NewHost(m.GetGrants())
	if _, ok := impl.(sdk.Channel); ok {
		raw, _ := client.Dispense(pb.ServiceChannel)
		h.Channel = raw.(*sdk.ChannelClient)
	}
	if _, ok := impl.(sdk.Pack); ok {
		raw, _ := client.Dispense(pb.ServicePack)
		h.Pack = raw.(*sdk.PackClient)
	}
	return h
}

// Host is an in-memory sdk.Host: customers by id, a key-value map and the
// emitted actions, checked against Grants.
type Host struct {
	mu        sync.Mutex
	Grants    *sdk.Grants
	Customers map[string]*sdk.Customer
	KV        map[string][]byte
	Actions   []*sdk.Action
}

// NewHost returns an empty host with grants.
func NewHost(g *sdk.Grants) *Host {
	return &Host{Grants: g, Customers: map[string]*sdk.Customer{}, KV: map[string][]byte{}}
}

func (h *Host) can(c string) error {
	if !slices.Contains(h.Grants.GetCapabilities(), c) {
		return sdk.PermissionDeniedf("capability %q not granted", c)
	}
	return nil
}

func (h *Host) GetCustomer(_ context.Context, id string, fields ...string) (*sdk.Customer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	granted := h.Grants.GetCustomerFields()
	if len(granted) == 0 {
		return nil, sdk.PermissionDeniedf("no customer fields granted")
	}
	for _, f := range fields {
		if !slices.Contains(granted, f) && !(strings.HasPrefix(f, "attributes.") && slices.Contains(granted, "attributes")) {
			return nil, sdk.PermissionDeniedf("customer field %q not granted", f)
		}
	}
	c, ok := h.Customers[id]
	if !ok {
		return nil, sdk.NotFoundf("customer %s", id)
	}
	return c, nil
}

func (h *Host) GetTimeline(context.Context, *sdk.GetTimelineRequest) (*sdk.TimelinePage, error) {
	if err := h.can(sdk.CapTimeline); err != nil {
		return nil, err
	}
	return &sdk.TimelinePage{}, nil
}

func (h *Host) QueryCustomers(context.Context, string, string, int) ([]string, string, error) {
	if err := h.can(sdk.CapQuery); err != nil {
		return nil, "", err
	}
	return nil, "", nil
}

func (h *Host) KVGet(_ context.Context, key string) ([]byte, bool, error) {
	if err := h.can(sdk.CapKV); err != nil {
		return nil, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.KV[key]
	return v, ok, nil
}

func (h *Host) KVPut(_ context.Context, key string, value []byte) error {
	if err := h.can(sdk.CapKV); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.KV[key] = slices.Clone(value)
	return nil
}

func (h *Host) KVDelete(_ context.Context, key string) error {
	if err := h.can(sdk.CapKV); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.KV, key)
	return nil
}

func (h *Host) KVList(_ context.Context, prefix, cursor string, limit int) ([]*sdk.KVPair, string, error) {
	if err := h.can(sdk.CapKV); err != nil {
		return nil, "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	for k := range h.KV {
		if strings.HasPrefix(k, prefix) && k > cursor {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if limit <= 0 {
		limit = 100
	}
	next := ""
	if len(keys) > limit {
		keys, next = keys[:limit], keys[limit-1]
	}
	out := make([]*sdk.KVPair, len(keys))
	for i, k := range keys {
		out[i] = &sdk.KVPair{Key: k, Value: h.KV[k]}
	}
	return out, next, nil
}

func (h *Host) EmitActions(_ context.Context, actions []*sdk.Action) ([]bool, error) {
	if err := h.can(sdk.CapActions); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Actions = append(h.Actions, actions...)
	applied := make([]bool, len(actions))
	for i := range applied {
		applied[i] = true
	}
	return applied, nil
}
