package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// Importer is what the HTTP surface needs from the import machinery
// (core/importer); core/app adapts the real one to it.
type Importer interface {
	// Start stores the upload and queues a job for it; it returns at once
	// with the job in state queued (or running). The reader is only valid
	// during the call: the importer copies what it needs.
	Start(ctx context.Context, req ImportRequest) (core.ImportJob, error)
	// DryRun reads the whole upload, maps and validates every row, stores
	// nothing and reports what an import would do.
	DryRun(ctx context.Context, req ImportRequest) (ImportPreview, error)
	Get(ctx context.Context, id core.ID) (core.ImportJob, error)
	// List returns the newest jobs first, at most limit.
	List(ctx context.Context, limit int) ([]core.ImportJob, error)
	// Cancel stops a queued or running job (a finished job is returned as
	// it is) and returns its state.
	Cancel(ctx context.Context, id core.ID) (core.ImportJob, error)
	// RejectedPath returns the path of the job's rejected-rows CSV
	// (ErrNotFound when the job rejected nothing or is unknown).
	RejectedPath(ctx context.Context, id core.ID) (string, error)

	// The import page works in steps on one upload: Stage keeps the file
	// on the server under an opaque id and inspects it; Inspect reads it
	// again with req.Mapping's format keys; DryRun and Start take the staged
	// file when req.Upload is set (Start moves it into the job). Only the
	// user who staged an upload may use it (others get ErrNotFound), and
	// uploads left alone for a day are deleted.
	Stage(ctx context.Context, req ImportRequest) (ImportUpload, error)
	Inspect(ctx context.Context, req ImportRequest) (ImportUpload, error)
	Discard(ctx context.Context, req ImportRequest) error
}

// ImportRequest is one upload with its options.
type ImportRequest struct {
	Kind     core.ImportKind
	FileName string    // as the client named it (base name only)
	File     io.Reader // the file's content
	Size     int64     // bytes, as announced by the multipart header
	Mapping  string    // column mapping as TOML; empty means guess from headers
	UserID   core.ID   // who started it (the token's user), may be 0
	// Upload names a staged upload (Stage); File is then unused.
	Upload string
	// PreviewRows is how many rows a dry run reads (0: 20).
	PreviewRows int
}

// ImportUpload is a staged upload with what inspecting it found.
type ImportUpload struct {
	ID        string // opaque; never a path
	Kind      core.ImportKind
	FileName  string
	Size      int64
	CreatedAt time.Time
	Gzip      bool
	Encoding  string
	Format    string // csv or jsonl
	Delimiter string
	Header    bool
	Columns   []string
	Rows      []ImportSampleRow // the first records as read
	// Guess is, per column, the field the mapping (or header guessing)
	// maps it to; "" when the column is not imported.
	Guess []string
	// Fields are the fields a column may map to for Kind; entries ending
	// in "." are prefixes taking a name (attributes., properties.).
	Fields []string
	// Problem says why the file cannot be imported with this mapping yet.
	Problem      string
	ProblemField string
}

// ImportSampleRow is one record of a staged upload as read.
type ImportSampleRow struct {
	Line   int
	Cells  []string
	Reason string // why the importer would reject it as read
}

// PreviewInteraction is an interaction in ImportPreview.Sample: it names
// its customer by external id (the id is only known once stored).
type PreviewInteraction struct {
	CustomerExternalID string `json:"customer_external_id"`
	core.Interaction
}

// ImportPreview is what a dry run reports.
type ImportPreview struct {
	Kind     core.ImportKind `json:"kind"`
	Format   string          `json:"format"`            // csv or jsonl
	Columns  []string        `json:"columns,omitempty"` // header of the file
	Mapping  string          `json:"mapping,omitempty"` // the mapping that would be used, as TOML
	Rows     int64           `json:"rows"`
	Valid    int64           `json:"valid"`
	Rejected int64           `json:"rejected"`
	Errors   []core.RowError `json:"errors,omitempty"` // the first rejected rows
	Sample   []any           `json:"sample,omitempty"` // the first rows as they would be stored
}

const (
	maxImportList     = 100
	maxMappingBytes   = 64 << 10
	multipartMemory   = 8 << 20 // form parts beyond this go to temporary files
	importListDefault = 20
)

