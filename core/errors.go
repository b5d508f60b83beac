package core

import (
	"errors"
	"fmt"
)

// The error kinds every layer uses. Wrap them with %w (or use Invalidf /
// FieldErr) and match with errors.Is; core/web maps each kind to one HTTP
// status in one place.
var (
	ErrNotFound     = errors.New("not found")
	ErrInvalid      = errors.New("invalid")
	ErrConflict     = errors.New("conflict")
	ErrForbidden    = errors.New("forbidden")
	ErrUnauthorized = errors.New("unauthorized")
	ErrTooLarge     = errors.New("too large")
	ErrUnavailable  = errors.New("unavailable")
	// ErrRateLimited: too many attempts (sign-in); try again later.
	ErrRateLimited = errors.New("too many attempts")
)

// FieldError is an ErrInvalid (or other kind) that names the offending input
// field, so the API can answer {"error":{"code","message","field"}} and the UI
// can show the message next to the field.
type FieldError struct {
	Kind    error  // one of the sentinel kinds above
	Field   string // JSON path of the field, e.g. "emails[1]"
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func (e *FieldError) Unwrap() error { return e.Kind }

// FieldErr returns an ErrInvalid FieldError for field.
func FieldErr(field, format string, args ...any) error {
	return &FieldError{Kind: ErrInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Invalidf returns an ErrInvalid error that names no field.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// NotFoundf returns an ErrNotFound error.
func NotFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}

// Conflictf returns an ErrConflict error.
func Conflictf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}

// ErrorField returns the field named by err, if it carries one.
func ErrorField(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}
