package web

import (
	"bytes"
	"encoding/json"
	"errors"

	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// errNoRoute answers like an unknown route (used by /metrics when off).
var errNoRoute = echo.ErrNotFound

// errUnsupportedMedia refuses bodies that do not say they are JSON. Besides
// clarity this keeps HTML forms from other sites (which cannot send
// application/json without a CORS preflight) away from the API.
var errUnsupportedMedia = echo.ErrUnsupportedMediaType

// bindJSON reads the request body (already capped by wrap) strictly into v.
func bindJSON(c *echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errUnsupportedMedia
		}
	}
	if req.Body == nil {
		return core.Invalidf("request body is empty; expected a JSON object")
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return err // *http.MaxBytesError → 413; a broken connection → 500 path
	}
	return decodeJSON(b, v)
}

// decodeJSON is the strict decoder every JSON body goes through: valid
// UTF-8 (encoding/json would silently turn bad bytes into U+FFFD), one
// value, no unknown fields, no trailing data. Errors are ErrInvalid and
// name the field where encoding/json tells it.
func decodeJSON(b []byte, v any) error {
	switch t := bytes.TrimSpace(b); {
	case len(t) == 0:
		return core.Invalidf("request body is empty; expected a JSON object")
	case string(t) == "null":
		return core.Invalidf("expected a JSON object, got null")
	}
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return core.Invalidf("request body is not valid UTF-8 (byte %d)", i)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return core.Invalidf("unexpected data after the JSON value (at byte %d)", dec.InputOffset())
	}
	return nil
}

// jsonError turns encoding/json's errors into FieldErrors a client can act on.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return core.Invalidf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return core.Invalidf("expected %s, got %s", jsonTypeName(te.Type.String()), te.Value)
		}
		return core.FieldErr(field, "must be %s, not %s", jsonTypeName(te.Type.String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return core.Invalidf("truncated JSON")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return core.FieldErr(f, "unknown field %q", f)
	}
	if errors.Is(err, core.ErrInvalid) {
		return err // from an UnmarshalText, e.g. a bad id
	}
	// Other decoder errors (a bad time, for instance) describe the input,
	// not the server, so they are safe to show.
	return core.Invalidf("%s", strings.TrimPrefix(msg, "json: "))
}

// jsonTypeName renders a Go type as the JSON a client should send.
func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), goType == "struct", strings.HasPrefix(goType, "core."), strings.HasPrefix(goType, "web."):
		switch goType {
		case "core.ID":
			return "an id string"
		case "core.InteractionType", "core.Channel", "core.Scope":
			return "a string"
		}
		return "an object"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string", goType == "time.Time":
		return "a string"
	case goType == "bool":
		return "true or false"
	}
	return "a " + goType
}
