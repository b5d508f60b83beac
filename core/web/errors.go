package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// ErrorBody is the shape of every error answer:
//
//	{"error": {"code": "invalid", "message": "...", "field": "emails[0]"}}
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of an ErrorBody. Code is one of the strings of
// kindCodes (or method_not_allowed, unsupported_media_type); Field is the
// JSON path of the offending input when the error names one.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// kindCodes maps core's error kinds to an HTTP status and a code. Every
// ErrInvalid is 400, field error or not: one status for "your input is
// wrong" is simpler for clients than a 400/422 split.
var kindCodes = []struct {
	kind   error
	status int
	code   string
}{
	{core.ErrNotFound, http.StatusNotFound, "not_found"},
	{core.ErrInvalid, http.StatusBadRequest, "invalid"},
	{core.ErrConflict, http.StatusConflict, "conflict"},
	{core.ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{core.ErrForbidden, http.StatusForbidden, "forbidden"},
	{core.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{core.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{core.ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
}

// errorResponse decides the status and body for err. internal reports an
// error that is nobody's fault but ours: it is logged and its text hidden.
func errorResponse(err error) (status int, d ErrorDetail, internal bool) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, ErrorDetail{Code: "too_large",
			Message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}, false
	}
	for _, k := range kindCodes {
		if !errors.Is(err, k.kind) {
			continue
		}
		// The code already says the kind; the message says what exactly.
		msg := strings.TrimPrefix(err.Error(), k.kind.Error()+": ")
		d = ErrorDetail{Code: k.code, Message: msg, Field: core.ErrorField(err)}
		var fe *core.FieldError
		if errors.As(err, &fe) {
			d.Message = fe.Message
		}
		if d.Message == "" {
			d.Message = k.kind.Error()
		}
		return k.status, d, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, ErrorDetail{Code: "unavailable", Message: "request cancelled or timed out"}, false
	}
	// Echo's own errors: unknown route, wrong method, ...
	if sc := echo.StatusCode(err); sc >= 400 && sc < 500 {
		switch sc {
		case http.StatusNotFound:
			return sc, ErrorDetail{Code: "not_found", Message: "no such route"}, false
		case http.StatusMethodNotAllowed:
			return sc, ErrorDetail{Code: "method_not_allowed", Message: "method not allowed for this route"}, false
		case http.StatusRequestEntityTooLarge:
			return sc, ErrorDetail{Code: "too_large", Message: "request body too large"}, false
		case http.StatusUnsupportedMediaType:
			return sc, ErrorDetail{Code: "unsupported_media_type", Message: "unsupported content type"}, false
		}
		return sc, ErrorDetail{Code: strings.ReplaceAll(strings.ToLower(http.StatusText(sc)), " ", "_"),
			Message: strings.ToLower(http.StatusText(sc))}, false
	}
	return http.StatusInternalServerError, ErrorDetail{Code: "internal", Message: "internal error"}, true
}

// handleError is the one place an error becomes an HTTP answer. Internal
// errors are logged here, once, and never shown to the client.
func (s *Server) handleError(c *echo.Context, err error) {
	if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Committed {
		// Too late to answer (a stream broke half-way): only log.
		if _, _, internal := errorResponse(err); internal {
			s.log.Error("request failed after the response started", "method", c.Request().Method, "route", routeLabel(c), "error", err)
		}
		return
	}
	status, d, internal := errorResponse(err)
	if internal && !errors.Is(err, errPanic) { // a panic was logged with its stack
		s.log.Error("request failed", "method", c.Request().Method, "route", routeLabel(c), "error", err)
	}
	if isPageRequest(c.Request()) && c.Request().Method != http.MethodHead {
		s.pageError(c, status, d)
		return
	}
	h := c.Response().Header()
	if status == http.StatusUnauthorized {
		v := `Bearer realm="retain"`
		if c.Request().Header.Get("Authorization") != "" {
			v += `, error="invalid_token"`
		}
		h.Set("WWW-Authenticate", v)
	}
	h.Set("Cache-Control", "no-store")
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if werr := c.JSON(status, ErrorBody{Error: d}); werr != nil {
		s.log.Debug("could not send error response", "error", werr)
	}
}

// tooLarge is the error for a body over limit bytes.
func tooLarge(limit int64) error {
	return fmt.Errorf("%w: request body is larger than %d bytes", core.ErrTooLarge, limit)
}

// unauthorized and forbidden build the auth errors with a clear message.
func unauthorized(msg string) error { return fmt.Errorf("%w: %s", core.ErrUnauthorized, msg) }
func forbidden(msg string) error    { return fmt.Errorf("%w: %s", core.ErrForbidden, msg) }

// isPageRequest tells a request for the staff UI from an API or operations
// call: UI errors are pages (or, for htmx, fragments), API errors JSON.
func isPageRequest(r *http.Request) bool {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/"), strings.HasPrefix(p, "/static/"), strings.HasPrefix(p, hookPrefix),
		p == "/healthz", p == "/readyz", p == "/metrics":
		return false
	}
	return true
}

// pageError answers a UI request that failed. Not signed in: to the sign-in
// page, coming back here afterwards. Otherwise the error page, or for htmx
// a small error fragment that the swap target shows in place.
func (s *Server) pageError(c *echo.Context, status int, d ErrorDetail) {
	req := c.Request()
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		to := "/signin"
		if req.Method == http.MethodGet && req.URL.Path != "/" {
			to += "?next=" + url.QueryEscape(req.URL.RequestURI())
		}
		if isHTMX(c) {
			// A fragment request: htmx follows HX-Redirect with a full
			// navigation instead of swapping the sign-in page into a row.
			if hx := req.Header.Get("HX-Current-URL"); hx != "" {
				if u, err := url.Parse(hx); err == nil && u.Path != "" && u.Path != "/" {
					to = "/signin?next=" + url.QueryEscape(safeNext(u.RequestURI()))
				}
			}
			h.Set("HX-Redirect", to)
			_ = c.NoContent(http.StatusNoContent)
			return
		}
		_ = c.Redirect(http.StatusSeeOther, to)
		return
	}
	p := Page{Title: http.StatusText(status), Data: errorPage{Status: status, Message: d.Message, Code: d.Code}}
	var err error
	if isHTMX(c) {
		err = s.fragment(c, status, "error", "error-inline", p)
	} else {
		err = s.render(c, status, "error", p)
	}
	if err != nil {
		s.log.Error("could not render the error page", "error", err)
		_ = c.String(status, d.Message)
	}
}

// errorPage is the data of pages/error.html.
type errorPage struct {
	Status  int
	Code    string
	Message string
}
