package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// ctxAuditDetail lets a handler add a line to its audit entry ("role agent → manager").
const ctxAuditDetail = "retain.audit.detail"

// auditDetail sets the detail of the request's audit entry.
func auditDetail(c *echo.Context, detail string) { c.Set(ctxAuditDetail, detail) }

// selfAudited routes write their own entries (they sign in or out, so the
// caller after the handler is not the caller before it).
var selfAudited = map[string]bool{"signIn": true, "signOut": true, "setup": true}

// readOnlyPost routes are POSTs only because their input is a body (a rule
// to count): they change nothing, so there is nothing to audit, and the
// rule editor's live count would otherwise flood the log.
var readOnlyPost = map[string]bool{"previewSegment": true}

// notAudited routes are called by outside systems, unauthenticated (inbound
// hooks): what they change is recorded as interactions and consent changes
// with their source, and a flood of anonymous entries would bury the log.
var notAudited = map[string]bool{"hook": true, "hookRoot": true}

// auditRequest records a successful state-changing request. wrap calls it
// for every route, so no change can be added without being audited.
func (s *Server) auditRequest(c *echo.Context, r Route) {
	if !unsafeMethod(c.Request().Method) || selfAudited[r.Name] || readOnlyPost[r.Name] || notAudited[r.Name] {
		return
	}
	_, status := echo.ResolveResponseStatus(c.Response(), nil)
	if status >= 400 {
		return
	}
	var target []string
	for _, pv := range c.PathValues() {
		target = append(target, pv.Name+"="+pv.Value)
	}
	detail, _ := c.Get(ctxAuditDetail).(string)
	s.audit(c, r.Name, strings.Join(target, " "), detail, status)
}

// audit appends one entry naming the caller. A failure to write is logged:
// the change itself already happened.
func (s *Server) audit(c *echo.Context, action, target, detail string, status int) {
	e := core.AuditEntry{At: s.now(), Action: action, Target: truncate(target, 500), Detail: truncate(detail, 2000),
		IP: c.RealIP(), Status: status, ActorKind: "anonymous"}
	if u := callerUser(c); u != nil {
		e.ActorKind, e.ActorID, e.Actor = "user", u.ID, u.Email
	} else if t := callerToken(c); t != nil {
		e.ActorKind, e.ActorID, e.Actor = "token", t.ID, t.Name
	}
	if _, err := s.store.AppendAudit(ctx(c), e); err != nil {
		s.log.Error("could not write the audit log", "action", action, "error", err)
	}
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// statusOK is for handlers that audit themselves.
const statusOK = http.StatusOK
