package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// auditQuery reads the audit log's paging and filters from the query
// string: before (the previous page's next), limit, actor, action. The
// admin page and the API read the same parameters.
func auditQuery(c *echo.Context) (core.AuditQuery, error) {
	q := core.AuditQuery{Actor: c.QueryParam("actor"), Action: c.QueryParam("action")}
	if len(q.Actor) > 320 {
		return q, core.FieldErr("actor", "at most 320 bytes")
	}
	if len(q.Action) > 100 {
		return q, core.FieldErr("action", "at most 100 bytes")
	}
	if b := c.QueryParam("before"); b != "" {
		id, err := core.ParseID(b)
		if err != nil {
			return q, core.FieldErr("before", "%q is not a valid cursor", b)
		}
		q.Before = id
	}
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return q, core.FieldErr("limit", "must be a number between 1 and 500")
		}
		q.Limit = n
	}
	return q, nil
}

// GET /api/v1/admin/audit — the audit log, newest first, a page at a time.
func (s *Server) listAudit(c *echo.Context) error {
	q, err := auditQuery(c)
	if err != nil {
		return err
	}
	page, err := s.store.ListAudit(ctx(c), q)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []core.AuditEntry{}
	}
	return c.JSON(http.StatusOK, page)
}
