// Package sdk is what a Go plugin for retain imports: the interfaces a
// plugin implements (Plugin, and Channel and/or Pack), Serve to run it, the
// typed errors that cross the process boundary, and the Host client through
// which a plugin reads customers and keeps its state. Package sdktest
// exercises a plugin in process, without the CRM.
//
// It imports only plugins/proto, go-plugin, gRPC and protobuf — never the
// CRM's internals — so a plugin built on it is exactly what a third party
// would write. The host (plugins/host) uses the same package from the other
// side of the wire.
//
// The smallest channel plugin:
//
//	type echo struct{}
//
//	func (echo) Describe(context.Context) (*sdk.Manifest, error) {
//		return &sdk.Manifest{Name: "echo", Version: "1.0.0", Kinds: []sdk.Kind{sdk.KindChannel}}, nil
//	}
//	func (echo) Configure(context.Context, json.RawMessage, sdk.Host) error { return nil }
//	func (echo) Health(context.Context) error                           { return nil }
//	func (echo) Send(_ context.Context, m *sdk.Message) (string, error) { return "echo-" + m.IdempotencyKey, nil }
//	func (echo) ParseInbound(context.Context, *sdk.InboundRequest) (*sdk.InboundResponse, error) {
//		return &sdk.InboundResponse{}, nil
//	}
//
//	func main() { sdk.Serve(echo{}) }
package sdk

import (
	"context"
	"encoding/json"
	"time"

	pb "github.com/retain-crm/retain/plugins/proto"
)

// The protocol's messages, under the SDK's names. They are the generated
// protobuf types: read them with the Get methods, build them as struct
// literals.
type (
	Manifest              = pb.Manifest
	Grants                = pb.Grants
	Kind                  = pb.Kind
	Message               = pb.Message
	Contact               = pb.Contact
	InboundRequest        = pb.InboundRequest
	InboundResponse       = pb.InboundResponse
	Header                = pb.Header
	Interaction           = pb.Interaction
	CustomerRef           = pb.CustomerRef
	ConsentChange         = pb.ConsentChange
	Event                 = pb.Event
	Action                = pb.Action
	ContributionsResponse = pb.ContributionsResponse
	Customer              = pb.Customer
	GetTimelineRequest    = pb.GetTimelineRequest
	TimelinePage          = pb.TimelinePage
	KVPair                = pb.KVPair
	SetAttribute          = pb.SetAttribute
	Points                = pb.Points
	Task                  = pb.Task

	// The kinds of Action (its Kind field), e.g.
	// &sdk.Action{Id: "tag:" + ev.Id, CustomerId: ev.CustomerId, Kind: &sdk.ActionAddTag{AddTag: "vip"}}.
	ActionAddTag            = pb.Action_AddTag
	ActionRemoveTag         = pb.Action_RemoveTag
	ActionSetAttribute      = pb.Action_SetAttribute
	ActionAppendInteraction = pb.Action_AppendInteraction
	ActionAwardPoints       = pb.Action_AwardPoints
	ActionRedeemPoints      = pb.Action_RedeemPoints
	ActionEnqueueMessage    = pb.Action_EnqueueMessage
	ActionOpenTask          = pb.Action_OpenTask
)

// The plugin kinds.
const (
	KindChannel = pb.Kind_KIND_CHANNEL
	KindPack    = pb.Kind_KIND_PACK
)

// Capabilities a plugin may ask for in Grants.Capabilities.
const (
	CapTimeline = "timeline" // Host.GetTimeline
	CapQuery    = "query"    // Host.QueryCustomers
	CapKV       = "kv"       // Host.KV*
	CapActions  = "actions"  // Host.EmitActions
)

// Metadata keys the host sets on every message it hands to Send (beside
// the metadata the sender gave).
const (
	// MetaHookURL is the public URL of the plugin's inbound route
	// (server.base_url + "/hooks/" + plugin name), for links such as
	// one-click unsubscribe; empty when base_url is not configured.
	MetaHookURL = "retain.hook_url"
	// MetaOutboxID is the id of the outbox message.
	MetaOutboxID = "retain.outbox_id"
	// MetaAttempt is the attempt number, 1 for the first.
	MetaAttempt = "retain.attempt"
)

// Interaction types a channel reports from inbound requests (any other
// lower-case word is stored too).
const (
	TypeDelivered    = "delivered"
	TypeBounced      = "bounced"
	TypeFailed       = "failed"
	TypeOpened       = "opened"
	TypeClicked      = "clicked"
	TypeReplied      = "replied"
	TypeUnsubscribed = "unsubscribed"
)

// Plugin is what every plugin implements.
type Plugin interface {
	// Describe returns the manifest: name, version, kinds, config schema,
	// subscribed events and grants. It must not depend on configuration.
	Describe(ctx context.Context) (*Manifest, error)
	// Configure receives the configuration (a JSON object) and the Host
	// client, before any other call and again when an admin changes the
	// configuration. Refuse bad configuration with Invalidf.
	Configure(ctx context.Context, config json.RawMessage, host Host) error
	// Health answers the supervisor's ping quickly. A non-nil error marks
	// the plugin degraded (shown to admins; it is not restarted).
	Health(ctx context.Context) error
}

// Channel is implemented by plugins of kind KindChannel.
type Channel interface {
	// Send delivers one message and returns the provider's id for it.
	// Return Retryablef when trying again later may succeed (provider down,
	// rate limited) and Permanentf or Invalidf when it cannot (bad address).
	Send(ctx context.Context, msg *Message) (providerID string, err error)
	// ParseInbound turns a request to /hooks/{plugin}/... into interactions
	// and consent changes. Check signatures here; an error stores nothing.
	ParseInbound(ctx context.Context, req *InboundRequest) (*InboundResponse, error)
}

// Pack is implemented by plugins of kind KindPack.
type Pack interface {
	// HandleEvents gets the new interactions of the types in
	// Manifest.Events, in order and at least once (derive action ids from
	// event ids); its actions are applied before the next batch comes.
	HandleEvents(ctx context.Context, events []*Event) ([]*Action, error)
	// Tick is the clock (every plugins.tick_interval), never called at the
	// same time as HandleEvents.
	Tick(ctx context.Context, now time.Time) ([]*Action, error)
	Contributions(ctx context.Context) (*ContributionsResponse, error)
	// CustomerPanel returns an HTML fragment for the customer page ("" for none).
	CustomerPanel(ctx context.Context, customerID string) (string, error)
}

// Host is the CRM as a plugin sees it. Every call is checked against the
// plugin's grants: what was not granted fails with ErrPermissionDenied.
type Host interface {
	// GetCustomer reads the granted fields of a customer (fields empty:
	// all granted ones).
	GetCustomer(ctx context.Context, id string, fields ...string) (*Customer, error)
	GetTimeline(ctx context.Context, req *GetTimelineRequest) (*TimelinePage, error)
	// QueryCustomers returns the ids of customers matching a segment rule.
	QueryCustomers(ctx context.Context, ruleJSON, cursor string, limit int) (ids []string, next string, err error)
	// The plugin's own key-value space (keys up to 512 bytes, values up to 1 MiB).
	KVGet(ctx context.Context, key string) (value []byte, found bool, err error)
	KVPut(ctx context.Context, key string, value []byte) error
	KVDelete(ctx context.Context, key string) error
	KVList(ctx context.Context, prefix, cursor string, limit int) (items []*KVPair, next string, err error)
	// EmitActions asks the host to apply actions (idempotent by Action.Id);
	// applied[i] is false when the action's id was applied before.
	EmitActions(ctx context.Context, actions []*Action) (applied []bool, err error)
}
