package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
)

// Staff accounts: the JSON API (GET/POST /api/v1/admin/users, PATCH
// /api/v1/admin/users/:id) and the operations the admin pages share with
// it (addUser, changeUser), so the UI and the API cannot drift apart.

// usersMu makes "is this the last enabled admin?" and the change that
// depends on the answer one step: two admins demoting each other at the
// same moment must not leave nobody in charge. The CLI writes users only
// with the server stopped (it opens the store exclusively).
var usersMu sync.Mutex

// userInput is the body of POST /admin/users.
type userInput struct {
	Email string    `json:"email"`
	Name  string    `json:"name"`
	Role  core.Role `json:"role"`
	// Password is set by the admin; empty: a strong one is generated and
	// returned once in UserResult.Password.
	Password string `json:"password"`
}

// userPatch is the body of PATCH /admin/users/:id; absent fields stay.
type userPatch struct {
	Name     *string    `json:"name"`
	Role     *core.Role `json:"role"`
	Disabled *bool      `json:"disabled"`
	Password *string    `json:"password"`
	// GeneratePassword sets a new generated password, returned once.
	GeneratePassword bool `json:"generate_password"`
}

// UserResult answers a create or a change. Password is there only when the
// server generated it: the one time it is shown. The user's password hash
// never leaves the server (core.User marks it json:"-").
type UserResult struct {
	User     core.User `json:"user"`
	Password string    `json:"password,omitempty"`
}

// errLastAdmin refuses a change that would leave no enabled admin.
func errLastAdmin(u core.User) error {
	return fmt.Errorf("%w: %s is the last enabled admin; make another user an admin first", core.ErrConflict, u.Email)
}

// newPassword returns the password to set: the typed one after the policy
// check, or a generated one (generated reports that it must be shown once).
func newPassword(typed string, generate bool) (pw string, generated bool, err error) {
	if generate || typed == "" {
		pw, err = auth.NewSecret(15) // 20 characters, 120 random bits
		return pw, true, err
	}
	return typed, false, auth.CheckPasswordPolicy(typed)
}

// addUser creates a staff account.
func (s *Server) addUser(c *echo.Context, in userInput) (UserResult, error) {
	now := s.now()
	u := core.User{Email: in.Email, Name: in.Name, Role: in.Role, CreatedAt: now, UpdatedAt: now}
	if err := u.Normalize(); err != nil {
		return UserResult{}, err
	}
	pw, generated, err := newPassword(in.Password, false)
	if err != nil {
		return UserResult{}, err
	}
	if u.PasswordHash, err = auth.HashPassword(pw); err != nil {
		return UserResult{}, err
	}
	u, err = s.store.CreateUser(ctx(c), u)
	if errors.Is(err, core.ErrConflict) {
		return UserResult{}, fmt.Errorf("%w: an account with the email %s exists", core.ErrConflict, u.Email)
	}
	if err != nil {
		return UserResult{}, err
	}
	auditDetail(c, fmt.Sprintf("user=%s %s created as %s", u.ID, u.Email, u.Role))
	r := UserResult{User: u}
	if generated {
		r.Password = pw
	}
	return r, nil
}

