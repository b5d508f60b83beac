package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/retain-crm/retain/plugins/proto"
)

// This file holds the go-plugin shims: for each service a plugin.GRPCPlugin
// whose server side adapts the Go interface to the generated gRPC server and
// whose client side (used by the host) adapts the gRPC client back to the
// Go interface, translating errors both ways with ToStatus/FromStatus.

// MaxMessageBytes bounds every gRPC message in both directions. Larger ones
// fail with ErrTooLarge instead of exhausting memory.
const MaxMessageBytes = 16 << 20

// Handshake is the go-plugin handshake both sides use.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  pb.ProtocolVersion,
		MagicCookieKey:   pb.MagicCookieKey,
		MagicCookieValue: pb.MagicCookieValue,
	}
}

// ClientPluginSet is the plugin set a host dispenses from; the keys are
// pb.ServicePlugin, pb.ServiceChannel and pb.ServicePack.
func ClientPluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		pb.ServicePlugin:  &PluginGRPC{},
		pb.ServiceChannel: &ChannelGRPC{},
		pb.ServicePack:    &PackGRPC{},
	}
}

// GRPCServerOptions are the limits and the panic guard every plugin's gRPC
// server uses.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.ChainUnaryInterceptor(recoverUnary),
	}
}

// recoverUnary turns a panic in a handler into an Internal error, so one bad
// message does not kill the plugin and every message queued behind it.
func recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = status.Errorf(codes.Internal, "%s panicked: %v\n%s", info.FullMethod, r, debug.Stack())
		}
	}()
	return h(ctx, req)
}

// ---------------------------------------------------------------- Plugin

// PluginGRPC is the go-plugin shim of the Plugin service.
type PluginGRPC struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Plugin // server side only
}

func (p *PluginGRPC) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterPluginServer(s, &pluginServer{impl: p.Impl, broker: broker})
	return nil
}

func (p *PluginGRPC) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &PluginClient{c: pb.NewPluginClient(c), broker: broker}, nil
}

type pluginServer struct {
	pb.UnimplementedPluginServer
	impl   Plugin
	broker *plugin.GRPCBroker
}

func (s *pluginServer) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.Manifest, error) {
	m, err := s.impl.Describe(ctx)
	return m, ToStatus(err)
}

func (s *pluginServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	cfg, err := configObject(req.GetConfigJson())
	if err != nil {
		return nil, ToStatus(err)
	}
	var host Host = noHost{}
	if id := req.GetHostBrokerId(); id != 0 {
		conn, err := s.broker.DialWithOptions(id, grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)))
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "dial host service: %v", err)
		}
		host = &hostClient{c: pb.NewHostClient(conn)}
	}
	return &pb.ConfigureResponse{}, ToStatus(s.impl.Configure(ctx, cfg, host))
}

// configObject accepts a JSON object (empty input means {}).
func configObject(b []byte) (json.RawMessage, error) {
	if len(b) == 0 {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		return nil, Invalidf("configuration must be a JSON object: %v", err)
	}
	return json.RawMessage(b), nil
}

func (s *pluginServer) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	if err := s.impl.Health(ctx); err != nil {
		return &pb.HealthResponse{Status: pb.HealthResponse_STATUS_DEGRADED, Message: err.Error()}, nil
	}
	return &pb.HealthResponse{Status: pb.HealthResponse_STATUS_OK}, nil
}

// PluginClient is the host's side of the Plugin service.
type PluginClient struct {
	c      pb.PluginClient
	broker *plugin.GRPCBroker
}

// Describe asks for the manifest.
func (c *PluginClient) Describe(ctx context.Context) (*Manifest, error) {
	m, err := c.c.Describe(ctx, &pb.DescribeRequest{ProtocolVersion: pb.ProtocolVersion})
	return m, FromStatus(err)
}

// Configure sends the configuration and, when host is not nil, serves it to
// the plugin through the broker.
func (c *PluginClient) Configure(ctx context.Context, config json.RawMessage, host Host) error {
	var id uint32
	if host != nil {
		id = c.broker.NextId()
		go c.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(append(opts, GRPCServerOptions()...)...)
			pb.RegisterHostServer(s, &hostServer{impl: host})
			return s
		})
	}
	_, err := c.c.Configure(ctx, &pb.ConfigureRequest{ConfigJson: config, HostBrokerId: id})
	return FromStatus(err)
}

// Health pings; a degraded plugin answers with a *HealthError.
func (c *PluginClient) Health(ctx context.Context) error {
	r, err := c.c.Health(ctx, &pb.HealthRequest{})
	if err != nil {
		return FromStatus(err)
	}
	if r.GetStatus() != pb.HealthResponse_STATUS_OK {
		return &HealthError{Message: r.GetMessage()}
	}
	return nil
}

