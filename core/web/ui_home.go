package web

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// homeData is the start page: the size of the book of customers and where
// to go next. Later issues add the retention dashboard here.
type homeData struct {
	Customers    int
	Interactions int
}

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
	return s.render(c, http.StatusOK, "home", Page{Title: "Home", Nav: "home", Data: d})
}
