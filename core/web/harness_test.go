package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/auth"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/retention"
	"github.com/retain-crm/retain/core/web"
	"github.com/retain-crm/retain/search"
	"github.com/retain-crm/retain/store"
)

// app is a whole retain HTTP surface on a real bbolt store and a real bleve
// index in a temp dir, as core/app wires it (minus the real importer, see
// fakeImporter).
type app struct {
	t      testing.TB
	cfg    config.Config
	db     *store.DB
	ix     *search.Index
	an     *analytics.Engine
	svc    *core.Service
	srv    *web.Server
	h      http.Handler
	imp    *fakeImporter
	logs   *syncBuffer
	tokens map[string]string // role name → secret
	ids    map[string]core.ID
	dir    string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Body limits small enough to test cheaply.
const (
	testMaxBody   = 64 << 10
	testMaxUpload = 256 << 10
)

func newAppWith(t testing.TB, edit func(*config.Config)) *app { return newApp(t, edit) }

func newApp(t testing.TB, edit ...func(*config.Config)) *app {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Storage.DataDir = dir
	cfg.Storage.MinFreeBytes = 1
	cfg.Server.MaxBodyBytes = testMaxBody
	cfg.Server.MaxUploadBytes = testMaxUpload
	for _, e := range edit {
		e(&cfg)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "retain.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := search.Open(ctx, filepath.Join(dir, "index"), db, search.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ix.Close()
		db.Close()
	})
	a := &app{t: t, cfg: cfg, db: db, ix: ix, svc: core.NewService(db, ix, "48"), logs: &syncBuffer{},
		tokens: map[string]string{}, ids: map[string]core.ID{}, dir: dir}
	a.imp = &fakeImporter{store: db, dir: filepath.Join(dir, "imports")}
	// The real analytics engine on the test store; catchUp brings it up to date.
	if a.an, err = analytics.Open(ctx, db, analytics.Options{Location: time.UTC, Currency: "EUR", Churn: analytics.ChurnInactivity,
		ChurnDays: 90, PAliveThreshold: 0.3, Unit: retention.Week, HorizonDays: 365, AnnualDiscountRate: 0.1,
		RefitEvery: time.Hour, PollInterval: time.Second, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Deps{Config: cfg, Service: a.svc, Store: db, Imports: a.imp, Analytics: a.an, Version: "test-1.2.3",
		Logger: slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	a.srv, a.h = srv, srv.Handler()
	a.seed()
	return a
}

// token creates a token with scopes; expired and revoked ones on request.
func (a *app) token(name string, mod func(*core.Token), scopes ...core.Scope) string {
	a.t.Helper()
	secret, prefix, hash, err := auth.NewToken()
	if err != nil {
		a.t.Fatal(err)
	}
	tk := core.Token{Name: name, Prefix: prefix, Hash: hash, Scopes: scopes, CreatedAt: time.Now().UTC(), UserID: 42}
	if mod != nil {
		mod(&tk)
	}
	tk, err = a.db.CreateToken(context.Background(), tk)
	if err != nil {
		a.t.Fatal(err)
	}
	a.tokens[name] = secret
	a.ids["token:"+name] = tk.ID
	return secret
}

// seed stores the data every scenario starts from.
func (a *app) seed() {
	ctx := context.Background()
	a.token("admin", nil, core.ScopeAdmin)
	a.token("reader", nil, core.ScopeCustomersRead, core.ScopeInteractionsRead)
	a.token("writer", nil, core.ScopeCustomersWrite, core.ScopeCustomersRead, core.ScopeInteractionsWrite, core.ScopeInteractionsRead, core.ScopeCustomersErase)
	a.token("search", nil, core.ScopeSearch)
	a.token("import", nil, core.ScopeImport)
	a.token("revoked", func(t *core.Token) { t.RevokedAt = time.Now().Add(-time.Hour) }, core.ScopeAdmin)
	a.token("expired", func(t *core.Token) { t.ExpiresAt = time.Now().Add(-time.Minute) }, core.ScopeAdmin)

	ann, err := a.svc.CreateCustomer(ctx, core.Customer{ExternalID: "c-1", Name: "Ann Example", Emails: []string{"ann@example.com"}, Tags: []string{"vip"}})
	if err != nil {
		a.t.Fatal(err)
	}
	bob, err := a.svc.CreateCustomer(ctx, core.Customer{ExternalID: "c-2", Name: "Bob Builder", Phones: []string{"600100200"}})
	if err != nil {
		a.t.Fatal(err)
	}
	a.ids["ann"], a.ids["bob"] = ann.ID, bob.ID
	res, err := a.svc.AppendInteractions(ctx, []core.Interaction{
		{CustomerID: ann.ID, Type: core.TypePurchase, Time: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), Amount: 1999, Currency: "EUR",
			Items: []core.LineItem{{SKU: "tea-1", Name: "Green tea pack", Quantity: 1, UnitPrice: 1999}}, IdempotencyKey: "order-1"},
		{CustomerID: ann.ID, Type: core.TypeNote, Time: time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC), Text: "asked about the oolong tea subscription"},
		{CustomerID: bob.ID, Type: core.TypeCall, Time: time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC), Text: "wants a callback"},
	})
	if err != nil {
		a.t.Fatal(err)
	}
	a.ids["ann-purchase"] = res[0].ID
	a.catchUp()
}

