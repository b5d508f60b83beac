package core

import (
	"context"
	"slices"
	"time"
)

// Session is a signed-in browser. The cookie carries a random secret; only
// its SHA-256 (Hash) is stored, so a stolen backup cannot sign anyone in.
type Session struct {
	Hash       []byte    `json:"-"`
	UserID     ID        `json:"user_id"`
	CSRF       string    `json:"csrf"` // synchronizer token for forms and htmx requests
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"` // absolute end; idle timeout is checked against LastSeenAt
	IP         string    `json:"ip,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
}

// Sessions persist browser sessions (in bbolt, so a restart keeps staff signed in).
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, hash []byte) (Session, error) // unknown: ErrNotFound
	// TouchSession records activity (LastSeenAt); unknown: ErrNotFound.
	TouchSession(ctx context.Context, hash []byte, at time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error // unknown is not an error
	// DeleteUserSessions ends every session of a user (disable, password
	// change, role change) and says how many there were.
	DeleteUserSessions(ctx context.Context, userID ID) (int, error)
	// DeleteExpiredSessions removes sessions whose ExpiresAt is before now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}

// AuditEntry records one change: who did what to which thing, and when.
type AuditEntry struct {
	ID        ID        `json:"id"`
	At        time.Time `json:"at"`
	ActorKind string    `json:"actor_kind"` // "user", "token" or "system"
	ActorID   ID        `json:"actor_id,omitempty"`
	Actor     string    `json:"actor"`  // email of the user, name of the token, or the command
	Action    string    `json:"action"` // route name or command, e.g. "patchCustomer", "user add"
	Target    string    `json:"target,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Status    int       `json:"status,omitempty"` // HTTP status of the request, when it came over HTTP
}

// AuditQuery pages the audit log newest first.
type AuditQuery struct {
	Before ID // 0: from the newest
	Limit  int
	Actor  string // exact match on Actor, "" for all
	Action string // exact match on Action, "" for all
}

// Audit is the append-only audit log.
type Audit interface {
	// AppendAudit stores an entry and assigns its ID (increasing).
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// ListAudit returns entries newest first; the page's Next is the
	// Before of the following page (decimal id), "" at the end.
	ListAudit(ctx context.Context, q AuditQuery) (Page[AuditEntry], error)
}

// Permissions is what each role may do, as the scopes its requests carry:
// the one table that the route table's per-route scope is checked against,
// for UI and API routes alike. Admin carries ScopeAdmin, which implies all.
//
//   - viewer: read customers, their history and search.
//   - agent: also edit customers, add notes, calls and other interactions,
//     and send a customer a message.
//   - manager: also import, export and erase customers, and see and manage
//     the outbox (every message, retry, cancel).
//   - admin: everything, including users, tokens, audit log, backup, status.
var Permissions = map[Role][]Scope{
	RoleViewer:  {ScopeCustomersRead, ScopeInteractionsRead, ScopeSearch},
	RoleAgent:   {ScopeCustomersRead, ScopeInteractionsRead, ScopeSearch, ScopeCustomersWrite, ScopeInteractionsWrite, ScopeMessagesSend},
	RoleManager: {ScopeCustomersRead, ScopeInteractionsRead, ScopeSearch, ScopeCustomersWrite, ScopeInteractionsWrite, ScopeMessagesSend, ScopeImport, ScopeCustomersErase, ScopeOutbox},
	RoleAdmin:   {ScopeAdmin},
}

// RoleAllows reports whether role r may act with scope s. ScopeSignedIn is
// allowed to every role.
func RoleAllows(r Role, s Scope) bool {
	if s == ScopeSignedIn {
		return r.Valid()
	}
	p := Permissions[r]
	return slices.Contains(p, s) || slices.Contains(p, ScopeAdmin)
}
