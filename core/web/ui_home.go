package web

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// The start page. Managers and admins run retention: their home is the
// retention dashboard. Agents and viewers mostly look customers up: their
// home is the search box and the counts, with a link to the same dashboard
// (read-only; /dashboard needs customers:read like the analytics API).

// homeData is pages/home.html.
type homeData struct {
	Customers    int
	Interactions int
	// Dash is the dashboard (nil on the simple home).
	Dash *dashView
	// Standalone is /dashboard itself (not the home page).
	Standalone bool
}

// dashboardHome reports whether role's home page is the dashboard.
func dashboardHome(r core.Role) bool { return r == core.RoleManager || r == core.RoleAdmin }

// GET /
func (s *Server) home(c *echo.Context) error {
	var d homeData
	var err error
	if d.Customers, err = s.store.CountCustomers(ctx(c)); err != nil {
		return err
	}
	if d.Interactions, err = s.store.CountInteractions(ctx(c)); err != nil {
		return err
	}
	if u := callerUser(c); u != nil && dashboardHome(u.Role) {
		if d.Dash, err = s.dashboard(c, c.QueryParam("period")); err != nil {
			return err
		}
		if isHTMX(c) {
			return s.fragment(c, http.StatusOK, "home", "dashboard", Page{Title: "Home", Nav: "home", Data: d})
		}
	}
	return s.render(c, http.StatusOK, "home", Page{Title: "Home", Nav: "home", Data: d})
}

// GET /dashboard — the dashboard on its own page, for every role that may
// read customers; htmx requests (period picker, warming-up poll) get the
// "dashboard" block only.
func (s *Server) uiDashboard(c *echo.Context) error {
	d := homeData{Standalone: true}
	var err error
	if d.Dash, err = s.dashboard(c, c.QueryParam("period")); err != nil {
		return err
	}
	p := Page{Title: "Retention dashboard", Nav: "dashboard", Data: d}
	if c.QueryParam("refitted") == "1" {
		p.Flash = "The models were refitted."
	}
	if isHTMX(c) {
		return s.fragment(c, http.StatusOK, "home", "dashboard", p)
	}
	return s.render(c, http.StatusOK, "home", p)
}

// POST /dashboard/refit — refit the models now (admin), then back to the
// dashboard's model section.
func (s *Server) uiRefit(c *echo.Context) error {
	if _, err := s.refit(c); err != nil {
		return err
	}
	return seeOther(c, "/dashboard?refitted=1#model")
}
