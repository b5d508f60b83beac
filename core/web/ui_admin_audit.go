package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// auditPage is /admin/audit.
type auditPage struct {
	Entries  []core.AuditEntry
	Actor    string
	Action   string
	Error    string
	Next     string // URL of the next (older) page, "" at the end
	First    bool   // this is the newest page
	FirstURL string // the newest page with the same filters
}

// GET /admin/audit — newest first, filtered by actor and action, paged by
// cursor (the "Older" link carries the filters on).
func (s *Server) uiAudit(c *echo.Context) error {
	d := auditPage{Actor: c.QueryParam("actor"), Action: c.QueryParam("action"), First: c.QueryParam("before") == ""}
	status := http.StatusOK
	q, err := auditQuery(c)
	if err == nil {
		var page core.Page[core.AuditEntry]
		page, err = s.store.ListAudit(ctx(c), q)
		d.Entries = page.Items
		if page.Next != "" {
			v := url.Values{"before": {page.Next}}
			if d.Actor != "" {
				v.Set("actor", d.Actor)
			}
			if d.Action != "" {
				v.Set("action", d.Action)
			}
			d.Next = "/admin/audit?" + v.Encode()
		}
		v := url.Values{}
		if d.Actor != "" {
			v.Set("actor", d.Actor)
		}
		if d.Action != "" {
			v.Set("action", d.Action)
		}
		d.FirstURL = "/admin/audit?" + v.Encode()
	}
	if err != nil {
		if !errors.Is(err, core.ErrInvalid) {
			return err
		}
		d.Error, status = fieldMessage(err), http.StatusBadRequest
	}
	return s.render(c, status, "admin_audit", Page{Title: "Audit log", Nav: "admin", Data: d})
}
