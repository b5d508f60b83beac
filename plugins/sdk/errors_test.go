package sdk

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorTranslationRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		err       error
		code      codes.Code
		kind      error
		retryable bool
	}{
		{Retryablef("smtp 421"), codes.Unavailable, ErrRetryable, true},
		{Permanentf("content refused"), codes.FailedPrecondition, ErrPermanent, false},
		{Bouncedf("550 5.1.1 no such mailbox"), codes.FailedPrecondition, ErrBounced, false},
		{fmt.Errorf("sms gateway: %w", ErrBounced), codes.FailedPrecondition, ErrBounced, false},
		{Invalidf("bad config"), codes.InvalidArgument, ErrInvalid, false},
		{PermissionDeniedf("field emails not granted"), codes.PermissionDenied, ErrPermissionDenied, false},
		{NotFoundf("customer 9"), codes.NotFound, ErrNotFound, false},
		{fmt.Errorf("wrapped: %w", ErrTooLarge), codes.ResourceExhausted, ErrTooLarge, false},
		{ErrUnimplemented, codes.Unimplemented, ErrUnimplemented, false},
		{context.DeadlineExceeded, codes.DeadlineExceeded, context.DeadlineExceeded, true},
		{errors.New("a bug"), codes.Unknown, ErrPermanent, false},
	} {
		st := ToStatus(tc.err)
		if got := status.Code(st); got != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err, got, tc.code)
		}
		back := FromStatus(st)
		if !errors.Is(back, tc.kind) || IsRetryable(back) != tc.retryable {
			t.Errorf("%v: back %v (retryable %v), want kind %v retryable %v", tc.err, back, IsRetryable(back), tc.kind, tc.retryable)
		}
	}
	// Codes a plugin in another language may send.
	for code, kind := range map[codes.Code]error{
		codes.Aborted: ErrRetryable, codes.Internal: ErrPermanent, codes.Unauthenticated: ErrPermanent,
	} {
		if err := FromStatus(status.Error(code, "x")); !errors.Is(err, kind) {
			t.Errorf("%v: %v, want %v", code, err, kind)
		}
	}
	// A bounce from another language: FAILED_PRECONDITION with the ErrorInfo
	// reason; without it (or with another reason) the same code is permanent.
	bounce, _ := status.New(codes.FailedPrecondition, "no such number").
		WithDetails(&errdetails.ErrorInfo{Reason: BounceReason, Domain: "example.org"})
	if err := FromStatus(bounce.Err()); !errors.Is(err, ErrBounced) || err.Error() != "bounced: no such number" {
		t.Errorf("ErrorInfo BOUNCED: %v", err)
	}
	other, _ := status.New(codes.FailedPrecondition, "quota").WithDetails(&errdetails.ErrorInfo{Reason: "QUOTA"})
	if err := FromStatus(other.Err()); !errors.Is(err, ErrPermanent) || errors.Is(err, ErrBounced) {
		t.Errorf("ErrorInfo QUOTA: %v", err)
	}
	if ToStatus(nil) != nil || FromStatus(nil) != nil {
		t.Error("nil must stay nil")
	}
}

func TestConfigObject(t *testing.T) {
	for in, ok := range map[string]bool{
		"": true, "{}": true, `{"a":1}`: true,
		"null": false, "[]": false, `"x"`: false, "{": false, `{"a":}`: false, "1": false,
	} {
		_, err := configObject([]byte(in))
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func FuzzConfigObject(f *testing.F) {
	f.Add([]byte(`{"url":"https://x"}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if cfg, err := configObject(b); err == nil && len(cfg) == 0 {
			t.Fatal("accepted config is empty")
		}
	})
}
