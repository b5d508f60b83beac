package web_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/web"
)

const csvFile = "external_id,name,email\nc-10,Ten,ten@example.com\nc-11,Eleven,bad\n"

func upload(fields [][2]string, name, content string) func(a *app) (io.Reader, string) {
	return func(a *app) (io.Reader, string) { return multipartBody(fields, name, content) }
}

func startJob(t *testing.T, a *app, content string) core.ImportJob {
	t.Helper()
	body, ct := multipartBody([][2]string{{"kind", "customers"}}, "c.csv", content)
	rec := a.do("POST", "/api/v1/imports", "import", body, map[string]string{"Content-Type": ct})
	if rec.Code != 202 {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
	job := decode[core.ImportJob](t, rec)
	a.ids["job"] = job.ID
	return job
}

func TestImports(t *testing.T) {
	withJob := func(content string) func(t *testing.T, a *app) {
		return func(t *testing.T, a *app) { startJob(t, a, content) }
	}
	runScenarios(t, []scenario{
		{name: "start", method: "POST", url: "/api/v1/imports", token: "import",
			bodyFn: upload([][2]string{{"kind", "customers"}, {"mapping", "[columns]\nemail = \"emails\"\n"}}, `..\..\windows\c.csv`, csvFile), status: 202,
			has: []string{`"state":"queued"`, `"kind":"customers"`, `"file_name":"c.csv"`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if a.imp.body != csvFile || a.imp.last.Mapping != "[columns]\nemail = \"emails\"\n" || a.imp.last.UserID != 42 || a.imp.last.Kind != core.ImportCustomers {
					t.Errorf("importer got %+v %q", a.imp.last, a.imp.body)
				}
				if !strings.HasPrefix(rec.Header().Get("Location"), "/api/v1/imports/") {
					t.Errorf("Location %q", rec.Header().Get("Location"))
				}
			}},
		{name: "file before fields", method: "POST", url: "/api/v1/imports", token: "import", status: 202,
			bodyFn: func(a *app) (io.Reader, string) {
				return strings.NewReader("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"i.csv\"\r\n\r\nx\r\n--B\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ninteractions\r\n--B--\r\n"), "multipart/form-data; boundary=B"
			}, has: []string{`"kind":"interactions"`}},
		{name: "dry run", method: "POST", url: "/api/v1/imports", token: "import",
			bodyFn: upload([][2]string{{"kind", "customers"}, {"dry_run", "true"}}, "c.csv", csvFile), status: 200, has: []string{`"rows":2`}, unchanged: true},
		{name: "missing kind", method: "POST", url: "/api/v1/imports", token: "import", bodyFn: upload(nil, "c.csv", csvFile), status: 400, errCode: "invalid", field: "kind", unchanged: true},
		{name: "bad kind", method: "POST", url: "/api/v1/imports", token: "import", bodyFn: upload([][2]string{{"kind", "users"}}, "c.csv", csvFile), status: 400, errCode: "invalid", field: "kind", unchanged: true},
		{name: "bad dry run", method: "POST", url: "/api/v1/imports", token: "import", bodyFn: upload([][2]string{{"kind", "customers"}, {"dry_run", "maybe"}}, "c.csv", csvFile), status: 400, errCode: "invalid", field: "dry_run", unchanged: true},
		{name: "unknown form field", method: "POST", url: "/api/v1/imports", token: "import", bodyFn: upload([][2]string{{"kind", "customers"}, {"dryrun", "true"}}, "c.csv", csvFile), status: 400, errCode: "invalid", field: "dryrun", unchanged: true},
		{name: "kind twice", method: "POST", url: "/api/v1/imports", token: "import", bodyFn: upload([][2]string{{"kind", "customers"}, {"kind", "interactions"}}, "c.csv", csvFile), status: 400, errCode: "invalid", field: "kind", unchanged: true},
		{name: "no file", method: "POST", url: "/api/v1/imports", token: "import", bodyFn: upload([][2]string{{"kind", "customers"}}, "", ""), status: 400, errCode: "invalid", field: "file", unchanged: true},
		{name: "json instead of multipart", method: "POST", url: "/api/v1/imports", token: "import", body: `{"kind":"customers"}`, status: 415, errCode: "unsupported_media_type", unchanged: true},
		{name: "broken multipart", method: "POST", url: "/api/v1/imports", token: "import", status: 400, errCode: "invalid", unchanged: true,
			bodyFn: func(a *app) (io.Reader, string) {
				return strings.NewReader("--B\r\nnonsense"), "multipart/form-data; boundary=B"
			}},
		{name: "upload too large", method: "POST", url: "/api/v1/imports", token: "import",
			bodyFn: upload([][2]string{{"kind", "customers"}}, "c.csv", strings.Repeat("a,b\n", testMaxUpload/4+1)), status: 413, errCode: "too_large", unchanged: true},
		{name: "upload over JSON limit but under upload limit", method: "POST", url: "/api/v1/imports", token: "import",
			bodyFn: upload([][2]string{{"kind", "customers"}}, "c.csv", strings.Repeat("a,b\n", testMaxBody/4+100)), status: 202},

		{name: "list", method: "GET", url: "/api/v1/imports", token: "import", setup: withJob(csvFile), status: 200, has: []string{`"items":[{"id":"{job}"`}},
		{name: "list bad limit", method: "GET", url: "/api/v1/imports?limit=1000", token: "import", status: 400, errCode: "invalid", field: "limit"},
		{name: "get", method: "GET", url: "/api/v1/imports/{job}", token: "import", setup: withJob(csvFile), status: 200, has: []string{`"id":"{job}"`, `"state":"queued"`}},
		{name: "get unknown", method: "GET", url: "/api/v1/imports/99999", token: "import", status: 404, errCode: "not_found"},
		{name: "cancel", method: "DELETE", url: "/api/v1/imports/{job}", token: "import", setup: withJob(csvFile), status: 200, has: []string{`"state":"cancelled"`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				j, _ := a.db.GetImportJob(context.Background(), a.ids["job"])
				if j.State != core.ImportCancelled {
					t.Errorf("state %s", j.State)
				}
			}},
		{name: "cancel unknown", method: "DELETE", url: "/api/v1/imports/99999", token: "import", status: 404, errCode: "not_found"},
		{name: "rejected csv", method: "GET", url: "/api/v1/imports/{job}/rejected", token: "import", setup: withJob("REJECT,row\n"), status: 200, has: []string{"2,bad row"},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
					t.Errorf("Content-Disposition %q", cd)
				}
			}},
		{name: "rejected none", method: "GET", url: "/api/v1/imports/{job}/rejected", token: "import", setup: withJob(csvFile), status: 404, errCode: "not_found"},
	})

	t.Run("no importer", func(t *testing.T) {
		a := newApp(t)
		srv, err := web.New(web.Deps{Config: config.Default(), Service: a.svc, Store: a.db})
		if err != nil {
			t.Fatal(err)
		}
		a.h = srv.Handler()
		rec := a.do("GET", "/api/v1/imports", "import", nil, nil)
		if rec.Code != 503 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		checkErrorShape(t, rec, "unavailable", "")
	})
}
