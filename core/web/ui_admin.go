package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"
)

// The admin pages (/admin/...) are for the admin role only (the route
// table gives each ScopeAdmin); /account is every signed-in user's own.
// Each state-changing action is a plain form POST followed by a redirect,
// so the pages work without JavaScript; the audit middleware records every
// one of them, with a detail line from the handler.

// flashes are the one-line confirmations a redirect asks for with ?done=;
// a fixed list, so a link cannot put arbitrary text on the page.
var flashes = map[string]string{
	"created":  "The user was created.",
	"updated":  "The user was updated.",
	"disabled": "The user was disabled and signed out everywhere.",
	"enabled":  "The user was enabled.",
	"password": "The password was changed.",
	"revoked":  "The token was revoked.",
	"own-pw":   "Your password was changed. Your other sessions were signed out.",
}

func flash(c *echo.Context) string { return flashes[c.QueryParam("done")] }

// adminStatusData is the admin start page.
type adminStatusData struct {
	StatusReport
	Uptime string
	Size   string // the database size for people: "12.3 MB"
}

// adminSize writes a size in decimal units, as disks and file managers do.
func adminSize(n int64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("kMGTPE"[exp]) + "B"
}

// GET /admin — system status and the backup download.
func (s *Server) uiAdmin(c *echo.Context) error {
	r, err := s.statusReport(c)
	if err != nil {
		return err
	}
	d := adminStatusData{StatusReport: r, Uptime: s.now().Sub(s.started).Truncate(time.Second).String(),
		Size: adminSize(r.Store.SizeBytes)}
	return s.render(c, http.StatusOK, "admin", Page{Title: "Admin", Nav: "admin", Data: d})
}

// GET /admin/backup — the same consistent copy as GET /api/v1/admin/backup,
// for a signed-in admin's browser. Reading the whole database is worth a
// line in the audit log even though it changes nothing.
func (s *Server) uiBackup(c *echo.Context) error {
	if err := s.backup(c); err != nil {
		return err
	}
	s.audit(c, "uiBackup", "", "backup downloaded", http.StatusOK)
	return nil
}
