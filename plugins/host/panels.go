package host

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/retain-crm/retain/core"
)

// MaxPanelBytes bounds a pack's customer panel: it is shown inside a page
// staff open all day.
const MaxPanelBytes = 256 << 10

// panelTimeout bounds a panel call: the page asks for it after loading,
// and a slow pack must not hold a worker for long.
const panelTimeout = 3 * time.Second

// CustomerPanel asks a running pack for its panel about a customer
// (core.Plugins). The HTML is the plugin's: the caller sanitises it.
func (h *Host) CustomerPanel(ctx context.Context, name string, customerID core.ID) (string, error) {
	p, ok := h.procs[name]
	if !ok {
		return "", core.NotFoundf("plugin %q", name)
	}
	p.mu.Lock()
	pack, title, state := p.pack, p.st.PanelTitle, p.st.State
	p.mu.Unlock()
	if pack == nil || title == "" {
		return "", core.NotFoundf("plugin %q has no customer panel", name)
	}
	if state != core.PluginRunning {
		return "", core.NotFoundf("plugin %q is not running", name)
	}
	cctx, cancel := context.WithTimeout(ctx, min(h.opts.CallTimeout, panelTimeout))
	defer cancel()
	html, err := pack.CustomerPanel(cctx, customerID.String())
	if err != nil {
		p.check(err)
		return "", toCore(name, err)
	}
	if len(html) > MaxPanelBytes {
		return "", fmt.Errorf("%w: plugin %s: a panel of %d bytes; at most %d", core.ErrTooLarge, name, len(html), MaxPanelBytes)
	}
	return html, nil
}

// clip cuts s to at most n bytes on a rune boundary, without control
// characters (manifest text shown in pages and logs).
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
