package web_test

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestStaticFiles(t *testing.T) {
	a := newApp(t)
	get := func(p string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		a.h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		return rec
	}
	// The sign-in page links fingerprinted names.
	page := get("/signin").Body.String()
	css := regexp.MustCompile(`href="(/static/app\.[0-9a-f]{8}\.css)"`).FindStringSubmatch(page)
	js := regexp.MustCompile(`src="(/static/vendor/htmx/htmx\.min\.[0-9a-f]{8}\.js)"`).FindStringSubmatch(page)
	if css == nil || js == nil {
		t.Fatalf("page does not link fingerprinted assets:\n%s", page)
	}
	for _, p := range []string{css[1], js[1]} {
		rec := get(p)
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d %q", p, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
	if rec := get(css[1]); !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("css content type %q", rec.Header().Get("Content-Type"))
	}
	if rec := get("/static/app.css"); rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("plain name: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	for _, p := range []string{"/static/nope.css", "/static/../go.mod", "/static/%2e%2e/assets.go", "/static/", "/static/app.00000000.css"} {
		if rec := get(p); rec.Code != 404 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

func TestPageSecurityHeaders(t *testing.T) {
	a := newApp(t)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, httptest.NewRequest("GET", "/signin", nil))
	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", h)
	}
	if strings.Contains(rec.Body.String(), "<script>") || strings.Contains(rec.Body.String(), " style=") {
		t.Error("inline script or style in a page (CSP would block it)")
	}
}
