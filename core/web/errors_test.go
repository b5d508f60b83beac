package web

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

func TestErrorResponse(t *testing.T) {
	tests := []struct {
		err      error
		status   int
		code     string
		field    string
		msg      string
		internal bool
	}{
		{core.NotFoundf("customer 5"), 404, "not_found", "", "customer 5", false},
		{core.FieldErr("emails[1]", "bad"), 400, "invalid", "emails[1]", "bad", false},
		{fmt.Errorf("wrapped: %w", core.FieldErr("x", "y")), 400, "invalid", "x", "y", false},
		{core.Conflictf("external id taken"), 409, "conflict", "", "external id taken", false},
		{unauthorized("no token"), 401, "unauthorized", "", "no token", false},
		{forbidden("scope"), 403, "forbidden", "", "scope", false},
		{core.ErrTooLarge, 413, "too_large", "", "too large", false},
		{&http.MaxBytesError{Limit: 10}, 413, "too_large", "", "request body is larger than 10 bytes", false},
		{core.ErrUnavailable, 503, "unavailable", "", "unavailable", false},
		{echo.ErrNotFound, 404, "not_found", "", "no such route", false},
		{echo.ErrMethodNotAllowed, 405, "method_not_allowed", "", "method not allowed for this route", false},
		{echo.ErrUnsupportedMediaType, 415, "unsupported_media_type", "", "unsupported content type", false},
		{errors.New("open /secret/path: permission denied"), 500, "internal", "", "internal error", true},
		{errPanic, 500, "internal", "", "internal error", true},
	}
	for _, tt := range tests {
		status, d, internal := errorResponse(tt.err)
		if status != tt.status || d.Code != tt.code || d.Field != tt.field || d.Message != tt.msg || internal != tt.internal {
			t.Errorf("%v: got %d %+v %v, want %d %s %q %q %v", tt.err, status, d, internal, tt.status, tt.code, tt.field, tt.msg, tt.internal)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5000": true, "[::1]:80": true, "127.8.9.10:1": true,
		"10.0.0.1:80": false, "192.168.1.1:80": false, "[2001:db8::1]:80": false, "garbage": false, "": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}
