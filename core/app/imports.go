package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/importer"
	"github.com/retain-crm/retain/core/web"
)

// importAdapter gives the web layer the import jobs it asks for (web.Importer)
// on top of importer.Manager: it saves uploads in the data folder, so a job
// survives a restart, and turns dry runs into previews.
type importAdapter struct {
	*importer.Manager
	svc  *core.Service
	dir  string
	opts importer.Options
	log  *slog.Logger

	mu        sync.Mutex
	lastClean time.Time
}

var _ web.Importer = (*importAdapter)(nil)

// newImporter builds the import manager and resumes jobs a previous process
// left unfinished. Closing it (on shutdown) stops running jobs at a batch
// boundary; they resume on the next start.
func (a *App) newImporter(ctx context.Context) (*importAdapter, error) {
	return newImportAdapter(ctx, a.Cfg, a.Service, a.Store, a.Log)
}

// NewImporter is the web layer's import machinery on svc, keeping jobs in
// jobs and files under cfg's data folder, as the server wires it. It exists
// for black-box tests of core/web; close it to stop its jobs.
func NewImporter(ctx context.Context, cfg config.Config, svc *core.Service, jobs core.ImportJobs, log *slog.Logger) (interface {
	web.Importer
	Close() error
}, error) {
	return newImportAdapter(ctx, cfg, svc, jobs, log)
}

func newImportAdapter(ctx context.Context, cfg config.Config, svc *core.Service, jobs core.ImportJobs, log *slog.Logger) (*importAdapter, error) {
	dir := importsPath(cfg)
	if err := os.MkdirAll(filepath.Join(dir, stagedDir), 0o700); err != nil {
		return nil, err
	}
	m := importer.NewManager(jobs, importer.ForService(svc), importer.ManagerOptions{
		Currency: cfg.Business.Currency, TimeZone: cfg.Business.TimeZone, BatchSize: cfg.Import.BatchSize,
		Logger: log.With("component", "import"),
	})
	if n, err := m.Resume(ctx); err != nil {
		log.Error("resuming import jobs", "err", err)
	} else if n > 0 {
		log.Info("resumed unfinished import jobs", "jobs", n)
	}
	im := &importAdapter{Manager: m, svc: svc, dir: dir, log: log,
		opts: importer.Options{Currency: cfg.Business.Currency, TimeZone: cfg.Business.TimeZone}}
	im.cleanStaged()
	return im, nil
}

func (im *importAdapter) Start(ctx context.Context, req web.ImportRequest) (core.ImportJob, error) {
	if req.Upload != "" {
		return im.startStaged(ctx, req)
	}
	name, err := auth.NewSecret(9)
	if err != nil {
		return core.ImportJob{}, err
	}
	path := filepath.Join(im.dir, name+"-"+safeName(req.FileName))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return core.ImportJob{}, err
	}
	_, err = io.Copy(f, req.File)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return core.ImportJob{}, fmt.Errorf("saving the upload: %w", err)
	}
	job, err := im.Manager.Start(ctx, core.ImportJob{Kind: req.Kind, FileName: req.FileName, FilePath: path, Mapping: req.Mapping, UserID: req.UserID})
	if err != nil {
		os.Remove(path)
	}
	return job, err
}

func (im *importAdapter) DryRun(ctx context.Context, req web.ImportRequest) (web.ImportPreview, error) {
	if req.Upload != "" {
		st, f, err := im.openStaged(req)
		if err != nil {
			return web.ImportPreview{}, err
		}
		defer f.Close()
		req.File, req.FileName, req.Size = f, st.FileName, st.Size
	}
	opts := im.opts
	opts.Kind = req.Kind
	if req.Mapping != "" {
		m, err := importer.ParseMapping(req.Mapping)
		if err != nil {
			return web.ImportPreview{}, err
		}
		opts.Mapping = m
	}
	p, err := importer.DryRun(ctx, im.svc, req.File, opts, req.PreviewRows)
	if err != nil {
		return web.ImportPreview{}, err
	}
	out := web.ImportPreview{Kind: req.Kind, Format: p.Detection.Format, Columns: p.Detection.Columns,
		Rows: p.Rows, Rejected: int64(len(p.Errors)), Errors: p.Errors}
	out.Valid = out.Rows - out.Rejected
	if opts.Mapping != nil {
		out.Mapping = opts.Mapping.TOML()
	} else {
		cols := make(map[string]any, len(p.Columns))
		for field, col := range p.Columns {
			cols[field] = col
		}
		out.Mapping = (&importer.Mapping{Columns: cols}).TOML()
	}
	for _, c := range p.Customers {
		out.Sample = append(out.Sample, c)
	}
	for i, in := range p.Interactions {
		out.Sample = append(out.Sample, web.PreviewInteraction{CustomerExternalID: p.InteractionCustomers[i], Interaction: in})
	}
	return out, nil
}

