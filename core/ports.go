package core

import (
	"context"
	"io"
	"time"
)

// Page is one page of a cursor-paged listing. Next is opaque; empty means
// there is nothing after this page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// CustomerQuery selects customers for a listing, in ID (creation) order.
type CustomerQuery struct {
	Tag    string // only customers with this tag
	Cursor string
	Limit  int // 1..1000; 0 means 50
}

// TimelineQuery selects a page of one customer's timeline, newest first.
type TimelineQuery struct {
	Types  []InteractionType // empty: all
	Cursor string
	Limit  int // 1..1000; 0 means 50
}

// MergeFunc decides what an upsert stores when a customer with the same
// external id exists: it receives the stored record and the incoming one and
// returns the record to store (keeping the stored ID and CreatedAt).
type MergeFunc func(stored, incoming Customer) Customer

// AppendResult tells, per appended interaction, what the store holds now.
type AppendResult struct {
	ID        ID   `json:"id"`
	Duplicate bool `json:"duplicate"` // the idempotency key was known; nothing new was stored
}

// EntityKind names what a change-log entry is about.
type EntityKind uint8

// The kinds of entity the change log records.
const (
	KindCustomer EntityKind = iota + 1
	KindInteraction
)

func (k EntityKind) String() string {
	switch k {
	case KindCustomer:
		return "customer"
	case KindInteraction:
		return "interaction"
	}
	return "unknown"
}

// Change is one entry of the change log: entity ID changed (or was deleted)
// in the transaction that wrote change Seq. Seq is strictly increasing.
type Change struct {
	Seq        uint64
	Kind       EntityKind
	ID         ID
	CustomerID ID // for interactions
	Deleted    bool
}

// ChangeFeed is what a derived index (search, later segments) needs from the
// store: the change log in order and the current state of the changed entities.
type ChangeFeed interface {
	// Changes returns up to limit entries with Seq > after, in order.
	Changes(ctx context.Context, after uint64, limit int) ([]Change, error)
	// LastChange returns the Seq of the newest entry (0 when empty).
	LastChange(ctx context.Context) (uint64, error)
	// TrimChanges drops entries with Seq <= upTo once every consumer has them.
	TrimChanges(ctx context.Context, upTo uint64) error
	// GetCustomers and GetInteractions return the entities that still exist,
	// in any order; missing IDs are simply absent.
	GetCustomers(ctx context.Context, ids []ID) ([]Customer, error)
	GetInteractions(ctx context.Context, ids []ID) ([]Interaction, error)
	// ScanCustomers and ScanAllInteractions walk everything, for a rebuild.
	ScanCustomers(ctx context.Context, fn func(Customer) error) error
	ScanAllInteractions(ctx context.Context, fn func(Interaction) error) error
}

// Store is the source of truth. Every method that writes also appends to the
// change log in the same transaction. Implementations return the kinds in
// errors.go (ErrNotFound, ErrConflict, ...) wrapped with %w.
type Store interface {
	ChangeFeed

	// CreateCustomer stores a new customer and assigns its ID. A duplicate
	// external id is ErrConflict.
	CreateCustomer(ctx context.Context, c Customer) (Customer, error)
	// UpsertCustomers matches each customer by ExternalID (required) and
	// creates or merges it, all in one transaction. The result holds the
	// stored records in input order; created tells which were new.
	UpsertCustomers(ctx context.Context, in []Customer, merge MergeFunc) (out []Customer, created []bool, err error)
	GetCustomer(ctx context.Context, id ID) (Customer, error)
	GetCustomerByExternalID(ctx context.Context, externalID string) (Customer, error)
	// FindCustomersByEmail and FindCustomersByPhone use the exact secondary
	// indexes (normalized values).
	FindCustomersByEmail(ctx context.Context, email string) ([]Customer, error)
	FindCustomersByPhone(ctx context.Context, phone string) ([]Customer, error)
	// UpdateCustomer reads, applies fn and writes back in one transaction.
	UpdateCustomer(ctx context.Context, id ID, fn func(*Customer) error) (Customer, error)
	ListCustomers(ctx context.Context, q CustomerQuery) (Page[Customer], error)
	CountCustomers(ctx context.Context) (int, error)
	// EraseCustomer removes the customer, every interaction of theirs and
	// every index entry, and logs the deletions for derived indexes.
	EraseCustomer(ctx context.Context, id ID) error

	// AppendInteractions stores a batch (at most MaxBatch) in one
	// transaction. Interactions whose IdempotencyKey is already stored are
	// not stored again. Each interaction's customer must exist (else
	// ErrNotFound naming it); the customer's FirstSeen/LastSeen follow.
	AppendInteractions(ctx context.Context, in []Interaction) ([]AppendResult, error)
	GetInteraction(ctx context.Context, id ID) (Interaction, error)
	Timeline(ctx context.Context, customerID ID, q TimelineQuery) (Page[Interaction], error)
	// ScanInteractions walks interactions with from <= Time < to in time
	// order (zero times mean unbounded), for analytics.
	ScanInteractions(ctx context.Context, from, to time.Time, fn func(Interaction) error) error
	CountInteractions(ctx context.Context) (int, error)

	Users
	Tokens
	ImportJobs
	Sessions
	Audit
	SegmentStore
	Outbox
	PluginSettingsStore

	// Backup writes a consistent copy of the whole database to w while the
	// store stays online.
	Backup(ctx context.Context, w io.Writer) (int64, error)
	// Check verifies the database's internal consistency and the secondary
	// indexes against the entities; it returns every problem found.
	Check(ctx context.Context) []error
	// Stats reports sizes for the status page and /readyz.
	Stats(ctx context.Context) (StoreStats, error)
	Close() error
}

