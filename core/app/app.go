// Package app is the composition root: it opens the store and the search
// index, builds the domain service, the importer and the web server, runs
// the background workers, and shuts everything down in order. It also holds
// the command line (cli.go), so main.go stays a one-liner. Only main
// imports app; app may import every other package of the module.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/search"
	"github.com/retain-crm/retain/store"
)

// Version is set at build time with -ldflags "-X .../core/app.Version=v1.2.3".
var Version = "dev"

// App holds the opened parts of a running CRM.
type App struct {
	Cfg     config.Config
	Log     *slog.Logger
	Store   *store.DB
	Index   *search.Index
	Service *core.Service
	// Analytics is the retention engine (derived from the change log like
	// the index; Serve runs it).
	Analytics *analytics.Engine

	// trims cuts the change log only as far as every reader got.
	trims *trimmer
}

// Paths inside the data folder.
func dbPath(cfg config.Config) string      { return filepath.Join(cfg.Storage.DataDir, "retain.db") }
func indexPath(cfg config.Config) string   { return filepath.Join(cfg.Storage.DataDir, "index") }
func importsPath(cfg config.Config) string { return filepath.Join(cfg.Storage.DataDir, "imports") }

// Open opens the store and the search index in cfg's data folder.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	if err := os.MkdirAll(cfg.Storage.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	st, err := store.Open(ctx, dbPath(cfg), store.Options{})
	if err != nil {
		return nil, err
	}
	// The index reports how far it got instead of trimming the log itself:
	// other readers (analytics, segments) may be behind it (changelog.go).
	searchFeed := &readerFeed{ChangeFeed: st}
	ix, err := search.Open(ctx, indexPath(cfg), searchFeed, search.Options{
		BatchSize: cfg.Search.BatchSize, PollInterval: cfg.Search.PollInterval, Logger: log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	an, err := openAnalytics(ctx, cfg, st, log)
	if err != nil {
		ix.Close()
		st.Close()
		return nil, err
	}
	a := &App{
		Cfg: cfg, Log: log, Store: st, Index: ix,
		Service:   core.NewService(st, ix, cfg.Business.DefaultCallingCode),
		Analytics: an,
		trims:     newTrimmer(st),
	}
	a.trims.add("search", searchFeed.applied.Load)
	if an != nil {
		a.trims.add("analytics", func() uint64 { return an.Status().Watermark })
	}
	return a, nil
}

// Close closes the index and then the store.
func (a *App) Close() error {
	return errors.Join(a.Index.Close(), a.Store.Close())
}

// NewLogger builds the slog logger the configuration asks for.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
