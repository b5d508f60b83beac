package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
)

// accountPage is /account: the signed-in user's own account.
type accountPage struct {
	Error  string
	Fields map[string]string
}

// GET /account
func (s *Server) uiAccount(c *echo.Context) error {
	return s.render(c, http.StatusOK, "account", Page{Title: "Your account", Nav: "account",
		Data: accountPage{Fields: map[string]string{}}, Flash: flash(c)})
}

// POST /account/password — the current password is required, so a session
// left open on a shared computer cannot take the account over. Wrong
// guesses count against the same limits as sign-in. On success every other
// session of the user ends and this browser gets a fresh one.
func (s *Server) uiChangeOwnPassword(c *echo.Context) error {
	me := callerUser(c)
	if me == nil {
		return unauthorized("sign in first")
	}
	d := accountPage{Fields: map[string]string{}}
	again := func(status int) error {
		return s.render(c, status, "account", Page{Title: "Your account", Nav: "account", Data: d})
	}
	ip := c.RealIP()
	if err := s.signInAllowed(me.Email, ip); err != nil {
		d.Error = fieldMessage(err)
		c.Response().Header().Set("Retry-After", "900")
		return again(http.StatusTooManyRequests)
	}
	u, err := s.store.GetUser(ctx(c), me.ID)
	if err != nil {
		return err
	}
	ok, err := auth.VerifyPassword(u.PasswordHash, c.FormValue("current"))
	if err != nil {
		s.log.Error("stored password hash is malformed", "user_id", u.ID, "error", err)
	}
	if !ok {
		s.signInFailed(me.Email, ip)
		d.Fields["current"] = "this is not your current password"
		return again(http.StatusBadRequest)
	}
	pw := c.FormValue("password")
	if pw != c.FormValue("password2") {
		d.Fields["password2"] = "the two passwords differ"
		return again(http.StatusBadRequest)
	}
	if pw == c.FormValue("current") {
		d.Fields["password"] = "choose a password different from the current one"
		return again(http.StatusBadRequest)
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			d.Fields["password"] = fieldMessage(err)
			return again(http.StatusBadRequest)
		}
		return err
	}
	u, err = s.store.UpdateUser(ctx(c), me.ID, func(x *core.User) error {
		x.PasswordHash, x.UpdatedAt = hash, s.now()
		return nil
	})
	if err != nil {
		return err
	}
	n, err := s.store.DeleteUserSessions(ctx(c), me.ID)
	if err != nil {
		return err
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	auditDetail(c, "own password changed; other sessions ended: "+strconv.Itoa(max(n-1, 0)))
	return seeOther(c, "/account?done=own-pw")
}