// StoreStats describes the database for operators.
type StoreStats struct {
	Path          string `json:"path"`
	SizeBytes     int64  `json:"size_bytes"`
	SchemaVersion int    `json:"schema_version"`
	LastChange    uint64 `json:"last_change"`
	Writable      bool   `json:"writable"`
}

// Users are the staff accounts.
type Users interface {
	CreateUser(ctx context.Context, u User) (User, error) // duplicate email: ErrConflict
	GetUser(ctx context.Context, id ID) (User, error)
	GetUserByEmail(ctx context.Context, email string) (User, error)
	UpdateUser(ctx context.Context, id ID, fn func(*User) error) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
}

// Tokens are the API bearer tokens. Only a hash of the secret is stored.
type Tokens interface {
	CreateToken(ctx context.Context, t Token) (Token, error)
	GetTokenByHash(ctx context.Context, hash []byte) (Token, error)
	ListTokens(ctx context.Context) ([]Token, error)
	UpdateToken(ctx context.Context, id ID, fn func(*Token) error) (Token, error)
}

// ImportJobs persist import jobs so their progress and errors survive a restart.
type ImportJobs interface {
	CreateImportJob(ctx context.Context, j ImportJob) (ImportJob, error)
	GetImportJob(ctx context.Context, id ID) (ImportJob, error)
	UpdateImportJob(ctx context.Context, id ID, fn func(*ImportJob) error) (ImportJob, error)
	ListImportJobs(ctx context.Context, limit int) ([]ImportJob, error)
}

// SearchScope says what a search looks for.
type SearchScope string

// The search scopes.
const (
	ScopeAll          SearchScope = ""
	ScopeCustomers    SearchScope = "customers"
	ScopeInteractions SearchScope = "interactions"
)

// SearchQuery is a search as the user types it, plus filters.
type SearchQuery struct {
	Text       string            `json:"q"`
	Scope      SearchScope       `json:"scope,omitempty"`
	CustomerID ID                `json:"customer_id,omitempty"` // only this customer's history
	Types      []InteractionType `json:"types,omitempty"`
	Tags       []string          `json:"tags,omitempty"` // customers having all these tags
	From, To   time.Time         // interaction time (or customer last seen) range; zero: open
	Limit      int               `json:"limit,omitempty"` // 1..100; 0 means 20
	Offset     int               `json:"offset,omitempty"`
}

// SearchHit is one result. Fragments maps a field to highlighted snippets in
// which the matched terms are wrapped in U+E000 … U+E001 (private-use
// characters), so the caller HTML-escapes the text and then turns the marks
// into <mark> tags without ever trusting stored text as HTML.
type SearchHit struct {
	Kind       EntityKind          `json:"-"`
	KindName   string              `json:"kind"`
	ID         ID                  `json:"id"`
	CustomerID ID                  `json:"customer_id"`
	Score      float64             `json:"score"`
	Title      string              `json:"title"`              // customer name or interaction type
	Subtitle   string              `json:"subtitle,omitempty"` // email, or customer name
	Time       time.Time           `json:"time,omitzero"`
	Fragments  map[string][]string `json:"fragments,omitempty"`
}

// Highlight marks wrap matched terms in SearchHit.Fragments.
const (
	HighlightStart = "\ue000"
	HighlightEnd   = "\ue001"
)

// SearchResults is a page of hits.
type SearchResults struct {
	Total int           `json:"total"`
	Hits  []SearchHit   `json:"hits"`
	Took  time.Duration `json:"took_ns"`
}

// Index is the search side as the domain sees it.
type Index interface {
	Search(ctx context.Context, q SearchQuery) (SearchResults, error)
	// Status says how far the index has caught up with the change log.
	Status(ctx context.Context) (IndexStatus, error)
}

// IndexStatus reports the derived index's progress.
type IndexStatus struct {
	Watermark uint64 `json:"watermark"` // last change applied
	Lag       uint64 `json:"lag"`       // changes not yet applied
	Documents uint64 `json:"documents"`
	Version   int    `json:"version"`
}
