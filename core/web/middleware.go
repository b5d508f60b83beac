package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
)

// routeLabel is the matched route pattern, or "unmatched" so that probing
// random URLs cannot blow up the metrics' label space.
func routeLabel(c *echo.Context) string {
	if p := c.RouteInfo().Path; p != "" {
		return p
	}
	return "unmatched"
}

// observe answers errors itself (so it knows the final status), then logs
// the request and counts it. Logged: method, route pattern, status,
// duration. Never bodies, query strings or credentials.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			s.handleError(c, err)
		}
		_, status := echo.ResolveResponseStatus(c.Response(), nil)
		d := time.Since(start)
		route := routeLabel(c)
		method := c.Request().Method
		s.reqs.observe(method, route, status, d)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(ctx(c), level, "http request",
			slog.String("method", method), slog.String("route", route), slog.Int("status", status),
			slog.Duration("duration", d), slog.String("remote", c.RealIP()))
		return nil
	}
}

// recover turns a panic into an internal error, logging the stack once.
func (s *Server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			buf := make([]byte, 8<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.log.Error("panic while serving request", "method", c.Request().Method, "route", routeLabel(c),
				"panic", fmt.Sprint(r), "stack", string(buf))
			err = errPanic
		}()
		return next(c)
	}
}

// errPanic is internal (500); recover has logged it with its stack, so
// handleError does not log it again.
var errPanic = errors.New("panic recovered")

// secureHeaders: JSON must never be sniffed into HTML, and API answers
// carry customer data, so no shared cache may keep them.
func (s *Server) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasPrefix(c.Request().URL.Path, APIPrefix+"/") {
			h.Set("Cache-Control", "no-store")
		} else {
			// Pages: scripts and styles only from this server (htmx and
			// app.js are files, never inline), no framing, no referrer
			// leaking customer ids to other sites.
			h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
				"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
		}
		return next(c)
	}
}

// Context keys set by authorizeToken.
const ctxToken = "retain.token"

// tokenTouchEvery bounds how often a token's LastUsedAt is written.
const tokenTouchEvery = time.Minute

// authorizeToken checks the bearer token and that it carries scope.
func (s *Server) authorizeToken(c *echo.Context, scope core.Scope) error {
	h := c.Request().Header.Get("Authorization")
	if h == "" {
		return unauthorized("missing bearer token (Authorization: Bearer <secret>)")
	}
	kind, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(kind, "Bearer") || secret == "" {
		return unauthorized("Authorization header must be \"Bearer <secret>\"")
	}
	if len(secret) > 200 {
		return unauthorized("invalid token")
	}
	t, err := s.store.GetTokenByHash(ctx(c), auth.HashToken(secret))
	if errors.Is(err, core.ErrNotFound) {
		return unauthorized("invalid token")
	}
	if err != nil {
		return err
	}
	now := s.now()
	if !t.RevokedAt.IsZero() {
		return unauthorized("token revoked")
	}
	if !t.Active(now) {
		return unauthorized("token expired")
	}
	if !t.Allows(scope) {
		return forbidden("token lacks scope " + string(scope))
	}
	c.Set(ctxToken, &t)
	s.touchToken(c, t, now)
	return nil
}

// touchToken records LastUsedAt at most once a minute per token, so reads
// stay reads. A failure to write is logged, not fatal to the request.
func (s *Server) touchToken(c *echo.Context, t core.Token, now time.Time) {
	if now.Sub(t.LastUsedAt) < tokenTouchEvery {
		return
	}
	s.tokenMu.Lock()
	last := s.tokenSeen[t.ID]
	if now.Sub(last) < tokenTouchEvery {
		s.tokenMu.Unlock()
		return
	}
	s.tokenSeen[t.ID] = now
	s.tokenMu.Unlock()
	_, err := s.store.UpdateToken(ctx(c), t.ID, func(tk *core.Token) error {
		tk.LastUsedAt = now
		return nil
	})
	if err != nil {
		s.log.Warn("could not record token use", "token_id", t.ID, "error", err)
	}
}

// callerToken is the token that authorized this request (nil on public routes).
func callerToken(c *echo.Context) *core.Token {
	t, _ := c.Get(ctxToken).(*core.Token)
	return t
}
