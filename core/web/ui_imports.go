package web

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// GET /imports — placeholder until the import pages land.
func (s *Server) uiImports(c *echo.Context) error {
	return s.render(c, http.StatusOK, "imports", Page{Title: "Imports", Nav: "imports"})
}
