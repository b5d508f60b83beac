// Package assets embeds everything the binary serves or renders: templates,
// CSS, icons and the vendored htmx. It imports the standard library only.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"
)

//go:embed static templates
var files embed.FS

// Templates is the tree of HTML templates: layout.html and partials/*.html
// are shared by every page; pages/*.html are one page each (core/web
// parses them all at start, so a broken template fails the start).
func Templates() fs.FS {
	sub, err := fs.Sub(files, "templates")
	if err != nil {
		panic(err)
	}
	return sub
}

// Static is the tree served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder
	}
	return sub
}

// Fingerprinted maps each static file ("vendor/htmx/htmx.min.js") to a
// name carrying a hash of its content ("vendor/htmx/htmx.min.3f2a9c1b.js"),
// so the files can be cached for a year and still change with each release.
func Fingerprinted() (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Static(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(p)
		out[p] = strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:4]) + ext
		return nil
	})
	return out, err
}
