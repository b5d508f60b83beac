package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v5"
	"github.com/microcosm-cc/bluemonday"

	"github.com/retain-crm/retain/core"
)

// Customer panels: a pack (loyalty, an industry pack) may show a panel on
// the customer page. The page names the panels of the running packs and
// loads each after it renders (a slow or broken pack never delays or
// breaks the page); the markup is the plugin's, so it is sanitised here:
// no script, style, form, frame or event handler survives, links open
// with noopener, and the page's CSP still applies on top.

// panelPolicy is bluemonday's policy for user-generated content: text
// formatting, lists, tables, links and images.
var panelPolicy = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}()

// custPanel is one pack's panel slot on the customer page.
type custPanel struct {
	Plugin, Title string
	CustomerID    core.ID
}

// panelFrag is a loaded panel: its sanitised markup, or why it is missing.
type panelFrag struct {
	custPanel
	HTML template.HTML
	Err  string
}

// customerPanels lists the panels of the running packs, by plugin name
// (the order Statuses keeps).
func (s *Server) customerPanels(id core.ID) []custPanel {
	if s.plugins == nil {
		return nil
	}
	var out []custPanel
	for _, st := range s.plugins.Statuses() {
		if st.State == core.PluginRunning && st.PanelTitle != "" {
			out = append(out, custPanel{Plugin: st.Name, Title: st.PanelTitle, CustomerID: id})
		}
	}
	return out
}

// uiCustomerPanel answers GET /customers/:id/panels/:plugin: the panel as
// a fragment for htmx, or as a page of its own for a plain link. A pack
// that fails gets a note in its slot, not an error page.
func (s *Server) uiCustomerPanel(c *echo.Context) error {
	cu, slot, err := s.pathPanel(c)
	if err != nil {
		return err
	}
	name := slot.Plugin
	d := panelFrag{custPanel: slot}
	html, err := s.panelHTML(c, cu.ID, name)
	switch {
	case err == nil:
		d.HTML = template.HTML(html) //nolint:gosec // sanitised by panelHTML
	case errors.Is(err, core.ErrTooLarge):
		d.Err = "The panel is too large to show."
	default:
		d.Err = "The panel is not available right now."
	}
	if wantsFragment(c) {
		return s.fragment(c, http.StatusOK, "customer_panel", "panel-frag", Page{Data: d})
	}
	return s.render(c, http.StatusOK, "customer_panel", Page{Title: safeText(slot.Title) + " · " + safeText(cu.DisplayName()),
		Nav: "customers", Data: d})
}

// pathPanel reads :id and :plugin: the customer and a running pack's panel.
func (s *Server) pathPanel(c *echo.Context) (core.Customer, custPanel, error) {
	cu, err := s.pathCustomer(c)
	if err != nil {
		return cu, custPanel{}, err
	}
	name := c.Param("plugin")
	for _, p := range s.customerPanels(cu.ID) {
		if p.Plugin == name {
			return cu, p, nil
		}
	}
	return cu, custPanel{}, core.NotFoundf("no running plugin %q with a customer panel", safeText(truncate(name, 64)))
}

// panelHTML asks the pack for its panel and sanitises it.
func (s *Server) panelHTML(c *echo.Context, id core.ID, plugin string) (string, error) {
	html, err := s.plugins.CustomerPanel(ctx(c), plugin, id)
	if err != nil {
		s.log.Warn("customer panel failed", "plugin", plugin, "err", err)
		return "", err
	}
	return panelPolicy.Sanitize(html), nil
}

// GET /api/v1/customers/:id/panels/:plugin — the same panel for API
// clients: its title and sanitised HTML; a failing pack is 503.
func (s *Server) apiCustomerPanel(c *echo.Context) error {
	cu, slot, err := s.pathPanel(c)
	if err != nil {
		return err
	}
	html, err := s.panelHTML(c, cu.ID, slot.Plugin)
	if err != nil {
		if errors.Is(err, core.ErrTooLarge) || errors.Is(err, core.ErrUnavailable) {
			return err
		}
		return fmt.Errorf("%w: the %s panel is not available", core.ErrUnavailable, slot.Plugin)
	}
	return c.JSON(http.StatusOK, map[string]any{"plugin": slot.Plugin, "title": slot.Title, "customer_id": cu.ID, "html": html})
}
