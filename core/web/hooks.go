package web

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// Inbound hooks: /hooks/{plugin}/... is where outside systems reach a
// channel plugin — one-click unsubscribes, delivery receipts, replies. No
// session, no CSRF token and no same-origin check apply (a mail provider
// or an SMS gateway posts here); the plugin checks its own signatures and
// tokens, and the outbox records what it reports. What protects the rest:
// a 1 MiB body limit, a per-address rate limit, plugin names checked
// before anything is read, the Cookie header never passed on, and a
// Content-Security-Policy without scripts on whatever the plugin answers.

// MaxHookBody is the largest request body a hook accepts.
const MaxHookBody = 1 << 20

// hookPrefix is the path every inbound hook starts with.
const hookPrefix = "/hooks/"

var pluginName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// hookCSP: a plugin's answer (an unsubscribe confirmation page, say) may
// be HTML from a third-party plugin, served from this origin; no script
// may run in it.
const hookCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// hook answers ANY /hooks/:plugin/* (and /hooks/:plugin).
func (s *Server) hook(c *echo.Context) error {
	req := c.Request()
	c.Response().Header().Set("Content-Security-Policy", hookCSP)
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return echo.ErrMethodNotAllowed
	}
	name := c.Param("plugin")
	if !pluginName.MatchString(name) {
		return core.NotFoundf("no plugin %q", safeText(truncate(name, 64)))
	}
	ip := c.RealIP()
	now := s.now()
	if blocked, until := s.hookHits.blocked("hook:"+ip, s.cfg.Server.HookRequestsPerMinute, now); blocked {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(until.Sub(now).Seconds())+1))
		return fmt.Errorf("%w: too many requests from your address; try again later", core.ErrRateLimited)
	}
	s.hookHits.fail("hook:"+ip, now)
	if s.box == nil || s.plugins == nil {
		return errNoPlugins
	}
	if !s.hasPlugin(name) {
		return core.NotFoundf("no plugin %q", name)
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body) // capped at MaxHookBody by wrap
		if err != nil {
			return err
		}
		body = b
	}
	// The path after /hooks/{plugin}, as sent (still escaped), with the query.
	rest := strings.TrimPrefix(req.URL.EscapedPath(), hookPrefix)
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[i:]
	} else {
		rest = "/"
	}
	if req.URL.RawQuery != "" {
		rest += "?" + req.URL.RawQuery
	}
	headers := req.Header.Clone()
	headers.Del("Cookie") // a staff member's session is nobody else's business
	in := core.InboundRequest{Method: req.Method, Path: rest, Headers: headers, Body: body, RemoteAddr: ip}
	out, err := s.box.HandleInbound(ctx(c), name, in)
	if err != nil {
		return err
	}
	status := out.Status
	if status < 200 || status > 599 {
		status = http.StatusOK
	}
	ct := out.ContentType
	if ct == "" || strings.ContainsAny(ct, "\r\n") {
		ct = "text/plain; charset=utf-8"
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	return c.Blob(status, ct, out.Body)
}

func (s *Server) hasPlugin(name string) bool {
	for _, st := range s.plugins.Statuses() {
		if st.Name == name {
			return true
		}
	}
	return false
}