func (im *importAdapter) Cancel(ctx context.Context, id core.ID) (core.ImportJob, error) {
	if err := im.Manager.Cancel(ctx, id); err != nil {
		return core.ImportJob{}, err
	}
	im.Manager.Wait()
	return im.Manager.Get(ctx, id)
}

// safeName keeps an uploaded file's base name readable but harmless on disk.
func safeName(s string) string {
	s = filepath.Base(strings.ReplaceAll(s, "\\", "/"))
	s = strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, s)
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	if s == "" || s == "." || s == ".." {
		s = "upload"
	}
	return s
}

// Staged uploads: the import page saves a file once (Stage), then shows its
// columns, previews mappings and starts the job from the same file. Each
// upload is two files in imports/staged: ID.upload (the bytes) and ID.json
// (stagedMeta). The ID is random and checked against stagedID before it
// goes near a path; the client never names a file.
const (
	stagedDir         = "staged"
	stagedMaxAge      = 24 * time.Hour
	stagedCleanEvery  = time.Hour
	stagedInspectRows = 10
)

var stagedID = regexp.MustCompile(`^[A-Za-z0-9_-]{24}$`)

type stagedMeta struct {
	Kind      core.ImportKind `json:"kind"`
	FileName  string          `json:"file_name"`
	Size      int64           `json:"size"`
	UserID    core.ID         `json:"user_id"`
	CreatedAt time.Time       `json:"created_at"`
}

func (im *importAdapter) stagedPath(id, ext string) string {
	return filepath.Join(im.dir, stagedDir, id+ext)
}

// Stage saves the upload, then inspects it; a file that cannot be read as
// CSV or JSONL, or has no data rows, is deleted again and refused.
func (im *importAdapter) Stage(ctx context.Context, req web.ImportRequest) (web.ImportUpload, error) {
	im.maybeCleanStaged()
	if err := checkKind(req.Kind); err != nil {
		return web.ImportUpload{}, err
	}
	id, err := auth.NewSecret(18)
	if err != nil {
		return web.ImportUpload{}, err
	}
	path := im.stagedPath(id, ".upload")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return web.ImportUpload{}, err
	}
	n, err := io.Copy(f, req.File)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return web.ImportUpload{}, err // the body limit: the web layer reports it
		}
		return web.ImportUpload{}, fmt.Errorf("saving the upload: %w", err)
	}
	meta := stagedMeta{Kind: req.Kind, FileName: req.FileName, Size: n, UserID: req.UserID, CreatedAt: time.Now().UTC()}
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(im.stagedPath(id, ".json"), b, 0o600); err != nil {
		os.Remove(path)
		return web.ImportUpload{}, fmt.Errorf("saving the upload: %w", err)
	}
	req.Upload = id
	up, err := im.Inspect(ctx, req)
	if err == nil && len(up.Rows) == 0 {
		err = core.Invalidf("the file has no data rows (only a header)")
	}
	if err != nil {
		im.removeStaged(id)
		return web.ImportUpload{}, err
	}
	return up, nil
}

// Inspect reads a staged upload's first rows with req.Mapping.
func (im *importAdapter) Inspect(ctx context.Context, req web.ImportRequest) (web.ImportUpload, error) {
	st, f, err := im.openStaged(req)
	if err != nil {
		return web.ImportUpload{}, err
	}
	defer f.Close()
	kind := req.Kind
	if kind == "" {
		kind = st.Kind
	}
	if err := checkKind(kind); err != nil {
		return web.ImportUpload{}, err
	}
	opts := im.opts
	opts.Kind = kind
	if req.Mapping != "" {
		if opts.Mapping, err = importer.ParseMapping(req.Mapping); err != nil {
			return web.ImportUpload{}, err
		}
	}
	ins, err := importer.Inspect(ctx, f, opts, stagedInspectRows)
	if err != nil {
		return web.ImportUpload{}, err
	}
	d := ins.Detection
	up := web.ImportUpload{ID: req.Upload, Kind: kind, FileName: st.FileName, Size: st.Size, CreatedAt: st.CreatedAt,
		Gzip: d.Gzip, Encoding: d.Encoding, Format: d.Format, Delimiter: d.Delimiter, Header: d.Header, Columns: d.Columns,
		Guess: ins.Guess, Fields: importer.Fields(kind), Problem: ins.Problem, ProblemField: ins.ProblemField}
	for _, r := range ins.Rows {
		up.Rows = append(up.Rows, web.ImportSampleRow{Line: r.Line, Cells: r.Cells, Reason: r.Reason})
	}
	return up, nil
}

