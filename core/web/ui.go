package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/assets"
	"github.com/retain-crm/retain/core"
)

// The staff UI is server-rendered: html/template pages from assets/templates,
// parsed once in New (a broken template fails the start, not a request).
// Every page is layout.html + partials/*.html + pages/NAME.html in its own
// set, so each page can define "content" (and its own fragments) freely.

// views holds the parsed page sets and the fingerprinted static names.
type views struct {
	pages  map[string]*template.Template
	static map[string]string // "app.css" → "app.1a2b3c4d.css"
}

// Page is what every page template receives. Handlers fill Title, Nav and
// Data; render fills the rest from the request.
type Page struct {
	Title    string
	Nav      string // the current navigation item: "customers", "imports", "admin", ...
	Data     any
	Flash    string // a one-line confirmation shown at the top
	Me       *core.User
	CSRF     string
	Business string
	Version  string
	Path     string // the request path, for "next" links
}

// Can reports whether the signed-in user's role carries scope, so templates
// show only what the user may do (the route table still enforces it).
func (p Page) Can(scope string) bool {
	return p.Me != nil && core.RoleAllows(p.Me.Role, core.Scope(scope))
}

// loadViews parses every page with the shared layout and partials.
func loadViews(tfs fs.FS, static map[string]string, funcs template.FuncMap) (*views, error) {
	v := &views{pages: map[string]*template.Template{}, static: static}
	base := template.New("layout.html").Funcs(funcs).Option("missingkey=error")
	b, err := fs.ReadFile(tfs, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if _, err := base.Parse(string(b)); err != nil {
		return nil, fmt.Errorf("templates: layout.html: %w", err)
	}
	partials, _ := fs.Glob(tfs, "partials/*.html")
	for _, p := range partials {
		b, err := fs.ReadFile(tfs, p)
		if err != nil {
			return nil, err
		}
		if _, err := base.New(p).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", p, err)
		}
	}
	pages, _ := fs.Glob(tfs, "pages/*.html")
	if len(pages) == 0 {
		return nil, fmt.Errorf("templates: no pages/*.html")
	}
	for _, p := range pages {
		b, err := fs.ReadFile(tfs, p)
		if err != nil {
			return nil, err
		}
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.New(p).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", p, err)
		}
		name := strings.TrimSuffix(path.Base(p), ".html")
		v.pages[name] = t
	}
	return v, nil
}

// uiFuncs are the helpers every template may use.
func (s *Server) uiFuncs() template.FuncMap {
	loc := s.cfg.Location()
	return template.FuncMap{
		// asset is the fingerprinted URL of a static file.
		"asset": func(name string) (string, error) {
			if fp, ok := s.views.static[name]; ok {
				return "/static/" + fp, nil
			}
			return "", fmt.Errorf("no static file %q", name)
		},
		// datetime and date show a time in the business's time zone.
		"datetime": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(loc).Format("2006-01-02 15:04")
		},
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(loc).Format("2006-01-02")
		},
		// isotime is for <time datetime=...>.
		"isotime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		// ago is a short relative time ("3 days ago").
		"ago": func(t time.Time) string { return ago(s.now(), t) },
		// money formats integer minor units of a currency.
		"money": func(minor int64, currency string) string {
			if currency == "" {
				currency = s.cfg.Business.Currency
			}
			return core.FormatAmount(minor, currency) + " " + currency
		},
		// marked turns the search highlight markers into <mark> after
		// escaping everything else, so the only markup is ours.
		"marked": func(s string) template.HTML { return template.HTML(HighlightHTML(s)) },
		// safeText shows a value as plain text with control and
		// direction-override characters made visible, so a hostile name
		// cannot reorder what staff read around it.
		"safeText": safeText,
		"query":    func(v url.Values) string { return v.Encode() },
		"itoa":     strconv.Itoa,
		"add":      func(a, b int) int { return a + b },
		"join":     strings.Join,
		"dict":     dict,
		"list":     func(v ...any) []any { return v },
	}
}

// dict builds a map for passing several values to a sub-template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// safeText replaces bidirectional overrides and other invisible format
// characters with a visible marker; html/template escapes the rest.
func safeText(s string) string {
	if !strings.ContainsFunc(s, isHiddenFormat) {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if isHiddenFormat(r) {
			fmt.Fprintf(&b, "[U+%04X]", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isHiddenFormat(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return unicode.IsControl(r) && r != '\n' && r != '\t'
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		s = plural(int(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		s = plural(int(d/(24*time.Hour)), "day")
	case d < 730*24*time.Hour:
		s = plural(int(d/(30*24*time.Hour)), "month")
	default:
		s = plural(int(d/(365*24*time.Hour)), "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// fill completes a Page from the request: who is signed in, the CSRF token.
func (s *Server) fill(c *echo.Context, p *Page) {
	if u := callerUser(c); u != nil {
		p.Me = u
	}
	if ss := callerSession(c); ss != nil {
		p.CSRF = ss.CSRF
	}
	p.Business = s.cfg.Business.Name
	p.Version = s.version
	p.Path = c.Request().URL.Path
}

// render writes a whole page (layout around pages/NAME.html's "content").
// It renders into a buffer first so a template error is a clean 500.
func (s *Server) render(c *echo.Context, status int, name string, p Page) error {
	s.fill(c, &p)
	return s.execute(c, status, name, "layout.html", p)
}

// fragment writes one named template of a page, for htmx swaps.
func (s *Server) fragment(c *echo.Context, status int, name, block string, p Page) error {
	s.fill(c, &p)
	return s.execute(c, status, name, block, p)
}

func (s *Server) execute(c *echo.Context, status int, name, block string, p Page) error {
	t, ok := s.views.pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.ExecuteTemplate(buf, block, p); err != nil {
		return fmt.Errorf("render %s/%s: %w", name, block, err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store") // pages carry customer data
	h.Set("Vary", "HX-Request")
	return c.HTMLBlob(status, buf.Bytes())
}

// isHTMX reports a request made by htmx (it sends HX-Request: true).
func isHTMX(c *echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// seeOther redirects after a form post (Post/Redirect/Get). An htmx request
// gets HX-Location so htmx navigates instead of swapping the next page in.
func seeOther(c *echo.Context, to string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// staticHandler serves /static/* by fingerprinted name with a year of
// caching; the plain name is served too (no-cache) for hand-written links.
func (s *Server) staticHandler() echo.HandlerFunc {
	byFP := make(map[string]string, len(s.views.static))
	for plain, fp := range s.views.static {
		byFP[fp] = plain
	}
	files := assets.Static()
	return func(c *echo.Context) error {
		name := strings.TrimPrefix(c.Param("*"), "/")
		plain, fingerprinted := byFP[name]
		if !fingerprinted {
			if _, ok := s.views.static[name]; !ok {
				return core.NotFoundf("static file %q", name)
			}
			plain = name
		}
		b, err := fs.ReadFile(files, plain)
		if err != nil {
			return core.NotFoundf("static file %q", name)
		}
		h := c.Response().Header()
		if fingerprinted {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		ct := mimeByExt[path.Ext(plain)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		return c.Blob(http.StatusOK, ct, b)
	}
}

var mimeByExt = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/plain; charset=utf-8",
	".woff": "font/woff",
}
