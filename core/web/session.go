package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
)

// Browser sessions: the cookie holds a random secret, the store holds its
// SHA-256 with the user, the CSRF token and the times. Every request
// re-reads the user, so disabling an account or changing its role takes
// effect at once.

const (
	ctxUser    = "retain.user"
	ctxSession = "retain.session"

	csrfHeader = "X-CSRF-Token"
	csrfField  = "csrf_token"

	// sessionTouchEvery bounds how often LastSeenAt is written.
	sessionTouchEvery = time.Minute
)

// callerUser is the signed-in staff member (nil for token or public requests).
func callerUser(c *echo.Context) *core.User {
	u, _ := c.Get(ctxUser).(*core.User)
	return u
}

// callerSession is the browser session of the request, if any.
func callerSession(c *echo.Context) *core.Session {
	ss, _ := c.Get(ctxSession).(*core.Session)
	return ss
}

// secureCookies decides the Secure flag (and so the __Host- name prefix).
func (s *Server) secureCookies(r *http.Request) bool {
	switch s.cfg.Auth.SecureCookies {
	case "always":
		return true
	case "never":
		return false
	}
	return r.TLS != nil || strings.HasPrefix(s.cfg.Server.BaseURL, "https://")
}

func (s *Server) cookieName(r *http.Request) string {
	if s.secureCookies(r) {
		return "__Host-retain_session"
	}
	return "retain_session"
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// startSession signs u in: any session the browser already had is ended
// (so a planted cookie cannot be fixed on the victim), a new secret is set.
func (s *Server) startSession(c *echo.Context, u core.User) error {
	req := c.Request()
	if old, err := req.Cookie(s.cookieName(req)); err == nil && old.Value != "" {
		_ = s.store.DeleteSession(ctx(c), hashSecret(old.Value))
	}
	secret, err := auth.NewSecret(32)
	if err != nil {
		return err
	}
	csrf, err := auth.NewSecret(32)
	if err != nil {
		return err
	}
	now := s.now()
	ua := req.UserAgent()
	if len(ua) > 200 {
		ua = ua[:200]
	}
	sess := core.Session{Hash: hashSecret(secret), UserID: u.ID, CSRF: csrf, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.Auth.SessionLifetime), IP: c.RealIP(), UserAgent: strings.ToValidUTF8(ua, "")}
	if err := s.store.CreateSession(ctx(c), sess); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: s.cookieName(req), Value: secret, Path: "/", HttpOnly: true,
		Secure: s.secureCookies(req), SameSite: http.SameSiteLaxMode, Expires: sess.ExpiresAt})
	c.Set(ctxSession, &sess)
	c.Set(ctxUser, &u)
	return nil
}

// endSession signs the browser out: the stored session and the cookie go.
func (s *Server) endSession(c *echo.Context) {
	req := c.Request()
	if ck, err := req.Cookie(s.cookieName(req)); err == nil && ck.Value != "" {
		if err := s.store.DeleteSession(ctx(c), hashSecret(ck.Value)); err != nil {
			s.log.Warn("could not delete session", "error", err)
		}
	}
	c.SetCookie(&http.Cookie{Name: s.cookieName(req), Value: "", Path: "/", HttpOnly: true,
		Secure: s.secureCookies(req), SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// errNoSession is a request without a usable session cookie.
var errNoSession = errors.New("no session")

// loadSession finds the session and its user for the request's cookie.
// It returns errNoSession (wrapped in ErrUnauthorized) when there is none or
// it has ended; an ended session is deleted.
func (s *Server) loadSession(c *echo.Context) (*core.Session, *core.User, error) {
	req := c.Request()
	ck, err := req.Cookie(s.cookieName(req))
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return nil, nil, unauthorized("sign in first")
	}
	hash := hashSecret(ck.Value)
	sess, err := s.store.GetSession(ctx(c), hash)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil, unauthorized("your session has ended; sign in again")
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	if now.After(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > s.cfg.Auth.SessionIdle {
		_ = s.store.DeleteSession(ctx(c), hash)
		return nil, nil, unauthorized("your session has ended; sign in again")
	}
	u, err := s.store.GetUser(ctx(c), sess.UserID)
	if errors.Is(err, core.ErrNotFound) || (err == nil && u.Disabled) {
		_ = s.store.DeleteSession(ctx(c), hash)
		return nil, nil, unauthorized("this account is disabled")
	}
	if err != nil {
		return nil, nil, err
	}
	sess.Hash = hash
	if now.Sub(sess.LastSeenAt) >= sessionTouchEvery {
		if err := s.store.TouchSession(ctx(c), hash, now); err != nil && !errors.Is(err, core.ErrNotFound) {
			s.log.Warn("could not record session use", "error", err)
		}
	}
	return &sess, &u, nil
}

// authorize checks the caller may use route r: a bearer token (API routes
// only) or a browser session whose user's role allows the route's scope.
// State-changing requests on a session also need the CSRF token.
func (s *Server) authorize(c *echo.Context, r Route) error {
	req := c.Request()
	if req.Header.Get("Authorization") != "" {
		if r.Scope == core.ScopeSignedIn || !strings.HasPrefix(r.Path, APIPrefix+"/") {
			return unauthorized("API tokens are for /api/v1 routes; sign in to use the web pages")
		}
		return s.authorizeToken(c, r.Scope)
	}
	sess, u, err := s.loadSession(c)
	if err != nil {
		return err
	}
	c.Set(ctxSession, sess)
	c.Set(ctxUser, u)
	if !core.RoleAllows(u.Role, r.Scope) {
		return forbidden("your role (" + string(u.Role) + ") may not do this")
	}
	if unsafeMethod(req.Method) {
		if err := checkCSRF(c, sess); err != nil {
			return err
		}
	}
	return nil
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// checkCSRF compares the session's token with the X-CSRF-Token header
// (htmx sends it on every request), or the csrf_token form field of a plain
// form. A multipart upload is not parsed for it: the field must then be in
// the query string, so a 2 GB body is never read before the check.
func checkCSRF(c *echo.Context, sess *core.Session) error {
	req := c.Request()
	got := req.Header.Get(csrfHeader)
	if got == "" {
		ct := req.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			got = c.FormValue(csrfField)
		} else {
			got = req.URL.Query().Get(csrfField)
		}
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
		return forbidden("the form has expired or came from another site; reload the page and try again")
	}
	return nil
}

// crossOrigin refuses state-changing browser requests from other origins
// (Sec-Fetch-Site / Origin, Go's http.CrossOriginProtection) on every
// route, including sign-in, before any handler runs. Bearer-token API calls
// are not browser-ambient credentials and are exempt, and so are inbound
// hooks (hooks.go): outside systems post there, and no session is used.
func (s *Server) crossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		req := c.Request()
		if req.Header.Get("Authorization") == "" && !strings.HasPrefix(req.URL.Path, hookPrefix) {
			if err := s.cop.Check(req); err != nil {
				return forbidden("cross-origin request refused")
			}
		}
		return next(c)
	}
}
