package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
)

// signInForm is the data of the sign-in and setup pages.
type signInForm struct {
	Email  string
	Name   string
	Next   string
	Token  string // setup token
	Error  string
	Fields map[string]string // field → message
}

// dummyHash is verified when the account does not exist, so a wrong email
// takes as long as a wrong password and does not reveal who has an account.
// It is made on first use, with the same cost as real hashes.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword("retain-dummy-password-for-timing")
	return h
})

// GET /signin
func (s *Server) signInPage(c *echo.Context) error {
	if n, err := s.store.CountUsers(ctx(c)); err == nil && n == 0 {
		return s.render(c, http.StatusOK, "setup", Page{Title: "Set up retain", Data: signInForm{
			Error: "No account exists yet. Open the one-time setup link printed in the server's log (or run `retain user add --role admin`)."}})
	}
	if _, _, err := s.loadSession(c); err == nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return s.render(c, http.StatusOK, "signin", Page{Title: "Sign in", Data: signInForm{Next: safeNext(c.QueryParam("next"))}})
}

// POST /signin
func (s *Server) signIn(c *echo.Context) error {
	email := strings.ToLower(strings.TrimSpace(c.FormValue("email")))
	pw := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	form := signInForm{Email: email, Next: next}
	again := func(status int, msg string) error {
		form.Error = msg
		return s.render(c, status, "signin", Page{Title: "Sign in", Data: form})
	}
	if len(email) > 320 {
		email = email[:320]
	}
	ip := c.RealIP()
	if err := s.signInAllowed(email, ip); err != nil {
		s.log.Warn("sign-in refused: rate limited", "ip", ip)
		_, d, _ := errorResponse(err)
		c.Response().Header().Set("Retry-After", "900")
		return again(http.StatusTooManyRequests, d.Message)
	}
	u, err := s.store.GetUserByEmail(ctx(c), email)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	hash := u.PasswordHash
	if err != nil || hash == "" {
		hash = dummyHash()
	}
	ok, verr := auth.VerifyPassword(hash, pw)
	if verr != nil {
		s.log.Error("stored password hash is malformed", "user_id", u.ID, "error", verr)
		ok = false
	}
	if err != nil || !ok || u.Disabled {
		s.signInFailed(email, ip)
		s.log.Warn("sign-in failed", "ip", ip)
		if ok && u.Disabled {
			return again(http.StatusUnauthorized, "This account is disabled. Ask an admin to enable it.")
		}
		return again(http.StatusUnauthorized, "The email or the password is wrong.")
	}
	s.fails.reset("acct:" + email)
	if err := s.startSession(c, u); err != nil {
		return err
	}
	if _, err := s.store.UpdateUser(ctx(c), u.ID, func(x *core.User) error { x.LastLoginAt = s.now(); return nil }); err != nil {
		s.log.Warn("could not record sign-in time", "error", err)
	}
	s.audit(c, "signIn", "user="+u.ID.String(), "", statusOK)
	return seeOther(c, next)
}

// POST /signout
func (s *Server) signOut(c *echo.Context) error {
	s.audit(c, "signOut", "", "", statusOK)
	s.endSession(c)
	return seeOther(c, "/signin")
}

// safeNext keeps a post-sign-in redirect on this site: a path, never
// "//host" or "/\host" (which browsers treat as another origin).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

// SetupURL is the one-time link that creates the first admin, or "" when
// accounts exist. core/app prints it in the log at start; base is the
// server's public URL (config base_url, else the listen address).
func (s *Server) SetupURL(ctx context.Context, base string) (string, error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	tok := s.setupToken.Load()
	if tok == nil {
		t, err := auth.NewSecret(24)
		if err != nil {
			return "", err
		}
		s.setupToken.CompareAndSwap(nil, &t)
		tok = s.setupToken.Load()
	}
	if s.cfg.Server.BaseURL != "" {
		base = s.cfg.Server.BaseURL
	}
	return strings.TrimSuffix(base, "/") + "/setup?token=" + url.QueryEscape(*tok), nil
}

// GET /setup?token=...
func (s *Server) setupPage(c *echo.Context) error {
	if err := s.setupOpen(c, c.QueryParam("token")); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "setup", Page{Title: "Set up retain", Data: signInForm{Token: c.QueryParam("token")}})
}

// setupOpen refuses the setup page once an account exists or without the token.
func (s *Server) setupOpen(c *echo.Context, token string) error {
	n, err := s.store.CountUsers(ctx(c))
	if err != nil {
		return err
	}
	if n > 0 {
		return core.NotFoundf("setup is done; sign in")
	}
	want := s.setupToken.Load()
	if want == nil || subtle.ConstantTimeCompare([]byte(token), []byte(*want)) != 1 {
		return forbidden("this setup link is not valid; use the link printed in the server's log")
	}
	return nil
}

// POST /setup creates the first admin and signs them in.
func (s *Server) setup(c *echo.Context) error {
	token := c.FormValue("token")
	if err := s.setupOpen(c, token); err != nil {
		return err
	}
	form := signInForm{Email: c.FormValue("email"), Name: c.FormValue("name"), Token: token, Fields: map[string]string{}}
	pw, pw2 := c.FormValue("password"), c.FormValue("password2")
	u := core.User{Email: form.Email, Name: form.Name, Role: core.RoleAdmin, CreatedAt: s.now(), UpdatedAt: s.now()}
	err := u.Normalize()
	if err == nil {
		if pw != pw2 {
			err = core.FieldErr("password2", "the two passwords differ")
		} else {
			u.PasswordHash, err = auth.HashPassword(pw)
		}
	}
	if err == nil {
		s.setupMu.Lock() // two tabs racing: only one first admin
		defer s.setupMu.Unlock()
		if err = s.setupOpen(c, token); err != nil {
			return err
		}
		u, err = s.store.CreateUser(ctx(c), u)
	}
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			form.Fields[core.ErrorField(err)] = fieldMessage(err)
			return s.render(c, http.StatusBadRequest, "setup", Page{Title: "Set up retain", Data: form})
		}
		return err
	}
	s.setupToken.Store(nil)
	if err := s.startSession(c, u); err != nil {
		return err
	}
	s.audit(c, "setup", "user="+u.ID.String(), "first admin created", statusOK)
	s.log.Info("first admin created; setup link disabled", "user_id", u.ID)
	return seeOther(c, "/")
}

// fieldMessage is the message of a field error without the field name.
func fieldMessage(err error) string {
	var fe *core.FieldError
	if errors.As(err, &fe) {
		return fe.Message
	}
	_, d, _ := errorResponse(err)
	return d.Message
}