// changeUser applies a patch to user id. A role change, disabling or a new
// password ends every session of that user, so it takes effect at once.
// ended reports that sessions were ended (the caller's own, possibly).
func (s *Server) changeUser(c *echo.Context, id core.ID, p userPatch) (r UserResult, ended bool, err error) {
	var hash, pw string
	var generated bool
	if p.Password != nil || p.GeneratePassword {
		typed := ""
		if p.Password != nil {
			typed = *p.Password
			if typed == "" && !p.GeneratePassword {
				return r, false, core.FieldErr("password", "required (or ask for a generated one)")
			}
		}
		if pw, generated, err = newPassword(typed, p.GeneratePassword); err != nil {
			return r, false, err
		}
		if hash, err = auth.HashPassword(pw); err != nil {
			return r, false, err
		}
	}
	if p.Role != nil && !p.Role.Valid() {
		return r, false, core.FieldErr("role", "must be one of admin, manager, agent, viewer")
	}

	usersMu.Lock()
	defer usersMu.Unlock()
	before, err := s.store.GetUser(ctx(c), id)
	if errors.Is(err, core.ErrNotFound) {
		return r, false, core.NotFoundf("user %s", id)
	}
	if err != nil {
		return r, false, err
	}
	apply := func(u *core.User) error {
		if p.Name != nil {
			u.Name = *p.Name
		}
		if p.Role != nil {
			u.Role = *p.Role
		}
		if p.Disabled != nil {
			u.Disabled = *p.Disabled
		}
		if hash != "" {
			u.PasswordHash = hash
		}
		u.UpdatedAt = s.now()
		return u.Normalize()
	}
	after := before
	if err := apply(&after); err != nil {
		return r, false, err
	}
	if isActiveAdmin(before) && !isActiveAdmin(after) {
		others, err := s.otherActiveAdmins(c, id)
		if err != nil {
			return r, false, err
		}
		if others == 0 {
			return r, false, errLastAdmin(before)
		}
	}
	u, err := s.store.UpdateUser(ctx(c), id, apply)
	if errors.Is(err, core.ErrNotFound) {
		return r, false, core.NotFoundf("user %s", id)
	}
	if err != nil {
		return r, false, err
	}
	var changes []string
	if before.Name != u.Name {
		changes = append(changes, fmt.Sprintf("name %q → %q", before.Name, u.Name))
	}
	if before.Role != u.Role {
		changes = append(changes, fmt.Sprintf("role %s → %s", before.Role, u.Role))
	}
	if before.Disabled != u.Disabled {
		if u.Disabled {
			changes = append(changes, "disabled")
		} else {
			changes = append(changes, "enabled")
		}
	}
	if hash != "" {
		changes = append(changes, "password reset")
	}
	if before.Role != u.Role || (u.Disabled && !before.Disabled) || hash != "" {
		n, err := s.store.DeleteUserSessions(ctx(c), id)
		if err != nil {
			return r, false, err
		}
		ended = true
		if n > 0 {
			changes = append(changes, fmt.Sprintf("%d session(s) ended", n))
		}
	}
	if len(changes) == 0 {
		changes = append(changes, "no change")
	}
	auditDetail(c, u.Email+": "+strings.Join(changes, "; "))
	r.User = u
	if generated {
		r.Password = pw
	}
	return r, ended, nil
}

func isActiveAdmin(u core.User) bool { return u.Role == core.RoleAdmin && !u.Disabled }

// otherActiveAdmins counts the enabled admins other than id.
func (s *Server) otherActiveAdmins(c *echo.Context, id core.ID) (int, error) {
	us, err := s.store.ListUsers(ctx(c))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range us {
		if u.ID != id && isActiveAdmin(u) {
			n++
		}
	}
	return n, nil
}

// GET /api/v1/admin/users
func (s *Server) listUsers(c *echo.Context) error {
	us, err := s.store.ListUsers(ctx(c))
	if err != nil {
		return err
	}
	if us == nil {
		us = []core.User{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": us})
}

// POST /api/v1/admin/users
func (s *Server) createUser(c *echo.Context) error {
	var in userInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	r, err := s.addUser(c, in)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", APIPrefix+"/admin/users/"+r.User.ID.String())
	return c.JSON(http.StatusCreated, r)
}

// GET /api/v1/admin/users/:id
func (s *Server) getUser(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx(c), id)
	if errors.Is(err, core.ErrNotFound) {
		return core.NotFoundf("user %s", id)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

// PATCH /api/v1/admin/users/:id
func (s *Server) patchUser(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var p userPatch
	if err := bindJSON(c, &p); err != nil {
		return err
	}
	r, _, err := s.changeUser(c, id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}
