package sdk

import (
	"context"

	pb "github.com/retain-crm/retain/plugins/proto"
)

// hostClient is the plugin's side of the Host service.
type hostClient struct{ c pb.HostClient }

func (h *hostClient) GetCustomer(ctx context.Context, id string, fields ...string) (*Customer, error) {
	r, err := h.c.GetCustomer(ctx, &pb.GetCustomerRequest{CustomerId: id, Fields: fields})
	return r, FromStatus(err)
}

func (h *hostClient) GetTimeline(ctx context.Context, req *GetTimelineRequest) (*TimelinePage, error) {
	r, err := h.c.GetTimeline(ctx, req)
	return r, FromStatus(err)
}

func (h *hostClient) QueryCustomers(ctx context.Context, rule, cursor string, limit int) ([]string, string, error) {
	r, err := h.c.QueryCustomers(ctx, &pb.QueryCustomersRequest{RuleJson: rule, Cursor: cursor, Limit: int32(limit)})
	return r.GetCustomerIds(), r.GetNext(), FromStatus(err)
}

func (h *hostClient) KVGet(ctx context.Context, key string) ([]byte, bool, error) {
	r, err := h.c.KVGet(ctx, &pb.KVGetRequest{Key: key})
	return r.GetValue(), r.GetFound(), FromStatus(err)
}

func (h *hostClient) KVPut(ctx context.Context, key string, value []byte) error {
	_, err := h.c.KVPut(ctx, &pb.KVPutRequest{Key: key, Value: value})
	return FromStatus(err)
}

func (h *hostClient) KVDelete(ctx context.Context, key string) error {
	_, err := h.c.KVDelete(ctx, &pb.KVDeleteRequest{Key: key})
	return FromStatus(err)
}

func (h *hostClient) KVList(ctx context.Context, prefix, cursor string, limit int) ([]*KVPair, string, error) {
	r, err := h.c.KVList(ctx, &pb.KVListRequest{Prefix: prefix, Cursor: cursor, Limit: int32(limit)})
	return r.GetItems(), r.GetNext(), FromStatus(err)
}

func (h *hostClient) EmitActions(ctx context.Context, actions []*Action) ([]bool, error) {
	r, err := h.c.EmitActions(ctx, &pb.ActionList{Actions: actions})
	return r.GetApplied(), FromStatus(err)
}

// hostServer serves a Host implementation (the CRM's, or sdktest's) over gRPC.
type hostServer struct {
	pb.UnimplementedHostServer
	impl Host
}

func (s *hostServer) GetCustomer(ctx context.Context, req *pb.GetCustomerRequest) (*pb.Customer, error) {
	c, err := s.impl.GetCustomer(ctx, req.GetCustomerId(), req.GetFields()...)
	return c, ToStatus(err)
}

func (s *hostServer) GetTimeline(ctx context.Context, req *pb.GetTimelineRequest) (*pb.TimelinePage, error) {
	p, err := s.impl.GetTimeline(ctx, req)
	return p, ToStatus(err)
}

func (s *hostServer) QueryCustomers(ctx context.Context, req *pb.QueryCustomersRequest) (*pb.CustomerIDPage, error) {
	ids, next, err := s.impl.QueryCustomers(ctx, req.GetRuleJson(), req.GetCursor(), int(req.GetLimit()))
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.CustomerIDPage{CustomerIds: ids, Next: next}, nil
}

func (s *hostServer) KVGet(ctx context.Context, req *pb.KVGetRequest) (*pb.KVGetResponse, error) {
	v, ok, err := s.impl.KVGet(ctx, req.GetKey())
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.KVGetResponse{Found: ok, Value: v}, nil
}

func (s *hostServer) KVPut(ctx context.Context, req *pb.KVPutRequest) (*pb.KVPutResponse, error) {
	return &pb.KVPutResponse{}, ToStatus(s.impl.KVPut(ctx, req.GetKey(), req.GetValue()))
}

func (s *hostServer) KVDelete(ctx context.Context, req *pb.KVDeleteRequest) (*pb.KVDeleteResponse, error) {
	return &pb.KVDeleteResponse{}, ToStatus(s.impl.KVDelete(ctx, req.GetKey()))
}

func (s *hostServer) KVList(ctx context.Context, req *pb.KVListRequest) (*pb.KVListResponse, error) {
	items, next, err := s.impl.KVList(ctx, req.GetPrefix(), req.GetCursor(), int(req.GetLimit()))
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.KVListResponse{Items: items, Next: next}, nil
}

func (s *hostServer) EmitActions(ctx context.Context, req *pb.ActionList) (*pb.EmitActionsResponse, error) {
	applied, err := s.impl.EmitActions(ctx, req.GetActions())
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.EmitActionsResponse{Applied: applied}, nil
}

// noHost is the Host of a plugin started without a host service: every call
// is unimplemented.
type noHost struct{}

func (noHost) GetCustomer(context.Context, string, ...string) (*Customer, error) {
	return nil, ErrUnimplemented
}
func (noHost) GetTimeline(context.Context, *GetTimelineRequest) (*TimelinePage, error) {
	return nil, ErrUnimplemented
}
func (noHost) QueryCustomers(context.Context, string, string, int) ([]string, string, error) {
	return nil, "", ErrUnimplemented
}
func (noHost) KVGet(context.Context, string) ([]byte, bool, error) {
	return nil, false, ErrUnimplemented
}
func (noHost) KVPut(context.Context, string, []byte) error { return ErrUnimplemented }
func (noHost) KVDelete(context.Context, string) error      { return ErrUnimplemented }
func (noHost) KVList(context.Context, string, string, int) ([]*KVPair, string, error) {
	return nil, "", ErrUnimplemented
}
func (noHost) EmitActions(context.Context, []*Action) ([]bool, error) { return nil, ErrUnimplemented }
