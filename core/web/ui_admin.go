package web

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// GET /admin — placeholder until the admin pages land.
func (s *Server) uiAdmin(c *echo.Context) error {
	return s.render(c, http.StatusOK, "admin", Page{Title: "Admin", Nav: "admin"})
}
