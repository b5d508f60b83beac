package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/app"
	"github.com/retain-crm/retain/core/auth"
	"github.com/retain-crm/retain/core/config"
)

// server is the real product running in process on a loopback port.
type server struct {
	base      string
	app       *app.App
	logs      *logSink
	setupURL  string        // the first-run link from the log, "" if none was logged
	target    core.Customer // a demo customer with a long timeline
	prefix    string        // three letters of target's name that few other names share
	purchases int           // the target's purchases in the demo data
}

// logSink receives the server's JSON log lines: it keeps them for a
// failure report and picks out the first-run setup link.
type logSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	setup chan string
	once  sync.Once
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if u, ok := rec["url"].(string); ok && strings.Contains(u, "/setup?token=") {
			l.once.Do(func() { l.setup <- u })
		}
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Demo size: small enough to load in a couple of seconds under -race,
// large enough that search results and timelines have several pages.
const (
	demoCustomers    = 300
	demoInteractions = 3000
	extraTimeline    = 90 // added to the target so its timeline surely scrolls
)

// startServer fills a temp data folder with d2c demo data (through the
// `retain demo` command, as a user would), then opens and serves it.
func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())

	var demoOut bytes.Buffer
	args := []string{"retain", "demo", "--industry", "d2c", "--data", dir,
		"--customers", fmt.Sprint(demoCustomers), "--interactions", fmt.Sprint(demoInteractions)}
	if code := app.Main(ctx, args, &app.Env{Stdin: strings.NewReader(""), Stdout: &demoOut, Stderr: &demoOut}); code != 0 {
		cancel()
		t.Fatalf("retain demo: exit %d: %s", code, demoOut.String())
	}

	cfg := config.Default()
	cfg.Storage.DataDir = dir
	// `retain demo` prices everything in the business currency of its
	// configuration (the default, as here), which the retention numbers
	// count.
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Search.PollInterval = 20 * time.Millisecond
	// The echo channel runs as a real plugin subprocess (this test binary
	// re-executed, see TestMain), so sending from a customer page goes
	// through the outbox and the plugin end to end.
	cfg.Plugins.Builtin = []string{"echo"}
	cfg.Log.Format = "json"
	cfg.Log.Level = "info"
	sink := &logSink{setup: make(chan string, 1)}
	a, err := app.Open(ctx, cfg, app.NewLogger(cfg, sink))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &server{app: a, logs: sink}
	s.pickTarget(ctx, t)

	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ready) }()
	select {
	case addr := <-ready:
		s.base = "http://" + addr
	case err := <-done:
		cancel()
		a.Close()
		t.Fatalf("Serve: %v\n%s", err, sink.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		a.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", tail(sink.String(), 8000))
		}
	})

	// core/app logs the one-time setup link right after start.
	select {
	case s.setupURL = <-sink.setup:
	case <-time.After(5 * time.Second):
	}
	s.waitIndexed(t)
	return s
}

