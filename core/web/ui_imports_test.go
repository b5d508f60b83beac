package web_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	srv *web.Server
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
	return &impUI{app: a, srv: srv, h: srv.Handler(), imp: imp}
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

func TestImportUIFlowInteractionsOnlineRetail(t *testing.T) {
	src := filepath.Join("..", "..", "..", "shared", "data", "online_retail", "online_retail.csv.gz")
	f, err := os.Open(src)
	if os.IsNotExist(err) {
		t.Skip("../shared/data is absent: no Online Retail slice to import")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	// The first 300 lines, gzip-compressed again, as staff would upload them.
	var slice bytes.Buffer
	zw := gzip.NewWriter(&slice)
	sc := bufio.NewScanner(zr)
	for i := 0; i < 300 && sc.Scan(); i++ {
		zw.Write(append(sc.Bytes(), '\n'))
	}
	zw.Close()

	u := newImpUI(t)
	c := impUI_signIn(t, u.app, u.h, core.RoleManager)
	mapPath := c.stage("interactions", "online_retail_300.csv.gz", slice.Bytes())
	page := c.get(mapPath).Body.String()
	for _, want := range []string{"(gzip)", `<option value="customer_external_id" selected>`, `<option value="order_key" selected>`,
		`<option value="unit_price" selected>`, `<option value="customer.address.country" selected>`, "WHITE HANGING HEART"} {
		if !strings.Contains(page, want) {
			t.Errorf("mapping page lacks %q", want)
		}
	}
	form := mappingValues(t, page)
	form.Set("currency", "GBP")
	rec := c.form("POST", mapPath+"/preview", form, true)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Of the first 299 rows") || !strings.Contains(rec.Body.String(), "17850") {
		t.Fatalf("preview: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	rec = c.form("POST", mapPath+"/start", form, true)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("start: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	done := c.waitJob(rec.Header().Get("Location"))
	if !strings.Contains(done, "imp-done") || !strings.Contains(done, "<dt>Rows read</dt><dd>299</dd>") {
		t.Fatalf("job: %s", truncate(done))
	}
	n := 0
	u.db.ScanAllInteractions(context.Background(), func(in core.Interaction) error {
		if in.Currency == "GBP" {
			n++
		}
		return nil
	})
	if n == 0 {
		t.Errorf("no GBP purchases stored")
	}
}

func TestImportUIJSONL(t *testing.T) {
	u := newImpUI(t)
	c := impUI_signIn(t, u.app, u.h, core.RoleManager)
	mapPath := c.stage("customers", "customers.jsonl", readTestdata(t, "customers.jsonl"))
	page := c.get(mapPath).Body.String()
	if !strings.Contains(page, "<dd>jsonl</dd>") || !strings.Contains(page, `<option value="external_id" selected>`) || !strings.Contains(page, "address.city") {
		t.Fatalf("mapping page: %s", truncate(page))
	}
	rec := c.form("POST", mapPath+"/preview", mappingValues(t, page), true)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Json One") {
		t.Fatalf("preview: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	// Choosing the mapping by hand: name from "name" only, nothing else.
	form := mappingValues(t, page)
	for k := range form {
		if strings.HasPrefix(k, "col.") && form.Get(k) != "external_id" {
			form.Set(k, "")
		}
	}
	rec = c.form("POST", mapPath+"/preview", form, true)
	_, preview, _ := strings.Cut(rec.Body.String(), `id="preview-title"`)
	if rec.Code != 200 || preview == "" || strings.Contains(preview, "j1@example.com") || !strings.Contains(preview, "j1") {
		t.Fatalf("hand-made mapping preview: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if !strings.Contains(rec.Body.String(), "guess = false") {
		t.Errorf("the mapping shown is not the one used")
	}
}

// hostile values every page showing file content must render as text.
var impHostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`' hx-get="/admin" hx-trigger="load`,
	"evil\u202Egnp.exe",
}

func assertImpEscaped(t *testing.T, where, body string) {
	t.Helper()
	for _, bad := range []string{"<script>alert", "<img", ` hx-get="/admin"`, `hx-trigger="load`, "\u202E", `"><script>`} {
		if strings.Contains(body, bad) {
			i := strings.Index(body, bad)
			t.Errorf("%s: raw %q in the page: …%s…", where, bad, body[max(0, i-80):min(len(body), i+80)])
		}
	}
	if !utf8Valid(body) {
		t.Errorf("%s: the page is not valid UTF-8", where)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

func TestImportUIHostile(t *testing.T) {
	u := newImpUI(t)
	c := impUI_signIn(t, u.app, u.h, core.RoleManager)
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"external_id", "name", impHostile[0], impHostile[2], "email"})
	w.Write([]string{"h1", impHostile[0], impHostile[1], impHostile[2], "h1@example.com"})
	w.Write([]string{"h2", impHostile[3], impHostile[2], impHostile[1], impHostile[1]}) // a bad email: rejected with its value
	w.Flush()
	valid := slices.Clone(b.Bytes())
	// Invalid UTF-8 makes the importer read the file as Windows-1252.
	w.Write([]string{"h3\xff\xfe", "bad \xc3\x28 utf8", "x", "y", ""})
	w.Flush()
	invalid := b.Bytes()

	for _, tc := range []struct {
		name    string
		content []byte
	}{{`"><script>.csv`, valid}, {`../../etc/passwd`, valid}, {impHostile[2] + ".csv", valid}, {impHostile[3], valid}, {"invalid-utf8.csv", invalid}} {
		name := tc.name
		t.Run(name, func(t *testing.T) {
			mapPath := c.stage("customers", name, tc.content)
			page := c.get(mapPath).Body.String()
			assertImpEscaped(t, "mapping page", page)
			if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") || utf8Valid(string(tc.content)) && !strings.Contains(page, "[U&#43;202E]") {
				t.Errorf("hostile cells are not shown as text: %s", page)
			}
			form := mappingValues(t, page)
			// Import the hostile columns as attributes too.
			for k, v := range form {
				if strings.HasPrefix(k, "col.") && v[0] == "" {
					i := strings.TrimPrefix(k, "col.")
					opts := regexp.MustCompile(`<select id="col-` + i + `"[^>]*>(?s:.*?)</select>`).FindString(page)
					if m := regexp.MustCompile(`value="(attributes\.[^"]*)"`).FindStringSubmatch(opts); m != nil {
						form.Set(k, html.UnescapeString(m[1]))
					}
				}
			}
			rec := c.form("POST", mapPath+"/preview", form, true)
			if rec.Code != 200 {
				t.Fatalf("preview: %d %s", rec.Code, truncate(rec.Body.String()))
			}
			assertImpEscaped(t, "preview", rec.Body.String())
			rec = c.form("POST", mapPath+"/start", form, true)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("start: %d %s", rec.Code, truncate(rec.Body.String()))
			}
			jobPath := rec.Header().Get("Location")
			done := c.waitJob(jobPath)
			assertImpEscaped(t, "job fragment", done)
			assertImpEscaped(t, "job page", c.get(jobPath).Body.String())
			assertImpEscaped(t, "job list", c.get("/imports").Body.String())
			id, _ := core.ParseID(strings.TrimPrefix(jobPath, "/imports/"))
			job, err := u.db.GetImportJob(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(job.FileName, "/\\") {
				t.Errorf("file name kept a path: %q", job.FileName)
			}
			if rel, err := filepath.Rel(filepath.Join(u.dir, "imports"), job.FilePath); err != nil || strings.HasPrefix(rel, "..") || strings.Contains(rel, string(filepath.Separator)) {
				t.Errorf("the upload was saved outside the imports folder: %s", job.FilePath)
			}
		})
	}
}

func stagedFiles(t *testing.T, a *app) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(a.dir, "imports", "staged"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestImportUIBrokenFiles(t *testing.T) {
	garbage := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(r.UintN(256))
	}
	cases := []struct {
		name, file string
		content    []byte
		status     int
		want       string
	}{
		{"binary garbage", "photo.csv", garbage, 422, "not a text file"},
		{"control characters", "x.csv", bytes.Repeat([]byte("a\x01b\x02,c\x03\n"), 50), 422, "does not look like a text file"},
		{"empty", "empty.csv", nil, 422, "the file is empty"},
		{"blank lines", "blank.csv", []byte("\n\n  \n"), 422, "the file is empty"},
		{"header only", "header.csv", []byte("external_id,name,email\n"), 422, "no data rows"},
		{"broken gzip", "x.csv.gz", []byte("\x1f\x8b\x08\x00garbage"), 422, "cannot be imported"},
		{"no file", "", nil, 422, "Choose one file"},
	}
	u := newImpUI(t, func(c *config.Config) { c.Server.MaxUploadBytes = 8 << 10 })
	c := impUI_signIn(t, u.app, u.h, core.RoleManager)
	before := u.snapshot()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := c.upload("customers", tc.file, tc.content, true)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("%d, want %d with %q: %s", rec.Code, tc.status, tc.want, truncate(rec.Body.String()))
			}
			if !strings.Contains(rec.Body.String(), `role="alert"`) || !strings.Contains(rec.Body.String(), `type="file"`) {
				t.Errorf("the error is not shown with the form")
			}
		})
	}
	t.Run("bad kind", func(t *testing.T) {
		rec := c.upload("users", "c.csv", []byte("external_id\nx\n"), true)
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), "customers or interactions") {
			t.Fatalf("%d %s", rec.Code, truncate(rec.Body.String()))
		}
	})
	big := bytes.Repeat([]byte("external_id,name\nx,y\n"), 1000)
	t.Run("over the upload limit", func(t *testing.T) {
		rec := c.upload("customers", "big.csv", big, true)
		if rec.Code != 413 || !strings.Contains(rec.Body.String(), "larger than") {
			t.Fatalf("%d %s", rec.Code, truncate(rec.Body.String()))
		}
	})
	t.Run("over the upload limit, no length announced", func(t *testing.T) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("kind", "customers")
		fw, _ := w.CreateFormFile("file", "big.csv")
		fw.Write(big)
		w.Close()
		req := httptest.NewRequest("POST", "/imports/upload?csrf_token="+url.QueryEscape(c.csrf), io.NopCloser(&b))
		req.ContentLength = -1
		req.Header.Set("Content-Type", w.FormDataContentType())
		rec := c.send(req)
		if rec.Code != 413 || !strings.Contains(rec.Body.String(), "larger than the upload limit (8.0 KiB)") {
			t.Fatalf("%d %s", rec.Code, truncate(rec.Body.String()))
		}
	})
	if after := u.snapshot(); after != before {
		t.Errorf("a refused upload changed the stored data")
	}
	if left := stagedFiles(t, u.app); len(left) != 0 {
		t.Errorf("refused uploads left files behind: %v", left)
	}
	// A mapping that reads the file as nonsense is an error on the form,
	// and the upload stays for another try.
	mapPath := c.stage("customers", "c.csv", []byte("external_id,name\nx1,Ann\n"))
	form := mappingValues(t, c.get(mapPath).Body.String())
	form.Set("encoding", "utf-16le")
	rec := c.form("POST", mapPath+"/preview", form, true)
	if rec.Code != 422 && rec.Code != 200 {
		t.Fatalf("utf-16 reading: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	form = mappingValues(t, c.get(mapPath).Body.String())
	for k := range form {
		if strings.HasPrefix(k, "col.") {
			form.Set(k, "name")
		}
	}
	rec = c.form("POST", mapPath+"/start", form, true)
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "already imported from column 1") || !strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
		t.Fatalf("duplicate field: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	form.Set("col.0", "")
	form.Set("col.1", "name")
	rec = c.form("POST", mapPath+"/start", form, true)
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "external_id") {
		t.Fatalf("missing external_id: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if jobs, _ := u.db.ListImportJobs(context.Background(), 10); len(jobs) != 0 {
		t.Errorf("a refused start created a job")
	}
	if rec := c.get(mapPath); rec.Code != 200 {
		t.Errorf("the upload is gone after a refused start: %d", rec.Code)
	}
}

func TestImportUIAccess(t *testing.T) {
	u := newImpUI(t)
	manager := impUI_signIn(t, u.app, u.h, core.RoleManager)
	other := impUI_signIn(t, u.app, u.h, core.RoleManager)
	mapPath := manager.stage("customers", "c.csv", []byte("external_id,name\nx1,Ann\n"))
	upload := strings.TrimPrefix(mapPath, "/imports/uploads/")
	job := startJob(t, u.app, csvFile) // through the API, with a token
	_ = job

	// Another manager cannot see or use someone else's upload.
	if rec := other.get(mapPath); rec.Code != 404 {
		t.Errorf("another manager's view of the upload: %d", rec.Code)
	}
	if rec := other.form("POST", mapPath+"/discard", nil, true); rec.Code != 404 {
		t.Errorf("another manager discarding the upload: %d", rec.Code)
	}
	for _, bad := range []string{"..%2F..%2Fretain.db", "x", strings.Repeat("A", 24) + "%00"} {
		if rec := manager.get("/imports/uploads/" + bad); rec.Code != 404 && rec.Code != 400 {
			t.Errorf("upload id %q: %d", bad, rec.Code)
		}
	}

	var routes []web.Route
	for _, r := range u.srv.Routes() {
		if strings.HasPrefix(r.Path, "/imports") {
			routes = append(routes, r)
		}
	}
	if len(routes) < 8 {
		t.Fatalf("only %d import UI routes", len(routes))
	}
	path := func(r web.Route) string {
		p := strings.ReplaceAll(r.Path, ":upload", upload)
		return strings.ReplaceAll(p, ":id", u.ids["job"].String())
	}
	for _, role := range []core.Role{core.RoleViewer, core.RoleAgent} {
		c := impUI_signIn(t, u.app, u.h, role)
		for _, r := range routes {
			var rec *httptest.ResponseRecorder
			if r.Method == "GET" {
				rec = c.get(path(r))
			} else {
				rec = c.form(r.Method, path(r), url.Values{}, true)
			}
			if rec.Code != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", r.Method, r.Path, role, rec.Code)
			}
		}
	}
	// A manager without the CSRF token is refused every change.
	before := u.snapshot()
	for _, r := range routes {
		if r.Method == "GET" {
			continue
		}
		if rec := manager.form(r.Method, path(r), url.Values{"csrf_token": {"forged"}}, false); rec.Code != http.StatusForbidden {
			t.Errorf("%s %s without CSRF: %d, want 403", r.Method, r.Path, rec.Code)
		}
	}
	if rec := manager.upload("customers", "c.csv", []byte("external_id\nx\n"), false); rec.Code != http.StatusForbidden {
		t.Errorf("upload without CSRF: %d", rec.Code)
	}
	if after := u.snapshot(); after != before {
		t.Errorf("a refused request changed the stored data")
	}
	// Manager: allowed everywhere (the job page of an API job included).
	for _, r := range routes {
		if r.Method != "GET" {
			continue
		}
		rec := manager.get(path(r))
		if rec.Code == 401 || rec.Code == 403 || rec.Code >= 500 {
			t.Errorf("%s %s as manager: %d", r.Method, r.Path, rec.Code)
		}
	}
	if rec := manager.form("POST", mapPath+"/discard", nil, true); rec.Code != http.StatusSeeOther {
		t.Errorf("discard: %d", rec.Code)
	}
	if rec := manager.get(mapPath); rec.Code != 404 {
		t.Errorf("after discard: %d", rec.Code)
	}
}

