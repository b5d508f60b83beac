package sdk

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The error kinds that cross the plugin boundary. Wrap them (or use the
// constructors below) and test with errors.Is; the host sees the same kind.
var (
	// ErrRetryable: trying again later may succeed (provider down, rate
	// limited, timed out, plugin restarting).
	ErrRetryable = errors.New("retryable")
	// ErrPermanent: retrying will not help (the provider refused the message).
	ErrPermanent = errors.New("permanent")
	// ErrInvalid: the input is malformed (bad configuration, bad request).
	ErrInvalid = errors.New("invalid")
	// ErrPermissionDenied: outside the plugin's grants, or a forged request.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNotFound: the customer or key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnimplemented: the plugin or host does not offer this call.
	ErrUnimplemented = errors.New("unimplemented")
	// ErrTooLarge: a message or value over the size limits (permanent).
	ErrTooLarge = errors.New("too large")
	// ErrBounced: the receiving system refused the recipient for good
	// (unknown mailbox, number not in service) — a hard bounce. Permanent
	// like ErrPermanent; the host records a bounced interaction, not a
	// failed one, so the business can tell a dead address from a problem
	// with the message or the provider.
	ErrBounced = errors.New("bounced")
)

// BounceReason is the google.rpc.ErrorInfo reason that marks a
// FAILED_PRECONDITION status as a hard bounce on the wire; plugins in other
// languages attach it to say "bounced" (see docs/plugins.md, Errors).
const (
	BounceReason = "BOUNCED"
	ErrorDomain  = "plugins.retain-crm"
)

// Retryablef, Permanentf, Invalidf, PermissionDeniedf and NotFoundf build
// errors of each kind.
func Retryablef(format string, args ...any) error { return kindf(ErrRetryable, format, args...) }
func Permanentf(format string, args ...any) error { return kindf(ErrPermanent, format, args...) }
func Invalidf(format string, args ...any) error   { return kindf(ErrInvalid, format, args...) }
func PermissionDeniedf(format string, args ...any) error {
	return kindf(ErrPermissionDenied, format, args...)
}
func NotFoundf(format string, args ...any) error { return kindf(ErrNotFound, format, args...) }

// Bouncedf says the receiver refused the recipient for good (see ErrBounced).
func Bouncedf(format string, args ...any) error { return kindf(ErrBounced, format, args...) }

func kindf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Error is an error of one kind with a message; what FromStatus returns.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// IsRetryable reports whether retrying the call may help.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrRetryable) || errors.Is(err, context.DeadlineExceeded)
}

// codeTable is the one translation between kinds and gRPC codes (after
// vault's sdk/plugin/pb/translation.go). toCode uses the first row whose
// kind matches; fromCode the first row whose code matches, so several codes
// may map to one kind but each kind has one code on the wire.
var codeTable = []struct {
	kind error
	code codes.Code
}{
	{ErrRetryable, codes.Unavailable},
	{ErrPermanent, codes.FailedPrecondition},
	{ErrInvalid, codes.InvalidArgument},
	{ErrPermissionDenied, codes.PermissionDenied},
	{ErrNotFound, codes.NotFound},
	{ErrUnimplemented, codes.Unimplemented},
	{ErrTooLarge, codes.ResourceExhausted}, // gRPC's own code for an oversized message
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
	// Codes other languages' plugins may use; received only.
	{ErrRetryable, codes.Aborted},
	{ErrPermanent, codes.AlreadyExists},
	{ErrPermanent, codes.OutOfRange},
	{ErrPermanent, codes.Unauthenticated}, // the provider refused our credentials
	// Unknown and Internal are bugs (a panic in a handler): retrying the
	// same input will not fix them, so they are permanent.
	{ErrPermanent, codes.Internal},
	{ErrPermanent, codes.Unknown},
	{ErrPermanent, codes.DataLoss},
}

// ToStatus turns err into a gRPC status error carrying its kind. An error
// of no known kind becomes Unknown (permanent). Already a status: unchanged.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, ErrBounced) {
		st := status.New(codes.FailedPrecondition, kindMessage(err, ErrBounced))
		if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: BounceReason, Domain: ErrorDomain}); derr == nil {
			st = d
		}
		return st.Err()
	}
	for _, row := range codeTable {
		if errors.Is(err, row.kind) {
			return status.Error(row.code, kindMessage(err, row.kind))
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

// FromStatus turns a gRPC status error back into an *Error of its kind.
// Errors that are not statuses are returned as they are.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if st.Code() == codes.FailedPrecondition {
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == BounceReason {
				return &Error{Kind: ErrBounced, Message: st.Message()}
			}
		}
	}
	for _, row := range codeTable {
		if row.code == st.Code() {
			return &Error{Kind: row.kind, Message: st.Message()}
		}
	}
	return &Error{Kind: ErrPermanent, Message: st.Code().String() + ": " + st.Message()}
}

// kindMessage is err's message without the kind's prefix when err is an
// *Error of that kind (the code already says the kind).
func kindMessage(err, kind error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind == kind {
		return e.Message
	}
	return err.Error()
}
