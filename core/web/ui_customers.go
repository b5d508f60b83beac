package web

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// GET /customers — placeholder until the customer pages land.
func (s *Server) uiCustomers(c *echo.Context) error {
	return s.render(c, http.StatusOK, "customers", Page{Title: "Customers", Nav: "customers"})
}

// GET /customers/:id — placeholder until the customer pages land.
func (s *Server) uiCustomer(c *echo.Context) error {
	return s.render(c, http.StatusOK, "customers", Page{Title: "Customer", Nav: "customers"})
}
