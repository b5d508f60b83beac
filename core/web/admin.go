package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/auth"
)

// GET /admin/backup streams a consistent copy of the database.
func (s *Server) backup(c *echo.Context) error {
	w := c.Response()
	name := "retain-backup-" + s.now().Format("20060102T150405Z") + ".db"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	n, err := s.store.Backup(ctx(c), w)
	if err != nil {
		// The status line is gone; the client sees a short body. Log it.
		s.log.Error("backup failed mid-stream", "bytes", n, "error", err)
		return nil
	}
	s.log.Info("backup served", "bytes", n)
	return nil
}

// StatusReport is GET /admin/status.
type StatusReport struct {
	Version      string            `json:"version"`
	StartedAt    time.Time         `json:"started_at"`
	Store        core.StoreStats   `json:"store"`
	Index        *core.IndexStatus `json:"index,omitempty"`
	IndexError   string            `json:"index_error,omitempty"`
	Customers    int               `json:"customers"`
	Interactions int               `json:"interactions"`

	// Analytics is the retention engine's progress (absent when it is not running).
	Analytics *analytics.Status `json:"analytics,omitempty"`
}

// GET /admin/status
func (s *Server) status(c *echo.Context) error {
	r, err := s.statusReport(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// statusReport gathers the status for the API and the admin page.
func (s *Server) statusReport(c *echo.Context) (StatusReport, error) {
	st, err := s.store.Stats(ctx(c))
	if err != nil {
		return StatusReport{}, err
	}
	r := StatusReport{Version: s.version, StartedAt: s.started, Store: st}
	if r.Customers, err = s.store.CountCustomers(ctx(c)); err != nil {
		return r, err
	}
	if r.Interactions, err = s.store.CountInteractions(ctx(c)); err != nil {
		return r, err
	}
	if s.an != nil {
		st := s.an.Status()
		r.Analytics = &st
	}
	if s.svc.Index == nil {
		r.IndexError = "no search index"
	} else if ix, err := s.svc.Index.Status(ctx(c)); err != nil {
		r.IndexError = err.Error()
	} else {
		r.Index = &ix
	}
	return r, nil
}

// GET /admin/tokens
func (s *Server) listTokens(c *echo.Context) error {
	ts, err := s.store.ListTokens(ctx(c))
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []core.Token{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": ts})
}

type tokenInput struct {
	Name      string       `json:"name"`
	Scopes    []core.Scope `json:"scopes"`
	ExpiresAt time.Time    `json:"expires_at"`
}

// CreatedToken is the answer to POST /admin/tokens: the only time the
// secret is ever shown.
type CreatedToken struct {
	Token  core.Token `json:"token"`
	Secret string     `json:"secret"`
}

// POST /admin/tokens
func (s *Server) createToken(c *echo.Context) error {
	var in tokenInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	var userID core.ID
	if caller := callerToken(c); caller != nil {
		userID = caller.UserID
	} else if u := callerUser(c); u != nil {
		userID = u.ID
	}
	ct, err := s.issueToken(c, in, userID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ct)
}

// issueToken validates and stores a new token for createToken and the
// admin page; the secret is in the answer and nowhere else.
func (s *Server) issueToken(c *echo.Context, in tokenInput, userID core.ID) (CreatedToken, error) {
	in.Name = strings.Join(strings.Fields(in.Name), " ")
	if in.Name == "" {
		return CreatedToken{}, core.FieldErr("name", "required")
	}
	if len(in.Name) > 100 {
		return CreatedToken{}, core.FieldErr("name", "at most 100 bytes")
	}
	if !utf8.ValidString(in.Name) || strings.ContainsFunc(in.Name, unicode.IsControl) {
		return CreatedToken{}, core.FieldErr("name", "must be valid text without control characters")
	}
	if len(in.Scopes) == 0 {
		return CreatedToken{}, core.FieldErr("scopes", "at least one scope is required")
	}
	var scopes []core.Scope
	for i, sc := range in.Scopes {
		if !slices.Contains(core.Scopes, sc) {
			return CreatedToken{}, core.FieldErr("scopes["+strconv.Itoa(i)+"]", "unknown scope %q", sc)
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	now := s.now()
	if !in.ExpiresAt.IsZero() && !in.ExpiresAt.After(now) {
		return CreatedToken{}, core.FieldErr("expires_at", "must be in the future")
	}
	secret, prefix, hash, err := auth.NewToken()
	if err != nil {
		return CreatedToken{}, err
	}
	t := core.Token{Name: in.Name, Prefix: prefix, Hash: hash, Scopes: scopes, CreatedAt: now, ExpiresAt: in.ExpiresAt.UTC()}
	t.UserID = userID
	t, err = s.store.CreateToken(ctx(c), t)
	if err != nil {
		return CreatedToken{}, err
	}
	sc := make([]string, len(t.Scopes))
	for i, x := range t.Scopes {
		sc[i] = string(x)
	}
	auditDetail(c, fmt.Sprintf("token=%s %q scopes %s", t.ID, t.Name, strings.Join(sc, ",")))
	return CreatedToken{Token: t, Secret: secret}, nil
}

// DELETE /admin/tokens/:id revokes the token; revoking twice keeps the
// first revocation time. A token may revoke itself.
func (s *Server) revokeToken(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.revokeTokenID(c, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// revokeTokenID revokes one token (page and API) and notes it for the audit log.
func (s *Server) revokeTokenID(c *echo.Context, id core.ID) (core.Token, error) {
	now := s.now()
	t, err := s.store.UpdateToken(ctx(c), id, func(t *core.Token) error {
		if t.RevokedAt.IsZero() {
			t.RevokedAt = now
		}
		return nil
	})
	if errors.Is(err, core.ErrNotFound) {
		return t, core.NotFoundf("token %s", id)
	}
	if err == nil {
		auditDetail(c, "token "+t.Prefix+"… "+t.Name)
	}
	return t, err
}
