package core

import "time"

// ImportKind says what rows of an import file become.
type ImportKind string

// The import kinds.
const (
	ImportCustomers    ImportKind = "customers"
	ImportInteractions ImportKind = "interactions"
)

// ImportState is where an import job is in its life.
type ImportState string

// The import job states.
const (
	ImportQueued    ImportState = "queued"
	ImportRunning   ImportState = "running"
	ImportDone      ImportState = "done"
	ImportFailed    ImportState = "failed" // stopped by an error that is not a row's fault
	ImportCancelled ImportState = "cancelled"
)

// Finished reports whether the job will not change any more.
func (s ImportState) Finished() bool {
	return s == ImportDone || s == ImportFailed || s == ImportCancelled
}

// MaxJobErrors is how many rejected rows a job record keeps inline; the rest
// are counted and written to the job's rejected-rows file.
const MaxJobErrors = 1000

// RowError is one rejected row of an import.
type RowError struct {
	Line   int    `json:"line"` // 1-based line (CSV record start) in the file
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// ImportJob is the persisted state of an import.
type ImportJob struct {
	ID        ID          `json:"id"`
	Kind      ImportKind  `json:"kind"`
	Format    string      `json:"format"` // "csv" or "jsonl"
	FileName  string      `json:"file_name"`
	FilePath  string      `json:"-"` // where the uploaded file is kept on the server
	SizeBytes int64       `json:"size_bytes"`
	Mapping   string      `json:"mapping,omitempty"` // the mapping used, as TOML
	State     ImportState `json:"state"`
	// Progress: bytes of the file read so far, rows seen, rows stored (new),
	// rows that were already stored (idempotent repeats), rows rejected.
	BytesRead  int64      `json:"bytes_read"`
	Rows       int64      `json:"rows"`
	Stored     int64      `json:"stored"`
	Duplicates int64      `json:"duplicates"`
	Rejected   int64      `json:"rejected"`
	Errors     []RowError `json:"errors,omitempty"`  // the first MaxJobErrors
	Message    string     `json:"message,omitempty"` // why it failed
	UserID     ID         `json:"user_id,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  time.Time  `json:"started_at,omitzero"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
}