// TestImportUIJobPolling runs on the harness's fake importer, whose jobs
// stay queued until cancelled: the page polls while the job runs and stops
// once it is finished. The job is started through the API.
func TestImportUIJobPolling(t *testing.T) {
	a := newApp(t)
	c := impUI_signIn(t, a, a.h, core.RoleManager)
	job := startJob(t, a, csvFile)
	jobPath := "/imports/" + job.ID.String()
	page := c.get(jobPath).Body.String()
	if !strings.Contains(page, `hx-get="`+jobPath+`?part=progress" hx-trigger="every 1s"`) || !strings.Contains(page, "Cancel import") {
		t.Fatalf("running job page: %s", truncate(page))
	}
	if l := c.get("/imports").Body.String(); !strings.Contains(l, `hx-trigger="every 2s"`) || !strings.Contains(l, "<progress") {
		t.Errorf("the list does not poll a running job: %s", truncate(l))
	}
	if rec := c.form("POST", jobPath+"/cancel", nil, false); rec.Code != 403 {
		t.Errorf("cancel without CSRF: %d", rec.Code)
	}
	rec := c.form("POST", jobPath+"/cancel", nil, true)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != jobPath {
		t.Fatalf("cancel: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	frag := c.get(jobPath + "?part=progress").Body.String()
	if strings.Contains(frag, "hx-trigger") || !strings.Contains(frag, "imp-cancelled") || strings.Contains(frag, "<html") {
		t.Errorf("finished fragment: %s", truncate(frag))
	}
	if l := c.get("/imports?part=jobs").Body.String(); strings.Contains(l, "hx-trigger") || strings.Contains(l, "<html") {
		t.Errorf("the list still polls: %s", truncate(l))
	}
	// Cancelling again is harmless.
	if rec := c.form("POST", jobPath+"/cancel", nil, true); rec.Code != http.StatusSeeOther {
		t.Errorf("second cancel: %d", rec.Code)
	}
	if rec := c.get("/imports/999999"); rec.Code != 404 {
		t.Errorf("unknown job: %d", rec.Code)
	}
	if rec := c.get("/imports/abc"); rec.Code != 400 {
		t.Errorf("bad job id: %d", rec.Code)
	}
}

func TestImportUICleansAbandonedUploads(t *testing.T) {
	a := newApp(t)
	dir := filepath.Join(a.dir, "imports", "staged")
	os.MkdirAll(dir, 0o700)
	old, fresh := filepath.Join(dir, "old.upload"), filepath.Join(dir, "fresh.upload")
	os.WriteFile(old, []byte("x"), 0o600)
	os.WriteFile(fresh, []byte("x"), 0o600)
	past := time.Now().Add(-25 * time.Hour)
	os.Chtimes(old, past, past)
	imp, err := coreapp.NewImporter(context.Background(), a.cfg, a.svc, a.db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an abandoned upload was kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh upload was deleted: %v", err)
	}
}

// FuzzImportMappingForm sends arbitrary mapping forms to the preview: every
// answer is a page or a form error, never a server error.
func FuzzImportMappingForm(f *testing.F) {
	u := newImpUI(f)
	c := impUI_signIn(f, u.app, u.h, core.RoleManager)
	mapPath := c.stage("customers", "c.csv", readTestdata(f, "customers_basic.csv"))
	shape := mappingValues(f, c.get(mapPath).Body.String()).Get("shape")
	f.Add("customers", "auto", "auto", "auto", "external_id", "name", "", "", shape, "col.2", "email")
	f.Add("interactions", "yes", ";", "utf-16le", "customer_external_id", "time", "purchase", "2006", shape, "col.99", "x")
	f.Add("customers", "no", "whitespace", "windows-1251", "attributes.x", "attributes.x", "", "unix", "", "col.-1", "")
	f.Add("", "maybe", "\x00", "ebcdic", "consent.email", "tags", "Bad Type!", "\u202E", "x|y", "col.1", "\xff")
	f.Add("customers", "auto", "auto", "auto", "tags", "tags", "", "", shape, "time_zone", "Mars/Olympus")
	f.Fuzz(func(t *testing.T, kind, header, delim, enc, col0, col1, typ, layout, shp, extraKey, extraVal string) {
		v := url.Values{"kind": {kind}, "header": {header}, "delimiter": {delim}, "encoding": {enc},
			"col.0": {col0}, "col.1": {col1}, "type": {typ}, "time_layout": {layout}, "shape": {shp}}
		v.Add(extraKey, extraVal)
		rec := c.form("POST", mapPath+"/preview", v, true)
		if rec.Code >= 500 {
			t.Fatalf("preview %v: %d %s", v, rec.Code, truncate(rec.Body.String()))
		}
		if rec.Code != 200 && rec.Code != 422 && rec.Code != 400 {
			t.Fatalf("preview %v: unexpected %d", v, rec.Code)
		}
	})
}
