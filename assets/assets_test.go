package assets

import (
	"io/fs"
	"strings"
	"testing"
)

func TestHtmxVendored(t *testing.T) {
	b, err := fs.ReadFile(Static(), "vendor/htmx/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10000 || !strings.Contains(string(b), "htmx") {
		t.Fatalf("htmx.min.js looks wrong (%d bytes)", len(b))
	}
	v, err := fs.ReadFile(Static(), "vendor/htmx/VERSION.md")
	if err != nil || !strings.Contains(string(v), "4.0.1") {
		t.Fatalf("VERSION.md missing or not 4.x: %v", err)
	}
	m, err := Fingerprinted()
	if err != nil {
		t.Fatal(err)
	}
	if fp := m["vendor/htmx/htmx.min.js"]; !strings.HasPrefix(fp, "vendor/htmx/htmx.min.") || !strings.HasSuffix(fp, ".js") || fp == "vendor/htmx/htmx.min.js" {
		t.Fatalf("fingerprint %q", fp)
	}
}
