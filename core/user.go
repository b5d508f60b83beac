package core

import (
	"slices"
	"strings"
	"time"
)

// Role is what a staff member may do. What each role may see and do is the
// permission table in core/web (one table for UI and API routes).
type Role string

// The roles, from most to least powerful.
const (
	RoleAdmin   Role = "admin"
	RoleManager Role = "manager"
	RoleAgent   Role = "agent"
	RoleViewer  Role = "viewer"
)

// Roles lists the roles from most to least powerful.
var Roles = []Role{RoleAdmin, RoleManager, RoleAgent, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// User is a staff account. PasswordHash is an argon2id PHC string and never
// leaves the server (json:"-").
type User struct {
	ID           ID        `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	LastLoginAt  time.Time `json:"last_login_at,omitzero"`
}

// Normalize validates a user record (not its password).
func (u *User) Normalize() error {
	e, err := NormalizeEmail(u.Email)
	if err != nil {
		return FieldErr("email", "%v", err)
	}
	if e == "" {
		return FieldErr("email", "required")
	}
	u.Email = e
	u.Name = strings.Join(strings.Fields(u.Name), " ")
	if err := checkText("name", u.Name, MaxNameLen); err != nil {
		return err
	}
	if !u.Role.Valid() {
		return FieldErr("role", "must be one of admin, manager, agent, viewer")
	}
	return nil
}

// Scope is a permission an API token carries.
type Scope string

// The token scopes.
const (
	ScopeCustomersRead     Scope = "customers:read"
	ScopeCustomersWrite    Scope = "customers:write"
	ScopeInteractionsRead  Scope = "interactions:read"
	ScopeInteractionsWrite Scope = "interactions:write"
	ScopeSearch            Scope = "search"
	ScopeImport            Scope = "import"
	ScopeCustomersErase    Scope = "customers:erase" // erasure ("right to be forgotten")
	ScopeMessagesSend      Scope = "messages:send"   // put a message to a customer in the outbox
	ScopeOutbox            Scope = "outbox"          // see every queued and sent message; retry, cancel
	ScopeAdmin             Scope = "admin"           // backup, users, tokens; implies every other scope
)

// ScopeSignedIn is not a token scope: it marks UI routes any signed-in
// staff member may use (their home page, signing out, their own password).
const ScopeSignedIn Scope = "@signed-in"

// Scopes lists every token scope.
var Scopes = []Scope{ScopeCustomersRead, ScopeCustomersWrite, ScopeInteractionsRead,
	ScopeInteractionsWrite, ScopeSearch, ScopeImport, ScopeCustomersErase, ScopeMessagesSend, ScopeOutbox, ScopeAdmin}

// ParseScopes reads a comma-separated scope list ("customers:read,search").
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(Scopes, Scope(p)) {
			return nil, FieldErr("scopes", "unknown scope %q", p)
		}
		if !slices.Contains(out, Scope(p)) {
			out = append(out, Scope(p))
		}
	}
	if len(out) == 0 {
		return nil, FieldErr("scopes", "at least one scope is required")
	}
	return out, nil
}

// Token is an API bearer token. The secret is shown once at creation; only
// its SHA-256 (Hash) is stored.
type Token struct {
	ID         ID        `json:"id"`
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"` // first characters of the secret, to tell tokens apart
	Hash       []byte    `json:"-"`
	Scopes     []Scope   `json:"scopes"`
	UserID     ID        `json:"user_id,omitempty"` // who created it
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// Allows reports whether the token carries scope s (admin carries all).
func (t *Token) Allows(s Scope) bool {
	return slices.Contains(t.Scopes, s) || slices.Contains(t.Scopes, ScopeAdmin)
}

// Active reports whether the token may be used at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}
