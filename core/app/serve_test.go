package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/app"
	"github.com/retain-crm/retain/core/auth"
	"github.com/retain-crm/retain/core/config"
)

// TestServeImportAndSearch wires the real parts in process — store, index,
// importer jobs and the API — uploads a file through the API, follows the
// job to its end, downloads its rejected rows and finds an imported
// customer by search once the indexer has caught up.
func TestServeImportAndSearch(t *testing.T) {
	cfg := config.Default()
	cfg.Storage.DataDir = t.TempDir()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Search.PollInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, cfg, app.NewLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	secret, prefix, hash, _ := auth.NewToken()
	if _, err := a.Store.CreateToken(ctx, core.Token{Name: "t", Prefix: prefix, Hash: hash, Scopes: []core.Scope{core.ScopeAdmin}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ready) }()
	base := "http://" + <-ready
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		a.Close()
	})

	call := func(method, path, ctype string, body io.Reader) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, body)
		req.Header.Set("Authorization", "Bearer "+secret)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	upload := func(dry bool) (int, []byte) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("kind", "customers")
		if dry {
			mw.WriteField("dry_run", "true")
		}
		fw, _ := mw.CreateFormFile("file", "people.csv")
		io.WriteString(fw, "external_id,name,email\nc1,Zofia Wójcik,zofia@example.com\nc2,Иван Петров,not-an-email\nc3,Anna Kowalska,anna@example.com\n")
		mw.Close()
		return call(http.MethodPost, "/api/v1/imports", mw.FormDataContentType(), &buf)
	}

	code, body := upload(true)
	if code != http.StatusOK || !strings.Contains(string(body), "Zofia") || !strings.Contains(string(body), `"rejected":1`) {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if n, _ := a.Store.CountCustomers(ctx); n != 0 {
		t.Fatalf("a dry run stored %d customers", n)
	}

	code, body = upload(false)
	if code != http.StatusAccepted {
		t.Fatalf("import: %d %s", code, body)
	}
	var job core.ImportJob
	json.Unmarshal(body, &job)
	deadline := time.Now().Add(30 * time.Second)
	for !job.State.Finished() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		_, body = call(http.MethodGet, "/api/v1/imports/"+job.ID.String(), "", nil)
		json.Unmarshal(body, &job)
	}
	if job.State != core.ImportDone || job.Stored != 2 || job.Rejected != 1 || len(job.Errors) != 1 || job.Errors[0].Line != 3 {
		t.Fatalf("job: %s", body)
	}
	code, body = call(http.MethodGet, "/api/v1/imports/"+job.ID.String()+"/rejected", "", nil)
	if code != http.StatusOK || !strings.Contains(string(body), "not-an-email") {
		t.Fatalf("rejected rows: %d %s", code, body)
	}

	for time.Now().Before(deadline) {
		_, body = call(http.MethodGet, "/api/v1/search?q=wojc", "", nil)
		if strings.Contains(string(body), "Zofia") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("search never found the imported customer: %s", body)
}