// Discard deletes a staged upload.
func (im *importAdapter) Discard(ctx context.Context, req web.ImportRequest) error {
	st, f, err := im.openStaged(req)
	if err != nil {
		return err
	}
	f.Close()
	_ = st
	im.removeStaged(req.Upload)
	return nil
}

// startStaged moves a staged upload into the job's place and starts it;
// when the job cannot start, the file goes back so nothing is lost.
func (im *importAdapter) startStaged(ctx context.Context, req web.ImportRequest) (core.ImportJob, error) {
	st, f, err := im.openStaged(req)
	if err != nil {
		return core.ImportJob{}, err
	}
	f.Close()
	if req.Kind == "" {
		req.Kind = st.Kind
	}
	if err := checkKind(req.Kind); err != nil {
		return core.ImportJob{}, err
	}
	if req.Mapping != "" {
		if _, err := importer.ParseMapping(req.Mapping); err != nil {
			return core.ImportJob{}, err
		}
	}
	name, err := auth.NewSecret(9)
	if err != nil {
		return core.ImportJob{}, err
	}
	from := im.stagedPath(req.Upload, ".upload")
	to := filepath.Join(im.dir, name+"-"+safeName(st.FileName))
	if err := os.Rename(from, to); err != nil {
		return core.ImportJob{}, fmt.Errorf("moving the upload: %w", err)
	}
	job, err := im.Manager.Start(ctx, core.ImportJob{Kind: req.Kind, FileName: st.FileName, FilePath: to, Mapping: req.Mapping, UserID: req.UserID})
	if err != nil {
		if rerr := os.Rename(to, from); rerr != nil {
			im.log.Error("import: could not put a staged upload back", "err", rerr)
		}
		return core.ImportJob{}, err
	}
	os.Remove(im.stagedPath(req.Upload, ".json"))
	return job, nil
}

// openStaged checks the id and the owner and opens the upload.
func (im *importAdapter) openStaged(req web.ImportRequest) (stagedMeta, *os.File, error) {
	var st stagedMeta
	notFound := core.NotFoundf("this upload is gone (uploads are kept for %s): upload the file again", stagedMaxAge)
	if !stagedID.MatchString(req.Upload) {
		return st, nil, notFound
	}
	b, err := os.ReadFile(im.stagedPath(req.Upload, ".json"))
	if err != nil {
		return st, nil, notFound
	}
	if err := json.Unmarshal(b, &st); err != nil || st.UserID != req.UserID || time.Since(st.CreatedAt) > stagedMaxAge {
		return st, nil, notFound
	}
	f, err := os.Open(im.stagedPath(req.Upload, ".upload"))
	if err != nil {
		return st, nil, notFound
	}
	return st, f, nil
}

func (im *importAdapter) removeStaged(id string) {
	os.Remove(im.stagedPath(id, ".upload"))
	os.Remove(im.stagedPath(id, ".json"))
}

func (im *importAdapter) maybeCleanStaged() {
	im.mu.Lock()
	due := time.Since(im.lastClean) > stagedCleanEvery
	im.mu.Unlock()
	if due {
		im.cleanStaged()
	}
}

// cleanStaged deletes staged uploads older than stagedMaxAge (abandoned
// on the mapping page); it runs at start and then at most hourly, on the
// next upload.
func (im *importAdapter) cleanStaged() {
	im.mu.Lock()
	im.lastClean = time.Now()
	im.mu.Unlock()
	dir := filepath.Join(im.dir, stagedDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	cut := time.Now().Add(-stagedMaxAge)
	n := 0
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.ModTime().After(cut) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	if n > 0 {
		im.log.Info("import: deleted abandoned uploads", "files", n)
	}
}

func checkKind(k core.ImportKind) error {
	switch k {
	case core.ImportCustomers, core.ImportInteractions:
		return nil
	case "":
		return core.FieldErr("kind", "required: customers or interactions")
	}
	return core.FieldErr("kind", "must be customers or interactions")
}
