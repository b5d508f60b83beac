package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// customerInput is what a client may write on a customer. Server-kept
// fields (id, created_at, first_seen, ...) are not in it, so sending them
// is an "unknown field" error rather than silently ignored.
type customerInput struct {
	ExternalID string                        `json:"external_id"`
	Name       string                        `json:"name"`
	Emails     []string                      `json:"emails"`
	Phones     []string                      `json:"phones"`
	Address    core.Address                  `json:"address"`
	Locale     string                        `json:"locale"`
	TimeZone   string                        `json:"time_zone"`
	Attributes map[string]any                `json:"attributes"`
	Tags       []string                      `json:"tags"`
	Consent    map[core.Channel]core.Consent `json:"consent"`
}

func (in customerInput) customer() core.Customer {
	return core.Customer{ExternalID: in.ExternalID, Name: in.Name, Emails: in.Emails, Phones: in.Phones,
		Address: in.Address, Locale: in.Locale, TimeZone: in.TimeZone, Attributes: in.Attributes,
		Tags: in.Tags, Consent: in.Consent}
}

// pathID reads an id path parameter; garbage is a 400 naming the parameter.
func pathID(c *echo.Context, name string) (core.ID, error) {
	id, err := core.ParseID(c.Param(name))
	if err != nil {
		return 0, core.FieldErr(name, "%q is not a valid id", c.Param(name))
	}
	return id, nil
}

// queryInt reads an optional integer query parameter.
func queryInt(c *echo.Context, name string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, core.FieldErr(name, "%q is not a whole number", v)
	}
	return n, nil
}

// POST /customers
func (s *Server) createCustomer(c *echo.Context) error {
	var in customerInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	cu, err := s.svc.CreateCustomer(ctx(c), in.customer())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", APIPrefix+"/customers/"+cu.ID.String())
	return c.JSON(http.StatusCreated, cu)
}

// PUT /customers/by-external-id/:external_id: create or merge by external
// id. The path wins; a body external_id, if given, must match it.
func (s *Server) upsertCustomer(c *echo.Context) error {
	ext := c.Param("external_id")
	if strings.TrimSpace(ext) == "" {
		return core.FieldErr("external_id", "required")
	}
	var in customerInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.ExternalID != "" && in.ExternalID != ext {
		return core.FieldErr("external_id", "does not match the external id in the path")
	}
	in.ExternalID = ext
	out, created, err := s.svc.UpsertCustomers(ctx(c), []core.Customer{in.customer()}, "api")
	if err != nil {
		return unprefix(err, "customers[0].")
	}
	status := http.StatusOK
	if created[0] {
		status = http.StatusCreated
		c.Response().Header().Set("Location", APIPrefix+"/customers/"+out[0].ID.String())
	}
	return c.JSON(status, out[0])
}

// unprefix drops a batch position from a FieldError for single-item calls.
func unprefix(err error, prefix string) error {
	if fe, ok := err.(*core.FieldError); ok && strings.HasPrefix(fe.Field, prefix) {
		return &core.FieldError{Kind: fe.Kind, Field: strings.TrimPrefix(fe.Field, prefix), Message: fe.Message}
	}
	if fe, ok := err.(*core.FieldError); ok && fe.Field == strings.TrimSuffix(prefix, ".") {
		return &core.FieldError{Kind: fe.Kind, Message: fe.Message}
	}
	return err
}

// pathCustomer is the customer named by the route's :id (400 for a
// malformed id, 404 for an unknown one): pages and API alike.
func (s *Server) pathCustomer(c *echo.Context) (core.Customer, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return core.Customer{}, err
	}
	return s.svc.GetCustomer(ctx(c), id)
}

// GET /customers/:id
func (s *Server) getCustomer(c *echo.Context) error {
	cu, err := s.pathCustomer(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cu)
}

// GET /customers/by-external-id/:external_id
func (s *Server) getCustomerByExternalID(c *echo.Context) error {
	cu, err := s.store.GetCustomerByExternalID(ctx(c), c.Param("external_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cu)
}

// PATCH /customers/:id
func (s *Server) patchCustomer(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var p core.CustomerPatch
	if err := bindJSON(c, &p); err != nil {
		return err
	}
	cu, err := s.svc.UpdateCustomer(ctx(c), id, p, "api")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cu)
}

// GET /customers?cursor=&limit=&tag=
func (s *Server) listCustomers(c *echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	page, err := s.svc.ListCustomers(ctx(c), core.CustomerQuery{Tag: c.QueryParam("tag"), Cursor: c.QueryParam("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []core.Customer{}
	}
	return c.JSON(http.StatusOK, page)
}

// DELETE /customers/:id erases the customer and their whole history.
func (s *Server) eraseCustomer(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.svc.EraseCustomer(ctx(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
