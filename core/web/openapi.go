package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v5"
)

// openapiJSON is the OpenAPI 3 document of the API, written by hand next to
// the route table; TestOpenAPIMatchesRoutes keeps the two in step.
//
//go:embed openapi.json
var openapiJSON []byte

// GET /api/v1/openapi.json
func (s *Server) openapi(c *echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", openapiJSON)
}
