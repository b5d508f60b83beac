package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// tokenForm is the create-token form and its errors.
type tokenForm struct {
	Name    string
	Checked map[string]bool // the scopes ticked, kept when the form comes back
	Expires string          // YYYY-MM-DD, business time zone
	Error   string
	Fields  map[string]string
}

// tokensPage is /admin/tokens.
type tokensPage struct {
	Tokens []core.Token
	Users  map[core.ID]string // id → email, for "created by"
	Scopes []core.Scope
	Form   tokenForm
	Now    time.Time
}

func (s *Server) renderTokens(c *echo.Context, status int, f tokenForm) error {
	ts, err := s.store.ListTokens(ctx(c))
	if err != nil {
		return err
	}
	slices.SortFunc(ts, func(a, b core.Token) int { return b.CreatedAt.Compare(a.CreatedAt) })
	us, err := s.store.ListUsers(ctx(c))
	if err != nil {
		return err
	}
	users := make(map[core.ID]string, len(us))
	for _, u := range us {
		users[u.ID] = u.Email
	}
	if f.Fields == nil {
		f.Fields = map[string]string{}
	}
	d := tokensPage{Tokens: ts, Users: users, Scopes: core.Scopes, Form: f, Now: s.now()}
	return s.render(c, status, "admin_tokens", Page{Title: "API tokens", Nav: "admin", Data: d, Flash: flash(c)})
}

// GET /admin/tokens
func (s *Server) uiTokens(c *echo.Context) error {
	return s.renderTokens(c, http.StatusOK, tokenForm{})
}

// POST /admin/tokens — the answer is the one page that ever shows the
// secret; it is not stored, logged or put in a redirect.
func (s *Server) uiCreateToken(c *echo.Context) error {
	form, err := c.FormValues()
	if err != nil {
		return core.Invalidf("the form could not be read")
	}
	f := tokenForm{Name: safeText(form.Get("name")), Expires: form.Get("expires"),
		Fields: map[string]string{}, Checked: map[string]bool{}}
	in := tokenInput{Name: form.Get("name")}
	for _, sc := range form["scopes"] {
		in.Scopes = append(in.Scopes, core.Scope(sc))
		f.Checked[sc] = true
	}
	if f.Expires != "" {
		day, err := time.ParseInLocation("2006-01-02", f.Expires, s.cfg.Location())
		if err != nil {
			f.Fields["expires"] = "use a date like 2030-12-31"
			f.Expires = ""
			return s.renderTokens(c, http.StatusBadRequest, f)
		}
		in.ExpiresAt = day.AddDate(0, 0, 1) // valid through the whole chosen day
	}
	var me core.ID
	if u := callerUser(c); u != nil {
		me = u.ID
	}
	ct, err := s.issueToken(c, in, me)
	if err != nil {
		if !errors.Is(err, core.ErrInvalid) {
			return err
		}
		field := core.ErrorField(err)
		switch {
		case strings.HasPrefix(field, "scopes"):
			field = "scopes"
		case field == "expires_at":
			field = "expires"
		}
		if field == "" {
			f.Error = fieldMessage(err)
		} else {
			f.Fields[field] = fieldMessage(err)
		}
		return s.renderTokens(c, http.StatusBadRequest, f)
	}
	return s.render(c, http.StatusCreated, "admin_token_created", Page{Title: "Token created", Nav: "admin", Data: ct})
}

// POST /admin/tokens/:id/revoke
func (s *Server) uiRevokeToken(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return core.NotFoundf("no such token")
	}
	if _, err := s.revokeTokenID(c, id); err != nil {
		return err
	}
	return seeOther(c, "/admin/tokens?done=revoked")
}
