package web

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/retain-crm/retain/assets"
	"github.com/retain-crm/retain/core/config"
)

func TestLoadViewsFailsOnBrokenTemplates(t *testing.T) {
	layout := &fstest.MapFile{Data: []byte(`<html>{{template "content" .}}</html>`)}
	page := &fstest.MapFile{Data: []byte(`{{define "content"}}ok{{end}}`)}
	s := &Server{cfg: config.Default(), views: &views{}}
	funcs := s.uiFuncs()
	for name, fsys := range map[string]fstest.MapFS{
		"no layout":        {"pages/a.html": page},
		"no pages":         {"layout.html": layout},
		"syntax error":     {"layout.html": layout, "pages/a.html": {Data: []byte(`{{define "content"}}{{if}}{{end}}`)}},
		"unknown function": {"layout.html": layout, "pages/a.html": {Data: []byte(`{{define "content"}}{{nosuch .}}{{end}}`)}},
		"broken partial":   {"layout.html": layout, "pages/a.html": page, "partials/p.html": {Data: []byte(`{{define "x"}}`)}},
	} {
		if _, err := loadViews(fsys, nil, funcs); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := loadViews(fstest.MapFS{"layout.html": layout, "pages/a.html": page}, nil, funcs); err != nil {
		t.Errorf("good set: %v", err)
	}
	// The real templates load (New does the same; this names the failure).
	if _, err := loadViews(assets.Templates(), map[string]string{}, funcs); err != nil {
		t.Fatalf("assets/templates: %v", err)
	}
}

func TestSafeText(t *testing.T) {
	for in, want := range map[string]string{
		"Ann":                      "Ann",
		"evil\u202Egnp.exe":        "evil[U+202E]gnp.exe",
		"a\x00b":                   "a[U+0000]b",
		"line\nbreak\ttab":         "line\nbreak\ttab",
		"bad \xff\xfe utf8":        "bad \uFFFD utf8",
		"\u2066isolate\u2069":      "[U+2066]isolate[U+2069]",
		"Łukasz Żółć — ok, Иван ✓": "Łukasz Żółć — ok, Иван ✓",
	} {
		if got := safeText(in); got != want {
			t.Errorf("safeText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "/customers/5?tab=timeline": "/customers/5?tab=timeline",
		"//evil.example": "/", "/\\evil.example": "/", "https://evil.example": "/", "evil": "/",
		"/x\r\nLocation: //evil": "/", "/%2F%2Fevil.example": "/%2F%2Fevil.example",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		10 * time.Second: "just now", 5 * time.Minute: "5 minutes ago", time.Hour: "1 hour ago",
		50 * time.Hour: "2 days ago", 90 * 24 * time.Hour: "3 months ago", 800 * 24 * time.Hour: "2 years ago",
		-3 * time.Hour: "in 3 hours",
	} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
	if ago(now, time.Time{}) != "never" {
		t.Error("zero time")
	}
	if !strings.HasPrefix(truncate("ééééé", 5), "éé") {
		t.Errorf("truncate cut inside a rune: %q", truncate("ééééé", 5))
	}
}
