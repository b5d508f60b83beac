// Package web is retain's HTTP surface on Echo v5: one route table
// (routes.go) with the permission each route needs, one handler file per
// resource, one place that turns errors into HTTP answers (errors.go), and
// the operations endpoints (/healthz, /readyz, /metrics).
//
// It also serves the staff UI: html/template pages from assets/templates
// (parsed once in New), browser sessions, CSRF checks and the audit log.
//
// It may import the standard library, core, core/config, core/auth,
// core/analytics and core/retention (the retention numbers it shows), core/outbox
// and core/pluginconf (messages and plugin settings), assets,
// Echo and the metrics library. It never imports store/ or search/: it reaches
// data through core.Service and the core.Store port only (core/app wires the
// real implementations; core/arch_test.go enforces the direction).
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/assets"
	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/outbox"
	"github.com/retain-crm/retain/core/pluginconf"
)

// Deps is everything the HTTP surface needs. core/app fills it in.
type Deps struct {
	Config  config.Config
	Service *core.Service // customer, interaction and search reads and writes
	Store   core.Store    // users, tokens, import jobs, backup and stats
	Imports Importer      // may be nil: the import routes then answer 503
	Logger  *slog.Logger
	Version string
	Now     func() time.Time // the clock; nil means time.Now
	// Segments keeps saved segments; nil: the segment routes answer 503.
	Segments Segments

	// Analytics is the retention engine; nil: the analytics routes answer
	// 503 and the home page shows no dashboard.
	Analytics *analytics.Engine

	// Outbox, Plugins and PluginConf are messaging and the plugin host
	// (plugins.go, outbox.go, hooks.go); nil means plugins are off: the
	// pages say so and the API answers 503.
	Outbox     *outbox.Service
	Plugins    core.Plugins
	PluginConf *pluginconf.Service
}

// Server is the configured Echo instance and its route table.
type Server struct {
	cfg      config.Config
	svc      *core.Service
	store    core.Store
	imports  Importer
	segs     Segments
	an       *analytics.Engine
	box      *outbox.Service
	plugins  core.Plugins
	pconf    *pluginconf.Service
	hookHits *failures // requests to /hooks per address, in a one-minute window
	log      *slog.Logger
	version  string
	now      func() time.Time
	started  time.Time

	e       *echo.Echo
	routes  []Route
	metrics *metrics.Set
	reqs    requestMetrics

	views      *views
	cop        *http.CrossOriginProtection
	fails      *failures
	setupToken atomic.Pointer[string]
	setupMu    sync.Mutex

	// tokenSeen remembers when LastUsedAt was last written per token, so a
	// burst of requests does not write the token record on every request.
	tokenMu   sync.Mutex
	tokenSeen map[core.ID]time.Time
}

// New builds the Echo instance and registers every route of the table.
func New(d Deps) (*Server, error) {
	if d.Service == nil || d.Store == nil {
		return nil, errors.New("web: Service and Store are required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{
		cfg:       d.Config,
		svc:       d.Service,
		store:     d.Store,
		imports:   d.Imports,
		segs:      d.Segments,
		an:        d.Analytics,
		box:       d.Outbox,
		plugins:   d.Plugins,
		pconf:     d.PluginConf,
		hookHits:  newFailures(time.Minute),
		log:       d.Logger,
		version:   d.Version,
		now:       func() time.Time { return d.Now().UTC() },
		metrics:   metrics.NewSet(),
		tokenSeen: map[core.ID]time.Time{},
	}
	s.started = s.now()
	s.reqs = newRequestMetrics(s.metrics)
	s.cop = http.NewCrossOriginProtection()
	s.fails = newFailures(d.Config.Auth.FailureWindow)
	static, err := assets.Fingerprinted()
	if err != nil {
		return nil, err
	}
	s.views = &views{static: static}
	v, err := loadViews(assets.Templates(), static, s.uiFuncs())
	if err != nil {
		return nil, err
	}
	s.views = v

	e := echo.NewWithConfig(echo.Config{
		Logger: d.Logger,
		// Path parameters are matched on the raw path and unescaped
		// afterwards, so an external id may contain an encoded slash. HEAD
		// is answered by the GET route (load balancers probe with it); GET
		// handlers have no side effects beyond a token's last-used time.
		Router:           echo.NewRouter(echo.RouterConfig{UnescapePathParamValues: true, AutoHandleHEAD: true}),
		HTTPErrorHandler: s.handleError,
		IPExtractor:      ipExtractor(d.Config.Server),
	})
	// Outermost first: the observer logs and counts every request (also
	// 404/405) with its final status, then panics are recovered inside it.
	e.Use(s.observe, s.recover, s.secureHeaders, s.crossOrigin)

	s.routes = s.routeTable()
	seen := map[string]bool{}
	for _, r := range s.routes {
		key := r.Method + " " + r.Path
		if seen[key] {
			return nil, errors.New("web: duplicate route " + key)
		}
		seen[key] = true
		if _, err := e.AddRoute(echo.Route{Method: r.Method, Path: r.Path, Name: r.Name, Handler: s.wrap(r)}); err != nil {
			return nil, err
		}
	}
	s.e = e
	return s, nil
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.e }

// Routes returns a copy of the route table, for tests and the OpenAPI check.
func (s *Server) Routes() []Route {
	out := make([]Route, len(s.routes))
	copy(out, s.routes)
	return out
}

// ctx is the request's context; handlers pass it down so that a client
// that goes away cancels the work.
func ctx(c *echo.Context) context.Context { return c.Request().Context() }

// ipExtractor is how a request's client address is found: the peer
// address, or behind trusted proxies the nearest X-Forwarded-For entry
// that is not one of them (a client cannot spoof past its own proxy).
func ipExtractor(cfg config.Server) echo.IPExtractor {
	ranges, err := cfg.ProxyRanges()
	if err != nil || len(ranges) == 0 { // Validate refused bad ranges already
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, r := range ranges {
		opts = append(opts, echo.TrustIPRange(r))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
