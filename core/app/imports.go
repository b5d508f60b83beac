package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
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
}

var _ web.Importer = (*importAdapter)(nil)

// newImporter builds the import manager and resumes jobs a previous process
// left unfinished. Closing it (on shutdown) stops running jobs at a batch
// boundary; they resume on the next start.
func (a *App) newImporter(ctx context.Context) (*importAdapter, error) {
	dir := importsPath(a.Cfg)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	m := importer.NewManager(a.Store, importer.ForService(a.Service), importer.ManagerOptions{
		Currency: a.Cfg.Business.Currency, TimeZone: a.Cfg.Business.TimeZone, BatchSize: a.Cfg.Import.BatchSize,
		Logger: a.Log.With("component", "import"),
	})
	if n, err := m.Resume(ctx); err != nil {
		a.Log.Error("resuming import jobs", "err", err)
	} else if n > 0 {
		a.Log.Info("resumed unfinished import jobs", "jobs", n)
	}
	return &importAdapter{Manager: m, svc: a.Service, dir: dir,
		opts: importer.Options{Currency: a.Cfg.Business.Currency, TimeZone: a.Cfg.Business.TimeZone}}, nil
}

func (im *importAdapter) Start(ctx context.Context, req web.ImportRequest) (core.ImportJob, error) {
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
	opts := im.opts
	opts.Kind = req.Kind
	if req.Mapping != "" {
		m, err := importer.ParseMapping(req.Mapping)
		if err != nil {
			return web.ImportPreview{}, err
		}
		opts.Mapping = m
	}
	p, err := importer.DryRun(ctx, im.svc, req.File, opts, importer.DefaultPreviewRows)
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
		out.Sample = append(out.Sample, struct {
			CustomerExternalID string `json:"customer_external_id"`
			core.Interaction
		}{p.InteractionCustomers[i], in})
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