func (s *Server) importer() (Importer, error) {
	if s.imports == nil {
		return nil, fmt.Errorf("%w: imports are not available on this server", core.ErrUnavailable)
	}
	return s.imports, nil
}

// POST /imports (multipart/form-data: file, kind, mapping, dry_run).
// 202 with the job, or 200 with a preview for dry_run=true.
func (s *Server) startImport(c *echo.Context) error {
	im, err := s.importer()
	if err != nil {
		return err
	}
	req := c.Request()
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return errUnsupportedMedia
	}
	// The body is capped by MaxUploadBytes (wrap); parts over
	// multipartMemory spill to temporary files that RemoveAll deletes.
	if err := req.ParseMultipartForm(multipartMemory); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return core.Invalidf("malformed multipart body: %v", err)
	}
	defer req.MultipartForm.RemoveAll()
	form := req.MultipartForm

	one := func(name string) (string, error) {
		v := form.Value[name]
		if len(v) > 1 {
			return "", core.FieldErr(name, "given more than once")
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	kind, err := one("kind")
	if err != nil {
		return err
	}
	ir := ImportRequest{Kind: core.ImportKind(kind)}
	switch ir.Kind {
	case core.ImportCustomers, core.ImportInteractions:
	case "":
		return core.FieldErr("kind", "required: customers or interactions")
	default:
		return core.FieldErr("kind", "must be customers or interactions")
	}
	if ir.Mapping, err = one("mapping"); err != nil {
		return err
	}
	if len(ir.Mapping) > maxMappingBytes {
		return core.FieldErr("mapping", "at most %d bytes", maxMappingBytes)
	}
	dry, err := one("dry_run")
	if err != nil {
		return err
	}
	dryRun := false
	if dry != "" {
		if dryRun, err = strconv.ParseBool(dry); err != nil {
			return core.FieldErr("dry_run", "must be true or false")
		}
	}
	for name := range form.Value {
		switch name {
		case "kind", "mapping", "dry_run":
		default:
			return core.FieldErr(name, "unknown form field %q", name)
		}
	}
	files := form.File["file"]
	if len(files) != 1 || len(form.File) != 1 {
		return core.FieldErr("file", "exactly one file part named \"file\" is required")
	}
	fh := files[0]
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	ir.File, ir.Size = f, fh.Size
	ir.FileName = filepath.Base(strings.ReplaceAll(fh.Filename, "\\", "/"))
	if t := callerToken(c); t != nil {
		ir.UserID = t.UserID
	}
	if dryRun {
		p, err := im.DryRun(ctx(c), ir)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, p)
	}
	job, err := im.Start(ctx(c), ir)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", APIPrefix+"/imports/"+job.ID.String())
	return c.JSON(http.StatusAccepted, job)
}

// GET /imports?limit=
func (s *Server) listImports(c *echo.Context) error {
	im, err := s.importer()
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = importListDefault
	}
	if limit < 1 || limit > maxImportList {
		return core.FieldErr("limit", "must be between 1 and %d", maxImportList)
	}
	jobs, err := im.List(ctx(c), limit)
	if err != nil {
		return err
	}
	if jobs == nil {
		jobs = []core.ImportJob{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": jobs})
}

// importAndID is the start of every /imports/:id handler.
func (s *Server) importAndID(c *echo.Context) (Importer, core.ID, error) {
	im, err := s.importer()
	if err != nil {
		return nil, 0, err
	}
	id, err := pathID(c, "id")
	return im, id, err
}

// GET /imports/:id
func (s *Server) getImport(c *echo.Context) error {
	im, id, err := s.importAndID(c)
	if err != nil {
		return err
	}
	job, err := im.Get(ctx(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, job)
}

// DELETE /imports/:id cancels the job and answers with its state.
func (s *Server) cancelImport(c *echo.Context) error {
	im, id, err := s.importAndID(c)
	if err != nil {
		return err
	}
	job, err := im.Cancel(ctx(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, job)
}

// GET /imports/:id/rejected downloads the rejected rows as CSV.
func (s *Server) importRejected(c *echo.Context) error {
	im, id, err := s.importAndID(c)
	if err != nil {
		return err
	}
	path, err := im.RejectedPath(ctx(c), id)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return core.NotFoundf("import %s has no rejected rows", id)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="import-`+id.String()+`-rejected.csv"`)
	http.ServeContent(w, c.Request(), "", st.ModTime(), f)
	return nil
}
