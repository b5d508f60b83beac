package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/retain-crm/retain/core"
	pb "github.com/retain-crm/retain/plugins/proto"
	"github.com/retain-crm/retain/plugins/sdk"
)

// customerFields are the fields a grant may name ("attributes.KEY" too).
var customerFields = []string{"name", "emails", "phones", "address", "locale", "time_zone", "tags", "consent", "attributes"}

func knownField(f string) bool {
	return slices.Contains(customerFields, f) || strings.HasPrefix(f, "attributes.") && len(f) > len("attributes.")
}

// hostAPI is the Host service one plugin sees: every call is checked
// against its grants before anything is read.
type hostAPI struct {
	h      *Host
	plugin string
	grants core.PluginGrants
}

var _ sdk.Host = (*hostAPI)(nil)

func (a *hostAPI) can(capability string) error {
	if !slices.Contains(a.grants.Capabilities, capability) {
		return sdk.PermissionDeniedf("plugin %s was not granted %q", a.plugin, capability)
	}
	return nil
}

func (a *hostAPI) fieldGranted(f string) bool {
	if slices.Contains(a.grants.CustomerFields, f) {
		return true
	}
	return strings.HasPrefix(f, "attributes.") && slices.Contains(a.grants.CustomerFields, "attributes")
}

func (a *hostAPI) GetCustomer(ctx context.Context, id string, fields ...string) (*sdk.Customer, error) {
	if len(a.grants.CustomerFields) == 0 {
		return nil, sdk.PermissionDeniedf("plugin %s was granted no customer fields", a.plugin)
	}
	for _, f := range fields {
		if !knownField(f) {
			return nil, sdk.Invalidf("unknown customer field %q", f)
		}
		if !a.fieldGranted(f) {
			return nil, sdk.PermissionDeniedf("plugin %s was not granted customer field %q", a.plugin, f)
		}
	}
	if len(fields) == 0 {
		fields = a.grants.CustomerFields
	}
	if a.h.opts.Data == nil {
		return nil, sdk.ErrUnimplemented
	}
	cid, err := core.ParseID(id)
	if err != nil {
		return nil, sdk.Invalidf("customer id %q", id)
	}
	c, err := a.h.opts.Data.GetCustomer(ctx, cid)
	if err != nil {
		return nil, fromCore(err)
	}
	return limitCustomer(c, fields), nil
}

// limitCustomer copies only the named fields.
func limitCustomer(c core.Customer, fields []string) *pb.Customer {
	out := &pb.Customer{Id: c.ID.String(), ExternalId: c.ExternalID}
	for _, f := range fields {
		switch f {
		case "name":
			out.Name = c.Name
		case "emails":
			out.Emails = slices.Clone(c.Emails)
		case "phones":
			out.Phones = slices.Clone(c.Phones)
		case "address":
			b, _ := json.Marshal(c.Address)
			out.AddressJson = string(b)
		case "locale":
			out.Locale = c.Locale
		case "time_zone":
			out.TimeZone = c.TimeZone
		case "tags":
			out.Tags = slices.Clone(c.Tags)
		case "consent":
			out.Consent = map[string]string{}
			for ch, v := range c.Consent {
				out.Consent[string(ch)] = map[bool]string{true: "granted", false: "withdrawn"}[v.Granted]
			}
		default:
			key, all := strings.CutPrefix(f, "attributes.")
			for k, v := range c.Attributes {
				if f == "attributes" || (all && k == key) {
					if out.AttributesJson == nil {
						out.AttributesJson = map[string]string{}
					}
					b, _ := json.Marshal(v)
					out.AttributesJson[k] = string(b)
				}
			}
		}
	}
	return out
}

func (a *hostAPI) GetTimeline(ctx context.Context, req *sdk.GetTimelineRequest) (*sdk.TimelinePage, error) {
	if err := a.can(sdk.CapTimeline); err != nil {
		return nil, err
	}
	if a.h.opts.Data == nil {
		return nil, sdk.ErrUnimplemented
	}
	cid, err := core.ParseID(req.GetCustomerId())
	if err != nil {
		return nil, sdk.Invalidf("customer id %q", req.GetCustomerId())
	}
	q := core.TimelineQuery{Cursor: req.GetCursor(), Limit: int(req.GetLimit())}
	for _, t := range req.GetTypes() {
		q.Types = append(q.Types, core.InteractionType(t))
	}
	page, err := a.h.opts.Data.Timeline(ctx, cid, q)
	if err != nil {
		return nil, fromCore(err)
	}
	out := &pb.TimelinePage{Next: page.Next}
	for _, in := range page.Items {
		out.Interactions = append(out.Interactions, interactionPB(in))
	}
	return out, nil
}

