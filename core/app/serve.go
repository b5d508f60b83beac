package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/outbox"
	"github.com/retain-crm/retain/core/pluginconf"
	"github.com/retain-crm/retain/core/segments"
	"github.com/retain-crm/retain/core/web"
	"github.com/retain-crm/retain/plugins/host"
)

func cmdServe(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "serve", "[flags]", "Run the web UI, the API and the background workers until SIGTERM or Ctrl-C.")
	f.configFlag("listen", "server.listen", "address to listen on, e.g. 127.0.0.1:8080")
	withDemo := f.Bool("demo", false, "when the database is empty, fill it with demo data first")
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := f.config(env)
	if err != nil {
		return err
	}
	log := NewLogger(cfg, env.Stderr)
	if *withDemo && len(cfg.Plugins.Builtin) == 0 && len(cfg.Plugins.Pinned) == 0 {
		// A demo with no channel could not show sending; the echo channel
		// accepts every message without sending it anywhere.
		cfg.Plugins.Builtin = []string{"echo"}
		log.Info("demo: running the echo channel (accepts messages, sends nothing); configure plugins.builtin for real channels")
		if cfg.Server.BaseURL == "" {
			cfg.Server.BaseURL = demoBaseURL(cfg.Server.Listen)
		}
	}
	a, err := Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if *withDemo {
		if n, err := a.Store.CountCustomers(ctx); err != nil {
			return err
		} else if n == 0 {
			svc := core.NewService(a.Store, nil, cfg.Business.DefaultCallingCode)
			inds, _ := parseIndustries("all")
			for _, ind := range inds {
				if err := loadDemo(ctx, svc, demoOptions(ind, a.Cfg.Business.Currency), env.Stderr); err != nil {
					return err
				}
			}
		}
	}
	return a.Serve(ctx, nil)
}

// demoBaseURL is where links in demo messages point: this server, when it
// listens on a fixed address ("" for ":0", known only later).
func demoBaseURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Serve runs the HTTP server, the indexer and the import workers until ctx
// ends, then shuts down in order: stop accepting requests and let those in
// flight finish, stop imports at a batch boundary, stop the indexer and
// the analytics engine. Every
// write acknowledged before that was committed (and fsynced) by the store,
// so nothing acknowledged is lost. If ready is not nil it receives the
// listening address once the server accepts connections.
func (a *App) Serve(ctx context.Context, ready chan<- string) error {
	log := a.Log
	workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Index.Run(workers); err != nil && workers.Err() == nil {
			log.Error("search indexer stopped", "err", err)
		}
	}()

	if a.Analytics != nil {
		// The first build reads the whole store in the background; until it
		// is done the analytics pages and API say how far it is (503 with
		// Retry-After), while /readyz stays ready: the CRM itself works.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Analytics.Run(workers); err != nil && workers.Err() == nil {
				log.Error("analytics engine stopped", "err", err)
			}
		}()
	}
	// Segment membership follows the change log and the engine's facts.
	var facts segments.FactSource
	if a.Analytics != nil {
		facts = a.Analytics
	}
	segs := a.startSegments(workers, facts, &wg)
	if segs != nil {
		a.trims.add("segments", segs.Watermark)
	}

	imports, err := a.newImporter(workers)
	if err != nil {
		return err
	}

	// Plugins run as supervised subprocesses; the outbox hands them
	// messages. The host outlives the delivery workers at shutdown, so a
	// message being sent finishes instead of being cut.
	specs, err := pluginSpecs(a.Cfg.Plugins.Builtin, a.Cfg.Plugins.Dir, a.Cfg.Plugins.Pinned)
	if err != nil {
		return err
	}
	for _, f := range host.Unpinned(a.Cfg.Plugins.Dir, a.Cfg.Plugins.Pinned) {
		log.Info("not starting an unpinned plugin; `retain plugin pin` prints the line for plugins.pinned",
			"component", "plugins", "file", filepath.Join(a.Cfg.Plugins.Dir, f))
	}
	var box *outbox.Service
	plugins, err := a.newHost(specs, segs, func() *outbox.Service { return box }, log.With("component", "plugins"))
	if err != nil {
		return err
	}
	box = outbox.New(outbox.Options{Config: a.Cfg.Outbox, Service: a.Service, Channels: plugins, Plugins: plugins,
		BaseURL: a.Cfg.Server.BaseURL, Logger: log.With("component", "outbox")})
	plugins.Start(workers)
	defer plugins.Stop()
	a.trims.add("plugins", plugins.EventWatermark)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := box.Run(workers); err != nil && workers.Err() == nil {
			log.Error("outbox stopped", "err", err)
		}
	}()
	if len(specs) > 0 && a.Cfg.Server.BaseURL == "" {
		log.Warn("server.base_url is not set: channel plugins cannot put one-click unsubscribe links in messages")
	}
	srv, err := web.New(web.Deps{
		Config: a.Cfg, Service: a.Service, Store: a.Store, Imports: imports, Analytics: a.Analytics, Segments: segs,
		Outbox: box, Plugins: plugins, PluginConf: &pluginconf.Service{Store: a.Store, Plugins: plugins},
		Logger: log.With("component", "web"), Version: Version, Now: func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.Cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	log.Info("retain is up", "url", base, "data", a.Cfg.Storage.DataDir, "version", Version)
	// First run: no account yet. The link carries a one-time token that
	// lives in memory only, so only someone who can read this log (the
	// operator) can create the first admin.
	if link, err := srv.SetupURL(ctx, base); err != nil {
		log.Warn("could not prepare the setup link", "err", err)
	} else if link != "" {
		log.Warn("first run: open this link to create the admin account (or run `retain user add --role admin`)", "url", link)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.sweepSessions(workers)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.trims.run(workers, time.Minute, log.Warn)
	}()
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("requests still running at shutdown were cut", "err", err)
	}
	imports.Close()
	stopWorkers()
	wg.Wait()
	plugins.Stop()
	log.Info("stopped")
	return nil
}

// sweepSessions deletes ended sessions hourly (requests already refuse them;
// this only keeps the bucket small).
func (a *App) sweepSessions(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.Store.DeleteExpiredSessions(ctx, time.Now().UTC()); err != nil && ctx.Err() == nil {
			a.Log.Warn("could not delete expired sessions", "err", err)
		} else if n > 0 {
			a.Log.Info("expired sessions deleted", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