func (a *app) catchUp() {
	a.t.Helper()
	if err := a.ix.CatchUp(context.Background()); err != nil {
		a.t.Fatal(err)
	}
	if err := a.an.CatchUp(context.Background()); err != nil {
		a.t.Fatal(err)
	}
}

// snapshot is everything a hostile request must leave alone.
func (a *app) snapshot() string {
	a.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	err := a.db.ScanCustomers(ctx, func(c core.Customer) error {
		return json.NewEncoder(&b).Encode(c)
	})
	if err != nil {
		a.t.Fatal(err)
	}
	err = a.db.ScanAllInteractions(ctx, func(in core.Interaction) error {
		return json.NewEncoder(&b).Encode(in)
	})
	if err != nil {
		a.t.Fatal(err)
	}
	ts, err := a.db.ListTokens(ctx)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, tk := range ts {
		tk.LastUsedAt = time.Time{} // touched by any authorized request
		json.NewEncoder(&b).Encode(tk)
	}
	jobs, _ := a.db.ListImportJobs(ctx, 1000)
	json.NewEncoder(&b).Encode(jobs)
	return b.String()
}

// do sends one request. token is a role name from a.tokens, a literal
// "Bearer ..."/other header value when it contains a space, or "".
func (a *app) do(method, url, token string, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, url, body)
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	switch {
	case token == "":
	case strings.Contains(token, " "):
		req.Header.Set("Authorization", token)
	default:
		secret, ok := a.tokens[token]
		if !ok {
			a.t.Fatalf("no token %q", token)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// scenario is one black-box API test: a request, the answer expected, and
// the side effects checked afterwards.
type scenario struct {
	name    string
	method  string
	url     string // "{ann}" and the like are replaced by seeded ids
	token   string
	body    string
	bodyFn  func(a *app) (io.Reader, string) // a body with its content type
	header  map[string]string
	setup   func(t *testing.T, a *app)
	cfg     func(*config.Config) // a non-default configuration
	status  int
	errCode string // expected error code; implies the error shape
	field   string // expected error field
	has     []string
	hasNot  []string
	// unchanged asserts that the stored data is exactly as before.
	unchanged bool
	after     func(t *testing.T, a *app, rec *httptest.ResponseRecorder)
}

func (a *app) expand(s string) string {
	for k, v := range a.ids {
		s = strings.ReplaceAll(s, "{"+k+"}", v.String())
	}
	return s
}

func runScenarios(parent *testing.T, list []scenario) {
	parent.Helper()
	// Scenarios that cannot change anything (reads, and refusals checked
	// with unchanged) share one app; every other one gets a fresh app, so
	// no scenario sees another's writes. Opening an app costs ~100 ms.
	var shared *app
	for _, sc := range list {
		parent.Run(sc.name, func(t *testing.T) {
			var a *app
			switch {
			case sc.cfg != nil:
				a = newAppWith(t, sc.cfg)
			case sc.setup == nil && sc.after == nil && (sc.method == "GET" || sc.unchanged):
				if shared == nil {
					shared = newApp(parent) // lives as long as the whole table
				}
				a = shared
				a.t = t
			default:
				a = newApp(t)
			}
			if sc.setup != nil {
				sc.setup(t, a)
			}
			before := a.snapshot()
			var body io.Reader
			header := map[string]string{}
			if sc.body != "" {
				body = strings.NewReader(a.expand(sc.body))
			}
			if sc.bodyFn != nil {
				var ct string
				body, ct = sc.bodyFn(a)
				header["Content-Type"] = ct
			}
			for k, v := range sc.header {
				header[k] = v
			}
			rec := a.do(sc.method, a.expand(sc.url), sc.token, body, header)
			got := rec.Body.String()
			if rec.Code != sc.status {
				t.Fatalf("%s %s: status %d, want %d; body %s", sc.method, sc.url, rec.Code, sc.status, truncate(got))
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("missing X-Content-Type-Options: nosniff")
			}
			if sc.errCode != "" {
				checkErrorShape(t, rec, sc.errCode, sc.field)
			}
			for _, h := range sc.has {
				if !strings.Contains(got, a.expand(h)) {
					t.Errorf("body lacks %q: %s", h, truncate(got))
				}
			}
			for _, h := range sc.hasNot {
				if strings.Contains(got, a.expand(h)) {
					t.Errorf("body has %q: %s", h, truncate(got))
				}
			}
			if sc.unchanged {
				if after := a.snapshot(); after != before {
					t.Errorf("stored data changed:\nbefore %s\nafter  %s", truncate(before), truncate(after))
				}
			}
			if sc.after != nil {
				sc.after(t, a, rec)
			}
		})
	}
}

func checkErrorShape(t *testing.T, rec *httptest.ResponseRecorder, code, field string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q", ct)
	}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body is not the error shape: %v: %s", err, truncate(rec.Body.String()))
	}
	if eb.Error.Code != code || eb.Error.Field != field || eb.Error.Message == "" {
		t.Errorf("error = %+v, want code %q field %q", eb.Error, code, field)
	}
	for _, leak := range []string{"goroutine", ".go:", "panic", "/tmp/", "bolt"} {
		if strings.Contains(eb.Error.Message, leak) {
			t.Errorf("error message leaks %q: %s", leak, eb.Error.Message)
		}
	}
}