// HealthError is a plugin that answers but says it is degraded.
type HealthError struct{ Message string }

func (e *HealthError) Error() string { return "degraded: " + e.Message }

// ---------------------------------------------------------------- Channel

// ChannelGRPC is the go-plugin shim of the Channel service.
type ChannelGRPC struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Channel
}

func (p *ChannelGRPC) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterChannelServer(s, &channelServer{impl: p.Impl})
	return nil
}

func (p *ChannelGRPC) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &ChannelClient{c: pb.NewChannelClient(c)}, nil
}

type channelServer struct {
	pb.UnimplementedChannelServer
	impl Channel
}

func (s *channelServer) Send(ctx context.Context, req *pb.SendRequest) (*pb.SendResponse, error) {
	if req.GetMessage() == nil {
		return nil, ToStatus(Invalidf("no message"))
	}
	id, err := s.impl.Send(ctx, req.GetMessage())
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.SendResponse{ProviderId: id}, nil
}

func (s *channelServer) ParseInbound(ctx context.Context, req *pb.InboundRequest) (*pb.InboundResponse, error) {
	r, err := s.impl.ParseInbound(ctx, req)
	if err != nil {
		return nil, ToStatus(err)
	}
	if r == nil {
		r = &pb.InboundResponse{}
	}
	return r, nil
}

// ChannelClient is the host's side of the Channel service.
type ChannelClient struct{ c pb.ChannelClient }

func (c *ChannelClient) Send(ctx context.Context, msg *Message) (string, error) {
	r, err := c.c.Send(ctx, &pb.SendRequest{Message: msg})
	if err != nil {
		return "", FromStatus(err)
	}
	return r.GetProviderId(), nil
}

func (c *ChannelClient) ParseInbound(ctx context.Context, req *InboundRequest) (*InboundResponse, error) {
	r, err := c.c.ParseInbound(ctx, req)
	return r, FromStatus(err)
}

// ---------------------------------------------------------------- Pack

// PackGRPC is the go-plugin shim of the Pack service.
type PackGRPC struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Pack
}

func (p *PackGRPC) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterPackServer(s, &packServer{impl: p.Impl})
	return nil
}

func (p *PackGRPC) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &PackClient{c: pb.NewPackClient(c)}, nil
}

type packServer struct {
	pb.UnimplementedPackServer
	impl Pack
}

func (s *packServer) HandleEvents(ctx context.Context, req *pb.EventBatch) (*pb.ActionList, error) {
	a, err := s.impl.HandleEvents(ctx, req.GetEvents())
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.ActionList{Actions: a}, nil
}

func (s *packServer) Tick(ctx context.Context, req *pb.TickRequest) (*pb.ActionList, error) {
	a, err := s.impl.Tick(ctx, req.GetNow().AsTime())
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.ActionList{Actions: a}, nil
}

func (s *packServer) Contributions(ctx context.Context, _ *pb.ContributionsRequest) (*pb.ContributionsResponse, error) {
	r, err := s.impl.Contributions(ctx)
	if err != nil {
		return nil, ToStatus(err)
	}
	if r == nil {
		r = &pb.ContributionsResponse{}
	}
	return r, nil
}

func (s *packServer) CustomerPanel(ctx context.Context, req *pb.CustomerPanelRequest) (*pb.CustomerPanelResponse, error) {
	html, err := s.impl.CustomerPanel(ctx, req.GetCustomerId())
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.CustomerPanelResponse{Html: html}, nil
}

// PackClient is the host's side of the Pack service.
type PackClient struct{ c pb.PackClient }

func (c *PackClient) HandleEvents(ctx context.Context, events []*Event) ([]*Action, error) {
	r, err := c.c.HandleEvents(ctx, &pb.EventBatch{Events: events})
	return r.GetActions(), FromStatus(err)
}

func (c *PackClient) Tick(ctx context.Context, now time.Time) ([]*Action, error) {
	r, err := c.c.Tick(ctx, &pb.TickRequest{Now: timestamppb.New(now)})
	return r.GetActions(), FromStatus(err)
}

func (c *PackClient) Contributions(ctx context.Context) (*ContributionsResponse, error) {
	r, err := c.c.Contributions(ctx, &pb.ContributionsRequest{})
	return r, FromStatus(err)
}

func (c *PackClient) CustomerPanel(ctx context.Context, customerID string) (string, error) {
	r, err := c.c.CustomerPanel(ctx, &pb.CustomerPanelRequest{CustomerId: customerID})
	return r.GetHtml(), FromStatus(err)
}
