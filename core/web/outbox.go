package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// The outbox API: messages to customers are stored before any channel sees
// them (core/outbox). Agents put a message in for one customer; managers
// see every message and retry or cancel them. Pages in ui_outbox.go.

var errNoOutbox = fmt.Errorf("%w: messaging is not running on this server (no outbox)", core.ErrUnavailable)

// messageInput is what a client writes to enqueue a message.
type messageInput struct {
	Channel        string            `json:"channel"`
	CustomerID     core.ID           `json:"customer_id"`
	IdempotencyKey string            `json:"idempotency_key"`
	Subject        string            `json:"subject"`
	Text           string            `json:"text"`
	HTML           string            `json:"html"`
	Headers        map[string]string `json:"headers"`
	Metadata       map[string]string `json:"metadata"`
}

func (in messageInput) message() core.OutboxMessage {
	return core.OutboxMessage{Channel: in.Channel, CustomerID: in.CustomerID, IdempotencyKey: in.IdempotencyKey,
		Subject: in.Subject, Text: in.Text, HTML: in.HTML, Headers: in.Headers, Metadata: in.Metadata}
}

// messageSource is the Source recorded on a message: who put it in.
func messageSource(c *echo.Context) string {
	if u := callerUser(c); u != nil {
		return "user:" + u.Email
	}
	if t := callerToken(c); t != nil {
		return "api:" + t.Name
	}
	return "api"
}

// enqueue stores a message; 201 when new, 200 when the idempotency key
// named a stored one (which is answered as it is).
func (s *Server) enqueue(c *echo.Context, m core.OutboxMessage) error {
	if s.box == nil {
		return errNoOutbox
	}
	out, dup, err := s.box.Enqueue(ctx(c), m, messageSource(c))
	if err != nil {
		return err
	}
	if dup {
		auditDetail(c, "duplicate of message "+out.ID.String())
		return c.JSON(http.StatusOK, out)
	}
	auditDetail(c, fmt.Sprintf("message %s to customer %s on %s", out.ID, out.CustomerID, out.Channel))
	c.Response().Header().Set("Location", APIPrefix+"/outbox/"+out.ID.String())
	return c.JSON(http.StatusCreated, out)
}

// POST /api/v1/outbox
func (s *Server) enqueueMessage(c *echo.Context) error {
	if s.box == nil {
		return errNoOutbox
	}
	var in messageInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	return s.enqueue(c, in.message())
}

// POST /api/v1/customers/:id/messages — the customer is the path's; the
// body is a message without customer_id.
func (s *Server) sendCustomerMessage(c *echo.Context) error {
	if s.box == nil {
		return errNoOutbox
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in messageInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.CustomerID != 0 && in.CustomerID != id {
		return core.FieldErr("customer_id", "must be absent or the customer of the path")
	}
	in.CustomerID = id
	return s.enqueue(c, in.message())
}

// outboxQuery reads the filters shared by the API and the page.
func outboxQuery(c *echo.Context) (core.OutboxQuery, error) {
	q := core.OutboxQuery{State: core.MessageState(c.QueryParam("state")), Channel: strings.ToLower(strings.TrimSpace(c.QueryParam("channel"))),
		Cursor: c.QueryParam("cursor")}
	if v := c.QueryParam("customer_id"); v != "" {
		id, err := core.ParseID(v)
		if err != nil {
			return q, core.FieldErr("customer_id", "%q is not a valid id", v)
		}
		q.CustomerID = id
	}
	n, err := queryInt(c, "limit")
	if err != nil {
		return q, err
	}
	if n < 0 || n > 1000 {
		return q, core.FieldErr("limit", "must be between 1 and 1000")
	}
	q.Limit = n
	if len(q.Cursor) > 200 {
		return q, core.FieldErr("cursor", "not a cursor this server gave")
	}
	return q, nil
}

// GET /api/v1/outbox
func (s *Server) listOutbox(c *echo.Context) error {
	if s.box == nil {
		return errNoOutbox
	}
	q, err := outboxQuery(c)
	if err != nil {
		return err
	}
	page, err := s.box.List(ctx(c), q)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []core.OutboxMessage{}
	}
	return c.JSON(http.StatusOK, page)
}

// GET /api/v1/outbox/:id
func (s *Server) getOutboxMessage(c *echo.Context) error {
	if s.box == nil {
		return errNoOutbox
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	m, err := s.box.Get(ctx(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

// POST /api/v1/outbox/:id/retry
func (s *Server) retryOutboxMessage(c *echo.Context) error {
	return s.changeMessage(c, "retry", func(id core.ID) (core.OutboxMessage, error) {
		return s.box.Retry(ctx(c), id, actor(c))
	})
}

// POST /api/v1/outbox/:id/cancel
func (s *Server) cancelOutboxMessage(c *echo.Context) error {
	return s.changeMessage(c, "cancel", func(id core.ID) (core.OutboxMessage, error) {
		return s.box.Cancel(ctx(c), id, actor(c))
	})
}

func (s *Server) changeMessage(c *echo.Context, what string, fn func(core.ID) (core.OutboxMessage, error)) error {
	if s.box == nil {
		return errNoOutbox
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	m, err := fn(id)
	if err != nil {
		return err
	}
	auditDetail(c, what+" of message to customer "+m.CustomerID.String())
	return c.JSON(http.StatusOK, m)
}