func truncate(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, truncate(rec.Body.String()))
	}
	return v
}

// multipartBody builds an upload form; fields in order, then the file.
func multipartBody(fields [][2]string, fileName, content string) (io.Reader, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		w.WriteField(f[0], f[1])
	}
	if fileName != "" {
		fw, _ := w.CreateFormFile("file", fileName)
		io.WriteString(fw, content)
	}
	w.Close()
	return &b, w.FormDataContentType()
}

// fakeImporter stands in for core/importer, which is written separately and
// adapted to web.Importer by core/app; here it records what the HTTP layer
// hands over and keeps its jobs in the real store, so the job routes are
// exercised end to end.
type fakeImporter struct {
	store core.Store
	dir   string
	mu    sync.Mutex
	last  web.ImportRequest
	body  string
}

func (f *fakeImporter) Start(ctx context.Context, req web.ImportRequest) (core.ImportJob, error) {
	b, err := io.ReadAll(req.File)
	if err != nil {
		return core.ImportJob{}, err
	}
	f.mu.Lock()
	f.last, f.body = req, string(b)
	f.mu.Unlock()
	job, err := f.store.CreateImportJob(ctx, core.ImportJob{Kind: req.Kind, Format: "csv", FileName: req.FileName, SizeBytes: int64(len(b)),
		Mapping: req.Mapping, State: core.ImportQueued, UserID: req.UserID, CreatedAt: time.Now().UTC()})
	if err != nil {
		return job, err
	}
	if strings.Contains(string(b), "REJECT") {
		os.MkdirAll(f.dir, 0o755)
		os.WriteFile(filepath.Join(f.dir, job.ID.String()+".csv"), []byte("line,reason\n2,bad row\n"), 0o644)
	}
	return job, nil
}

func (f *fakeImporter) DryRun(ctx context.Context, req web.ImportRequest) (web.ImportPreview, error) {
	b, err := io.ReadAll(req.File)
	if err != nil {
		return web.ImportPreview{}, err
	}
	rows := int64(strings.Count(strings.TrimSpace(string(b)), "\n"))
	return web.ImportPreview{Kind: req.Kind, Format: "csv", Rows: rows, Valid: rows, Mapping: req.Mapping}, nil
}

func (f *fakeImporter) Get(ctx context.Context, id core.ID) (core.ImportJob, error) {
	return f.store.GetImportJob(ctx, id)
}

func (f *fakeImporter) List(ctx context.Context, limit int) ([]core.ImportJob, error) {
	return f.store.ListImportJobs(ctx, limit)
}

func (f *fakeImporter) Cancel(ctx context.Context, id core.ID) (core.ImportJob, error) {
	return f.store.UpdateImportJob(ctx, id, func(j *core.ImportJob) error {
		if !j.State.Finished() {
			j.State = core.ImportCancelled
		}
		return nil
	})
}

func (f *fakeImporter) RejectedPath(ctx context.Context, id core.ID) (string, error) {
	if _, err := f.store.GetImportJob(ctx, id); err != nil {
		return "", err
	}
	p := filepath.Join(f.dir, id.String()+".csv")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: import %s rejected no rows", core.ErrNotFound, id)
	}
	return p, nil
}