// pickTarget chooses a demo customer whose name starts with three ASCII
// letters few other names start with, and gives them a long history.
func (s *server) pickTarget(ctx context.Context, t *testing.T) {
	t.Helper()
	var all []core.Customer
	cursor := ""
	for {
		p, err := s.app.Store.ListCustomers(ctx, core.CustomerQuery{Cursor: cursor, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(all) == 0 {
		t.Fatal("the demo loaded no customers")
	}
	prefixOf := func(word string) string {
		r := []rune(strings.ToLower(word))
		if len(r) < 3 {
			return ""
		}
		for _, c := range r[:3] {
			if c > unicode.MaxASCII || !unicode.IsLetter(c) {
				return ""
			}
		}
		return string(r[:3])
	}
	count := map[string]int{}
	for _, c := range all {
		for _, w := range strings.Fields(c.Name) {
			if p := prefixOf(w); p != "" {
				count[p]++
			}
		}
	}
	// Prefer a customer with several purchases (key figures to show) whose
	// prefix a few other names share (a short list to arrow through).
	best, bestScore := -1, -1
	for i, c := range all {
		w := strings.Fields(c.Name)
		if len(w) == 0 || prefixOf(w[0]) == "" {
			continue
		}
		p, err := s.app.Service.Timeline(ctx, c.ID, core.TimelineQuery{Types: []core.InteractionType{core.TypePurchase}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		score := min(len(p.Items), 10) * 10
		if n := count[prefixOf(w[0])]; n >= 2 && n <= 8 {
			score += 5
		}
		if score > bestScore {
			best, bestScore, s.prefix, s.purchases = i, score, prefixOf(w[0]), len(p.Items)
		}
	}
	if best < 0 {
		t.Fatal("no demo customer has a name starting with three ASCII letters")
	}
	s.target = all[best]

	base := time.Now().UTC().Add(-400 * 24 * time.Hour)
	var more []core.Interaction
	for i := range extraTimeline {
		more = append(more, core.Interaction{
			CustomerID: s.target.ID, Type: core.TypeMessageSent, Channel: "email",
			Time:           base.Add(time.Duration(i) * 24 * time.Hour),
			Text:           fmt.Sprintf("Newsletter number %d", i+1),
			IdempotencyKey: fmt.Sprintf("e2e-newsletter-%d", i),
		})
	}
	if _, err := s.app.Service.AppendInteractions(ctx, more); err != nil {
		t.Fatal(err)
	}
}

// waitIndexed waits until the search index has caught up with the demo data.
func (s *server) waitIndexed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := s.app.Service.Search(context.Background(), core.SearchQuery{Text: s.target.Name, Limit: 50})
		if err == nil {
			for _, h := range res.Hits {
				if h.ID == s.target.ID {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the search index never found %q", s.target.Name)
}

// createUser stores a staff account directly (used only when no setup link
// was logged, so the later steps still have an admin).
func (s *server) createUser(t *testing.T, email, name, pw string, role core.Role) {
	t.Helper()
	h, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := s.app.Store.CreateUser(context.Background(), core.User{
		Email: email, Name: name, Role: role, PasswordHash: h, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// findChromium returns the browser to drive, or skips (fails when
// RETAIN_REQUIRE_BROWSER=1, as in CI) when there is none.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("RETAIN_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "browser tests need Chromium: install Debian's chromium package (apt-get install chromium) or set RETAIN_CHROMIUM=/path/to/chrome"
	if os.Getenv("RETAIN_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " (RETAIN_REQUIRE_BROWSER=1 makes this a failure)")
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts headless Chromium with a fresh profile; the returned
// context is its first tab. The browser is closed before the profile
// folder is removed (cleanups run last-in first-out).
func newBrowser(t *testing.T, execPath string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(func() { cancel(); acancel() })
	// The first run starts the browser; it has no timeout (a timeout here
	// would stop the browser with it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", execPath, err)
	}
	return ctx
}

// newTab opens a tab; isolated=true gives it its own browser context
// (cookies, storage), like a second person on another machine.
func newTab(t *testing.T, browser context.Context, isolated bool) context.Context {
	t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(browser, opts...)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// tab is one browser tab bound to the current (sub)test.
type tab struct {
	t   *testing.T
	ctx context.Context
	s   *server
}

// step binds a tab to a subtest and saves a screenshot and the page's HTML
// when the subtest fails.
func step(t *testing.T, ctx context.Context, s *server) *tab {
	tb := &tab{t: t, ctx: ctx, s: s}
	t.Cleanup(func() {
		if t.Failed() {
			tb.saveArtifacts()
		}
	})
	return tb
}

const actionTimeout = 30 * time.Second

// do runs actions with a timeout and fails the test on error.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

// eval evaluates a JavaScript expression and returns its value.
func eval[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v (at %s)", js, err, b.location())
	}
	return v
}

// waitJS polls a JavaScript condition until it is true; navigations in
// between (a destroyed execution context) only mean "not yet".
func (b *tab) waitJS(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(actionTimeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(40 * time.Millisecond)
	}
	b.t.Fatalf("waited %s for %s (%s); last error %v; at %s", actionTimeout, what, js, last, b.location())
}

// waitPath waits until the page's path is p.
func (b *tab) waitPath(p string) {
	b.t.Helper()
	b.waitJS("the page "+p, fmt.Sprintf("location.pathname === %q && document.readyState !== 'loading'", p))
}

func (b *tab) navigate(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.s.base + path))
}

func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// text is the trimmed text of the first element matching a CSS selector.
func (b *tab) text(css string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q)?.innerText ?? "").trim()`, css))
}

func (b *tab) exists(css string) bool {
	b.t.Helper()
	return eval[bool](b, fmt.Sprintf(`document.querySelector(%q) !== null`, css))
}

// typeInto focuses a field and types text into it key by key.
func (b *tab) typeInto(css, text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.CSS(css), text))
}

func (b *tab) click(css string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(css)))
}

// key presses keys on whatever has the focus, one by one.
func (b *tab) key(keys string) {
	b.t.Helper()
	b.do(press(keys))
}

// press types like a keyboard does, as Puppeteer does it: one keyDown that
// carries the text (so a page that cancels keydown also stops the
// character, as in a real browser), then keyUp. chromedp.KeyEvent sends the
// character as a separate char event, which a cancelled keydown does not
// stop, so "/" would both focus the search box and land in it.
func press(keys string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range keys {
			evs := kb.Encode(r)
			down, up := *evs[0], *evs[len(evs)-1]
			down.Type = input.DispatchKeyEventTypeRawKeyDown
			for _, e := range evs {
				if e.Type == input.DispatchKeyEventTypeChar {
					down.Type = input.DispatchKeyEventTypeKeyDown
					down.Text, down.UnmodifiedText = e.Text, e.UnmodifiedText
				}
			}
			for _, e := range []input.DispatchKeyEventParams{down, up} {
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, e); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// viewport sets the window size (and mobile emulation for phone widths).
func (b *tab) viewport(w, h int64, mobile bool) {
	b.t.Helper()
	if mobile {
		b.do(chromedp.EmulateViewport(w, h, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	} else {
		b.do(chromedp.EmulateViewport(w, h))
	}
}

// colorScheme emulates prefers-color-scheme ("light" or "dark").
func (b *tab) colorScheme(scheme string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		b.t.Fatal(err)
	}
}

// screenshot writes the viewport as docs/screenshots/NAME.png when
// RETAIN_SCREENSHOTS=1; otherwise it still captures (proving the page
// renders) but writes nothing, so normal runs leave the repository alone.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	// Let fonts and transitions settle, and take no focus ring or caret
	// from the previous step into the picture.
	b.do(chromedp.Evaluate[chromedp.Void](`document.fonts ? document.fonts.ready.then(() => true) : true`, chromedp.EvalAwaitPromise))
	time.Sleep(150 * time.Millisecond)
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if os.Getenv("RETAIN_SCREENSHOTS") != "1" {
		return
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// saveArtifacts keeps what the browser showed when a step failed:
// $RETAIN_E2E_ARTIFACTS, or a temporary folder that is left in place.
func (b *tab) saveArtifacts() {
	dir := os.Getenv("RETAIN_E2E_ARTIFACTS")
	if dir == "" {
		d, err := os.MkdirTemp("", "retain-e2e-")
		if err != nil {
			return
		}
		dir = d
	}
	_ = os.MkdirAll(dir, 0o755)
	name := strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name())
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".html"), []byte(html), 0o644)
	}
	b.t.Logf("failure artifacts (screenshot, HTML) in %s; page was %s", dir, b.location())
}

var errNoSetupLink = errors.New("core/app did not log the first-run setup link")

// nav loads an absolute URL and waits for its load event.
func nav(url string) chromedp.Action[chromedp.Void] { return chromedp.Navigate(url) }

// clearField empties an input (SendKeys only appends).
func clearField(css string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (e) e.value = ""; })()`, css))
}

// blur takes the focus off any field, so page shortcuts are live.
func blur() chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur && document.activeElement.blur()`)
}

// markPage tags the current document; pageMarked is still true only if no
// page load happened since (htmx swapped a fragment instead).
func markPage() chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`window.__retainE2E = true`)
}

const pageMarked = `window.__retainE2E === true`

// screenshotSchemes takes NAME (light) and NAME-dark.
func (b *tab) screenshotSchemes(name string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.colorScheme("light")
	b.screenshot(name)
	b.colorScheme("dark")
	if !eval[bool](b, `matchMedia("(prefers-color-scheme: dark)").matches`) {
		b.t.Error("dark colour scheme emulation did not apply")
	}
	b.screenshot(name + "-dark")
	b.colorScheme("light")
}

// status loads a page and returns its HTTP status.
func (b *tab) status(path string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.s.base+path))
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// evalAsync evaluates an expression that returns a promise.
func evalAsync[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v (at %s)", js, err, b.location())
	}
	return v
}

// waitFound waits until a search for q finds something (the index follows
// the store a moment behind).
func (s *server) waitFound(t *testing.T, q string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := s.app.Service.Search(context.Background(), core.SearchQuery{Text: q}); err == nil && len(res.Hits) > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the search index never found %q", q)
}
