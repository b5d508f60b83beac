package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// userForm is the create-user form and its errors.
type userForm struct {
	Email, Name, Role string
	Error             string
	Fields            map[string]string
}

// usersPage is /admin/users.
type usersPage struct {
	Users   []core.User
	Roles   []core.Role
	Form    userForm
	Created *UserResult // set once, right after a create with a generated password
}

// userPage is /admin/users/:id.
type userPage struct {
	User   core.User
	Roles  []core.Role
	Self   bool
	Error  string
	Fields map[string]string
	Reset  *UserResult // the generated password, shown once
}

func (s *Server) renderUsers(c *echo.Context, status int, d usersPage) error {
	us, err := s.store.ListUsers(ctx(c))
	if err != nil {
		return err
	}
	slices.SortFunc(us, func(a, b core.User) int { return strings.Compare(a.Email, b.Email) })
	d.Users, d.Roles = us, core.Roles
	if d.Form.Role == "" {
		d.Form.Role = string(core.RoleAgent)
	}
	if d.Form.Fields == nil {
		d.Form.Fields = map[string]string{}
	}
	return s.render(c, status, "admin_users", Page{Title: "Users", Nav: "admin", Data: d, Flash: flash(c)})
}

// GET /admin/users
func (s *Server) uiUsers(c *echo.Context) error { return s.renderUsers(c, http.StatusOK, usersPage{}) }

// POST /admin/users
func (s *Server) uiCreateUser(c *echo.Context) error {
	in := userInput{Email: c.FormValue("email"), Name: c.FormValue("name"), Role: core.Role(c.FormValue("role")),
		Password: c.FormValue("password")}
	r, err := s.addUser(c, in)
	if err != nil {
		f := userForm{Email: in.Email, Name: in.Name, Role: string(in.Role), Fields: map[string]string{}}
		switch {
		case errors.Is(err, core.ErrConflict):
			f.Fields["email"] = "an account with this email exists"
		case errors.Is(err, core.ErrInvalid) && core.ErrorField(err) != "":
			f.Fields[core.ErrorField(err)] = fieldMessage(err)
		case errors.Is(err, core.ErrInvalid):
			f.Error = fieldMessage(err)
		default:
			return err
		}
		// Echoed as safe text: a direction override in the value would
		// otherwise reorder the form around it.
		f.Email, f.Name = safeText(f.Email), safeText(f.Name)
		return s.renderUsers(c, http.StatusBadRequest, usersPage{Form: f})
	}
	if r.Password != "" {
		// The generated password is on this answer and nowhere else: no
		// redirect (it would have to carry it), no log line.
		return s.renderUsers(c, http.StatusCreated, usersPage{Created: &r})
	}
	return seeOther(c, "/admin/users?done=created")
}

func (s *Server) renderUser(c *echo.Context, status int, d userPage) error {
	if d.Fields == nil {
		d.Fields = map[string]string{}
	}
	d.Roles = core.Roles
	if me := callerUser(c); me != nil {
		d.Self = me.ID == d.User.ID
	}
	title := d.User.Name
	if title == "" {
		title = d.User.Email
	}
	return s.render(c, status, "admin_user", Page{Title: safeText(title), Nav: "admin", Data: d, Flash: flash(c)})
}

func (s *Server) loadUser(c *echo.Context) (core.User, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return core.User{}, core.NotFoundf("no such user")
	}
	u, err := s.store.GetUser(ctx(c), id)
	if errors.Is(err, core.ErrNotFound) {
		return u, core.NotFoundf("user %s", id)
	}
	return u, err
}

// GET /admin/users/:id
func (s *Server) uiUser(c *echo.Context) error {
	u, err := s.loadUser(c)
	if err != nil {
		return err
	}
	return s.renderUser(c, http.StatusOK, userPage{User: u})
}

// uiChange runs one change from the user page and answers it: back to the
// page with a confirmation, the page again with the error in place, the
// generated password once, or the sign-in page when the admin ended their
// own session (a role change or a new password of their own).
func (s *Server) uiChange(c *echo.Context, p userPatch, done string) error {
	u, err := s.loadUser(c)
	if err != nil {
		return err
	}
	r, ended, err := s.changeUser(c, u.ID, p)
	if err != nil {
		d := userPage{User: u, Fields: map[string]string{}}
		switch {
		case errors.Is(err, core.ErrConflict):
			d.Error = fieldMessage(err)
			return s.renderUser(c, http.StatusConflict, d)
		case errors.Is(err, core.ErrInvalid) && core.ErrorField(err) != "":
			d.Fields[core.ErrorField(err)] = fieldMessage(err)
			return s.renderUser(c, http.StatusBadRequest, d)
		case errors.Is(err, core.ErrInvalid):
			d.Error = fieldMessage(err)
			return s.renderUser(c, http.StatusBadRequest, d)
		}
		return err
	}
	if me := callerUser(c); ended && me != nil && me.ID == u.ID {
		s.endSession(c)
		return seeOther(c, "/signin?next=/admin/users")
	}
	if r.Password != "" {
		return s.renderUser(c, http.StatusOK, userPage{User: r.User, Reset: &r})
	}
	return seeOther(c, "/admin/users/"+u.ID.String()+"?done="+done)
}

// POST /admin/users/:id — name and role.
func (s *Server) uiUpdateUser(c *echo.Context) error {
	name, role := c.FormValue("name"), core.Role(c.FormValue("role"))
	return s.uiChange(c, userPatch{Name: &name, Role: &role}, "updated")
}

// POST /admin/users/:id/disable
func (s *Server) uiDisableUser(c *echo.Context) error {
	t := true
	return s.uiChange(c, userPatch{Disabled: &t}, "disabled")
}

// POST /admin/users/:id/enable
func (s *Server) uiEnableUser(c *echo.Context) error {
	f := false
	return s.uiChange(c, userPatch{Disabled: &f}, "enabled")
}

// POST /admin/users/:id/password — typed, or generated when empty.
func (s *Server) uiResetPassword(c *echo.Context) error {
	pw := c.FormValue("password")
	return s.uiChange(c, userPatch{Password: &pw, GeneratePassword: pw == ""}, "password")
}
