package web_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	coreapp "github.com/retain-crm/retain/core/app"
	"github.com/retain-crm/retain/core/auth"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/web"
)

// The harness's fakeImporter has no staging (it stands in for the job
// routes only): these methods make it satisfy web.Importer, and the import
// page tests below run on the real importer (app.NewImporter) instead.

func (f *fakeImporter) Stage(ctx context.Context, req web.ImportRequest) (web.ImportUpload, error) {
	return web.ImportUpload{}, core.NotFoundf("the fake importer stages nothing")
}

func (f *fakeImporter) Inspect(ctx context.Context, req web.ImportRequest) (web.ImportUpload, error) {
	return web.ImportUpload{}, core.NotFoundf("the fake importer stages nothing")
}

func (f *fakeImporter) Discard(ctx context.Context, req web.ImportRequest) error {
	return core.NotFoundf("the fake importer stages nothing")
}

// impUI is the harness app served with the real import machinery.
type impUI struct {
	*app
	h   http.Handler
	imp interface {
		web.Importer
		Close() error
	}
}

func newImpUI(t testing.TB, edit ...func(*config.Config)) *impUI {
	t.Helper()
	a := newApp(t, edit...)
	imp, err := coreapp.NewImporter(context.Background(), a.cfg, a.svc, a.db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imp.Close() })
	srv, err := web.New(web.Deps{Config: a.cfg, Service: a.svc, Store: a.db, Imports: imp, Version: "test",
		Logger: slog.New(slog.NewTextHandler(a.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &impUI{app: a, h: srv.Handler(), imp: imp}
}

// impClient is a signed-in browser: its cookies and the page's CSRF token.
type impClient struct {
	t       testing.TB
	h       http.Handler
	cookies map[string]*http.Cookie
	csrf    string
}

var impCSRFMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// impUI_signIn creates a user with role and signs in through POST /signin.
func impUI_signIn(t testing.TB, a *app, h http.Handler, role core.Role) *impClient {
	t.Helper()
	hash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	email := fmt.Sprintf("%s-%d@imports.test", role, rand.Int64())
	if _, err := a.db.CreateUser(context.Background(), core.User{Email: email, Name: "Imp " + string(role), Role: role,
		PasswordHash: hash, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	c := &impClient{t: t, h: h, cookies: map[string]*http.Cookie{}}
	rec := c.form("POST", "/signin", url.Values{"email": {email}, "password": {"correct horse battery"}}, false)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	page := c.get("/imports")
	m := impCSRFMeta.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("no csrf meta on /imports (%d)", page.Code)
	}
	c.csrf = html.UnescapeString(m[1])
	return c
}

func (c *impClient) send(req *http.Request) *httptest.ResponseRecorder {
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		c.cookies[ck.Name] = ck
	}
	return rec
}

func (c *impClient) get(path string) *httptest.ResponseRecorder {
	return c.send(httptest.NewRequest("GET", path, nil))
}

// form posts urlencoded values, with the CSRF field when withCSRF.
func (c *impClient) form(method, path string, v url.Values, withCSRF bool) *httptest.ResponseRecorder {
	if withCSRF {
		v = cloneValues(v)
		v.Set("csrf_token", c.csrf)
	}
	req := httptest.NewRequest(method, path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(req)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// upload posts the upload form: kind and the file, the CSRF token in the
// query string as the page's form does.
func (c *impClient) upload(kind, name string, content []byte, withCSRF bool) *httptest.ResponseRecorder {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if kind != "" {
		w.WriteField("kind", kind)
	}
	fw, _ := w.CreateFormFile("file", name)
	fw.Write(content)
	w.Close()
	path := "/imports/upload"
	if withCSRF {
		path += "?csrf_token=" + url.QueryEscape(c.csrf)
	}
	req := httptest.NewRequest("POST", path, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.send(req)
}

var (
	selectRe = regexp.MustCompile(`(?s)<select id="col-\d+" name="(col\.\d+)"[^>]*>(.*?)</select>`)
	selRe    = regexp.MustCompile(`<option value="([^"]*)" selected>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="shape" value="([^"]*)">`)
)

// mappingValues reads the mapping form as the browser would send it.
func mappingValues(t testing.TB, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range selectRe.FindAllStringSubmatch(page, -1) {
		sel := ""
		if s := selRe.FindStringSubmatch(m[2]); s != nil {
			sel = html.UnescapeString(s[1])
		}
		v.Set(m[1], sel)
	}
	for _, name := range []string{"kind", "header", "delimiter", "encoding"} {
		re := regexp.MustCompile(`(?s)<select id="m-` + name + `" name="` + name + `">(.*?)</select>`)
		if m := re.FindStringSubmatch(page); m != nil {
			if s := selRe.FindStringSubmatch(m[1]); s != nil {
				v.Set(name, html.UnescapeString(s[1]))
			}
		}
	}
	if m := hiddenRe.FindStringSubmatch(page); m != nil {
		v.Set("shape", html.UnescapeString(m[1]))
	} else {
		t.Fatalf("no shape field on the mapping page: %s", truncate(page))
	}
	return v
}

// stage uploads a file and returns the mapping page's path.
func (c *impClient) stage(kind, name string, content []byte) string {
	c.t.Helper()
	rec := c.upload(kind, name, content, true)
	if rec.Code != http.StatusSeeOther {
		c.t.Fatalf("upload %s: %d %s", name, rec.Code, truncate(rec.Body.String()))
	}
	loc := rec.Header().Get("Location")
	if !strings.HasPrefix(loc, "/imports/uploads/") {
		c.t.Fatalf("upload redirected to %q", loc)
	}
	return loc
}

// waitJob polls the job's progress fragment until it stops polling.
func (c *impClient) waitJob(path string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec := c.get(path + "?part=progress")
		if rec.Code != 200 {
			c.t.Fatalf("progress: %d %s", rec.Code, truncate(rec.Body.String()))
		}
		body := rec.Body.String()
		if !strings.Contains(body, "hx-trigger") {
			return body
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job still running: %s", truncate(body))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "importer", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportUIFlowCustomers(t *testing.T) {
	u := newImpUI(t)
	c := impUI_signIn(t, u.app, u.h, core.RoleManager)

	list := c.get("/imports")
	if list.Code != 200 || !strings.Contains(list.Body.String(), `enctype="multipart/form-data"`) ||
		!strings.Contains(list.Body.String(), `action="/imports/upload?csrf_token=`) {
		t.Fatalf("imports page: %d %s", list.Code, truncate(list.Body.String()))
	}

	mapPath := c.stage("customers", "customers_basic.csv", readTestdata(t, "customers_basic.csv"))
	rec := c.get(mapPath)
	page := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("mapping page: %d %s", rec.Code, truncate(page))
	}
	for _, want := range []string{"customers_basic.csv", "E-mail", "ADA@example.com", "<dd>csv</dd>", "<dd>utf-8</dd>", "comma",
		`<option value="external_id" selected>`, `<option value="email" selected>`, `<option value="address.city" selected>`} {
		if !strings.Contains(page, want) {
			t.Errorf("mapping page lacks %q", want)
		}
	}
	form := mappingValues(t, page)

	// Preview: parsed rows and the first errors with their lines.
	rec = c.form("POST", mapPath+"/preview", form, true)
	page = rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("preview: %d %s", rec.Code, truncate(page))
	}
	for _, want := range []string{"Of the first 6 rows, 3 can be imported and 3 would be rejected", "ada@example.com", "Lovelace", "First errors", "<td class=\"num\">4</td>", "<td class=\"num\">5</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	if n := countCustomers(t, u.app); n != 2 {
		t.Fatalf("a preview stored something: %d customers", n)
	}

	// Start: to the job page, which polls until the job is done.
	rec = c.form("POST", mapPath+"/start", form, true)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("start: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	jobPath := rec.Header().Get("Location")
	if !regexp.MustCompile(`^/imports/\d+$`).MatchString(jobPath) {
		t.Fatalf("start redirected to %q", jobPath)
	}
	jp := c.get(jobPath)
	if jp.Code != 200 || !strings.Contains(jp.Body.String(), "<progress") {
		t.Fatalf("job page: %d %s", jp.Code, truncate(jp.Body.String()))
	}
	done := c.waitJob(jobPath)
	for _, want := range []string{"imp-done", `value="100"`, "<dt>Rows read</dt><dd>6</dd>", "<dt>Created</dt><dd>2</dd>", "<dt>Rejected</dt><dd>3</dd>", "/rejected", "missing external id"} {
		if !strings.Contains(done, want) {
			t.Errorf("finished job lacks %q: %s", want, truncate(done))
		}
	}
	if n := countCustomers(t, u.app); n != 4 {
		t.Errorf("after the import: %d customers, want 4", n)
	}
	rej := c.get(jobPath + "/rejected")
	if rej.Code != 200 || !strings.HasPrefix(rej.Header().Get("Content-Type"), "text/csv") ||
		!strings.Contains(rej.Body.String(), "line,reason") || !strings.Contains(rej.Body.String(), "missing external id") {
		t.Errorf("rejected download: %d %q %s", rej.Code, rej.Header().Get("Content-Type"), rej.Body.String())
	}
	// The upload moved into the job: the mapping page is gone.
	if rec := c.get(mapPath); rec.Code != 404 {
		t.Errorf("mapping page after start: %d", rec.Code)
	}
	// The job is listed.
	if l := c.get("/imports").Body.String(); !strings.Contains(l, `href="`+jobPath+`"`) {
		t.Errorf("job not listed: %s", truncate(l))
	}
}

func countCustomers(t testing.TB, a *app) int {
	t.Helper()
	n := 0
	if err := a.db.ScanCustomers(context.Background(), func(core.Customer) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