func (a *hostAPI) QueryCustomers(ctx context.Context, rule, cursor string, limit int) ([]string, string, error) {
	if err := a.can(sdk.CapQuery); err != nil {
		return nil, "", err
	}
	if a.h.opts.Query == nil {
		return nil, "", sdk.ErrUnimplemented
	}
	if !json.Valid([]byte(rule)) {
		return nil, "", sdk.Invalidf("rule_json is not JSON")
	}
	ids, next, err := a.h.opts.Query(ctx, rule, cursor, limit)
	if err != nil {
		return nil, "", fromCore(err)
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out, next, nil
}

func (a *hostAPI) kv() (KV, error) {
	if err := a.can(sdk.CapKV); err != nil {
		return nil, err
	}
	if a.h.opts.KV == nil {
		return nil, sdk.ErrUnimplemented
	}
	return a.h.opts.KV, nil
}

func (a *hostAPI) KVGet(ctx context.Context, key string) ([]byte, bool, error) {
	kv, err := a.kv()
	if err != nil {
		return nil, false, err
	}
	v, ok, err := kv.PluginKVGet(ctx, a.plugin, key)
	return v, ok, fromCore(err)
}

func (a *hostAPI) KVPut(ctx context.Context, key string, value []byte) error {
	kv, err := a.kv()
	if err != nil {
		return err
	}
	return fromCore(kv.PluginKVPut(ctx, a.plugin, key, value))
}

func (a *hostAPI) KVDelete(ctx context.Context, key string) error {
	kv, err := a.kv()
	if err != nil {
		return err
	}
	return fromCore(kv.PluginKVDelete(ctx, a.plugin, key))
}

func (a *hostAPI) KVList(ctx context.Context, prefix, cursor string, limit int) ([]*sdk.KVPair, string, error) {
	kv, err := a.kv()
	if err != nil {
		return nil, "", err
	}
	items, next, err := kv.PluginKVList(ctx, a.plugin, prefix, cursor, limit)
	if err != nil {
		return nil, "", fromCore(err)
	}
	out := make([]*sdk.KVPair, len(items))
	for i, it := range items {
		out[i] = &pb.KVPair{Key: it.Key, Value: it.Value}
	}
	return out, next, nil
}

func (a *hostAPI) EmitActions(ctx context.Context, actions []*sdk.Action) ([]bool, error) {
	if err := a.can(sdk.CapActions); err != nil {
		return nil, err
	}
	if a.h.opts.Actions == nil {
		return nil, sdk.ErrUnimplemented
	}
	for i, ac := range actions {
		if ac.GetId() == "" {
			return nil, sdk.Invalidf("actions[%d]: id is required (it makes the action idempotent)", i)
		}
		if ac.GetKind() == nil {
			return nil, sdk.Invalidf("actions[%d]: no action", i)
		}
	}
	applied, err := a.h.opts.Actions(ctx, a.plugin, actions)
	return applied, fromCore(err)
}

// fromCore translates core's error kinds into the SDK's for the wire.
func fromCore(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range []struct{ core, sdk error }{
		{core.ErrNotFound, sdk.ErrNotFound},
		{core.ErrInvalid, sdk.ErrInvalid},
		{core.ErrTooLarge, sdk.ErrTooLarge},
		{core.ErrForbidden, sdk.ErrPermissionDenied},
		{core.ErrUnavailable, sdk.ErrRetryable},
		{context.DeadlineExceeded, context.DeadlineExceeded},
		{context.Canceled, context.Canceled},
	} {
		if errors.Is(err, k.core) {
			return &sdk.Error{Kind: k.sdk, Message: err.Error()}
		}
	}
	return fmt.Errorf("host: %v", err)
}
