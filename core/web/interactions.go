package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// interactionFields is what a client may write on an interaction.
type interactionFields struct {
	Type           core.InteractionType `json:"type"`
	Time           time.Time            `json:"time"`
	Channel        core.Channel         `json:"channel"`
	Amount         int64                `json:"amount"`
	Currency       string               `json:"currency"`
	Items          []core.LineItem      `json:"items"`
	Properties     map[string]string    `json:"properties"`
	Text           string               `json:"text"`
	IdempotencyKey string               `json:"idempotency_key"`
}

func (f interactionFields) interaction(customer core.ID) core.Interaction {
	return core.Interaction{CustomerID: customer, Type: f.Type, Time: f.Time, Channel: f.Channel, Amount: f.Amount,
		Currency: f.Currency, Items: f.Items, Properties: f.Properties, Text: f.Text, IdempotencyKey: f.IdempotencyKey}
}

// batchItem is one interaction of a batch: it names its customer by id or
// by external id (exactly one).
type batchItem struct {
	CustomerID         core.ID `json:"customer_id"`
	CustomerExternalID string  `json:"customer_external_id"`
	interactionFields
}

type batchRequest struct {
	Interactions []batchItem `json:"interactions"`
}

// BatchResult is one entry of a batch answer, in input order.
type BatchResult struct {
	Index      int     `json:"index"`
	ID         core.ID `json:"id"`
	CustomerID core.ID `json:"customer_id"`
	Duplicate  bool    `json:"duplicate"` // the idempotency key was known; nothing new stored
}

// POST /customers/:id/interactions: 201 when stored, 200 when the
// idempotency key was already known (the stored interaction's id is
// returned and nothing changes).
func (s *Server) appendInteraction(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in interactionFields
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	// The service wants to know the customer exists, so that an unknown id
	// is a 404 on the path rather than a store error.
	if _, err := s.svc.GetCustomer(ctx(c), id); err != nil {
		return err
	}
	res, err := s.svc.AppendInteractions(ctx(c), []core.Interaction{in.interaction(id)})
	if err != nil {
		return err
	}
	it, err := s.store.GetInteraction(ctx(c), res[0].ID)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res[0].Duplicate {
		status = http.StatusOK
	}
	return c.JSON(status, it)
}

// POST /interactions/batch: up to core.MaxBatch interactions, stored all or
// nothing. Each names its customer by customer_id or customer_external_id;
// an unknown customer fails the batch with the item's position as field.
func (s *Server) appendInteractionsBatch(c *echo.Context) error {
	var req batchRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	n := len(req.Interactions)
	if n == 0 {
		return core.FieldErr("interactions", "at least one interaction is required")
	}
	if n > core.MaxBatch {
		return core.FieldErr("interactions", "at most %d interactions per batch, got %d", core.MaxBatch, n)
	}
	byExt := map[string]core.ID{}
	known := map[core.ID]bool{}
	list := make([]core.Interaction, n)
	for i, it := range req.Interactions {
		field := fmt.Sprintf("interactions[%d]", i)
		id := it.CustomerID
		switch {
		case id != 0 && it.CustomerExternalID != "":
			return core.FieldErr(field, "give customer_id or customer_external_id, not both")
		case id == 0 && it.CustomerExternalID == "":
			return core.FieldErr(field+".customer_id", "customer_id or customer_external_id is required")
		case id == 0:
			cached, ok := byExt[it.CustomerExternalID]
			if !ok {
				cu, err := s.store.GetCustomerByExternalID(ctx(c), it.CustomerExternalID)
				if errors.Is(err, core.ErrNotFound) {
					return &core.FieldError{Kind: core.ErrNotFound, Field: field + ".customer_external_id",
						Message: fmt.Sprintf("no customer with external id %q", it.CustomerExternalID)}
				}
				if err != nil {
					return err
				}
				cached = cu.ID
				byExt[it.CustomerExternalID] = cached
			}
			id = cached
		default:
			if !known[id] {
				if _, err := s.store.GetCustomer(ctx(c), id); errors.Is(err, core.ErrNotFound) {
					return &core.FieldError{Kind: core.ErrNotFound, Field: field + ".customer_id",
						Message: fmt.Sprintf("no customer with id %s", id)}
				} else if err != nil {
					return err
				}
				known[id] = true
			}
		}
		list[i] = it.interaction(id)
	}
	res, err := s.svc.AppendInteractions(ctx(c), list)
	if err != nil {
		if n == 1 {
			// The service names no position for a single item.
			if fe, ok := err.(*core.FieldError); ok {
				f := "interactions[0]"
				if fe.Field != "" {
					f += "." + fe.Field
				}
				return &core.FieldError{Kind: fe.Kind, Field: f, Message: fe.Message}
			}
		}
		return err
	}
	out := make([]BatchResult, len(res))
	stored := 0
	for i, r := range res {
		out[i] = BatchResult{Index: i, ID: r.ID, CustomerID: list[i].CustomerID, Duplicate: r.Duplicate}
		if !r.Duplicate {
			stored++
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"stored": stored, "duplicates": len(res) - stored, "results": out})
}

// GET /customers/:id/timeline?cursor=&limit=&type=purchase&type=note
func (s *Server) timeline(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	q := core.TimelineQuery{Cursor: c.QueryParam("cursor"), Limit: limit}
	for _, t := range c.QueryParams()["type"] {
		if t != "" {
			q.Types = append(q.Types, core.InteractionType(t))
		}
	}
	page, err := s.svc.Timeline(ctx(c), id, q)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []core.Interaction{}
	}
	return c.JSON(http.StatusOK, page)
}
