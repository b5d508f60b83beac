package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
)

func batchOf(n int, item string) string {
	var b strings.Builder
	b.WriteString(`{"interactions":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ReplaceAll(item, "#", fmt.Sprint(i)))
	}
	b.WriteString(`]}`)
	return b.String()
}

// defaultLimits restores the shipped body limit (32 MiB) for big batches.
func defaultLimits(c *config.Config) { c.Server.MaxBodyBytes = config.Default().Server.MaxBodyBytes }

func countInteractions(t *testing.T, a *app) int {
	t.Helper()
	n, err := a.db.CountInteractions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInteractions(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "append", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer",
			body:   `{"type":"Purchase","time":"2025-04-01T12:00:00+02:00","amount":4500,"currency":"pln","items":[{"sku":"x","quantity":3,"unit_price":1500}],"idempotency_key":"ord-77"}`,
			status: 201, has: []string{`"customer_id":"{bob}"`, `"type":"purchase"`, `"time":"2025-04-01T10:00:00Z"`, `"currency":"PLN"`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				first := decode[core.Interaction](t, rec)
				n := countInteractions(t, a)
				again := a.do("POST", a.expand("/api/v1/customers/{bob}/interactions"), "writer",
					strings.NewReader(`{"type":"purchase","amount":1,"currency":"PLN","idempotency_key":"ord-77"}`), nil)
				if again.Code != 200 || decode[core.Interaction](t, again).ID != first.ID {
					t.Errorf("repeat: %d %s", again.Code, again.Body)
				}
				if countInteractions(t, a) != n {
					t.Error("repeat stored a second interaction")
				}
				bob, _ := a.db.GetCustomer(context.Background(), a.ids["bob"])
				if !bob.LastSeen.Equal(first.Time) {
					t.Errorf("last seen %v", bob.LastSeen)
				}
			}},
		{name: "append note with script", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer",
			body: `{"type":"note","text":"<img src=x onerror=alert(1)>"}`, status: 201, hasNot: []string{"<img"}},
		{name: "append unknown customer", method: "POST", url: "/api/v1/customers/424242/interactions", token: "writer", body: `{"type":"note"}`, status: 404, errCode: "not_found", unchanged: true},
		{name: "append garbage customer", method: "POST", url: "/api/v1/customers/x/interactions", token: "writer", body: `{"type":"note"}`, status: 400, errCode: "invalid", field: "id", unchanged: true},
		{name: "append missing type", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer", body: `{"text":"hi"}`, status: 400, errCode: "invalid", field: "type", unchanged: true},
		{name: "append amount without currency", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer", body: `{"type":"purchase","amount":5}`, status: 400, errCode: "invalid", field: "currency", unchanged: true},
		{name: "append float amount", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer", body: `{"type":"purchase","amount":5.5,"currency":"EUR"}`, status: 400, errCode: "invalid", field: "amount", unchanged: true},
		{name: "append amount as string", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer", body: `{"type":"purchase","amount":"5","currency":"EUR"}`, status: 400, errCode: "invalid", field: "amount", unchanged: true},
		{name: "append bad time", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer", body: `{"type":"note","time":"last tuesday"}`, status: 400, errCode: "invalid", unchanged: true},
		{name: "append customer in body", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer", body: `{"type":"note","customer_id":"{ann}"}`, status: 400, errCode: "invalid", field: "customer_id", unchanged: true},
		{name: "append bad line item", method: "POST", url: "/api/v1/customers/{bob}/interactions", token: "writer", body: `{"type":"purchase","currency":"EUR","items":[{"quantity":"one"}]}`, status: 400, errCode: "invalid", field: "items.quantity", unchanged: true},

		{name: "batch", method: "POST", url: "/api/v1/interactions/batch", token: "writer",
			body:   `{"interactions":[{"customer_external_id":"c-1","type":"opened","idempotency_key":"m-1"},{"customer_id":"{bob}","type":"clicked"},{"customer_external_id":"c-1","type":"purchase","amount":1999,"currency":"EUR","idempotency_key":"order-1"}]}`,
			status: 200, has: []string{`"stored":2`, `"duplicates":1`, `"index":0`, `"customer_id":"{ann}"`, `"id":"{ann-purchase}","customer_id":"{ann}","duplicate":true`}},
		{name: "batch of 10000", method: "POST", url: "/api/v1/interactions/batch", token: "writer", body: batchOf(10000, `{"customer_id":"{bob}","type":"page_view","idempotency_key":"pv-#"}`),
			status: 200, has: []string{`"stored":10000`}, cfg: defaultLimits,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if n := countInteractions(t, a); n != 10003 {
					t.Errorf("%d interactions stored", n)
				}
			}},
		{name: "batch of 10001", method: "POST", url: "/api/v1/interactions/batch", token: "writer", body: batchOf(10001, `{"customer_id":"{bob}","type":"page_view"}`),
			status: 400, errCode: "invalid", field: "interactions", has: []string{"at most 10000"}, unchanged: true, cfg: defaultLimits},
		{name: "batch unknown external id", method: "POST", url: "/api/v1/interactions/batch", token: "writer",
			body:   `{"interactions":[{"customer_external_id":"c-1","type":"note"},{"customer_external_id":"ghost","type":"note"}]}`,
			status: 404, errCode: "not_found", field: "interactions[1].customer_external_id", unchanged: true},
		{name: "batch unknown id", method: "POST", url: "/api/v1/interactions/batch", token: "writer",
			body:   `{"interactions":[{"customer_id":"{bob}","type":"note"},{"customer_id":"424242","type":"note"}]}`,
			status: 404, errCode: "not_found", field: "interactions[1].customer_id", unchanged: true},
		{name: "batch both ids", method: "POST", url: "/api/v1/interactions/batch", token: "writer",
			body: `{"interactions":[{"customer_id":"{bob}","customer_external_id":"c-2","type":"note"}]}`, status: 400, errCode: "invalid", field: "interactions[0]", unchanged: true},
		{name: "batch no customer", method: "POST", url: "/api/v1/interactions/batch", token: "writer",
			body: `{"interactions":[{"type":"note"}]}`, status: 400, errCode: "invalid", field: "interactions[0].customer_id", unchanged: true},
		{name: "batch invalid item", method: "POST", url: "/api/v1/interactions/batch", token: "writer",
			body:   `{"interactions":[{"customer_id":"{bob}","type":"note"},{"customer_id":"{bob}","type":"Not A Type!"}]}`,
			status: 400, errCode: "invalid", field: "interactions[1].type", unchanged: true},
		{name: "batch single invalid item", method: "POST", url: "/api/v1/interactions/batch", token: "writer",
			body: `{"interactions":[{"customer_id":"{bob}","type":""}]}`, status: 400, errCode: "invalid", field: "interactions[0].type", unchanged: true},
		{name: "batch unknown item field", method: "POST", url: "/api/v1/interactions/batch", token: "writer",
			body: `{"interactions":[{"customer_id":"{bob}","type":"note","colour":"red"}]}`, status: 400, errCode: "invalid", field: "colour", unchanged: true},
		{name: "batch empty", method: "POST", url: "/api/v1/interactions/batch", token: "writer", body: `{"interactions":[]}`, status: 400, errCode: "invalid", field: "interactions", unchanged: true},
		{name: "batch not a list", method: "POST", url: "/api/v1/interactions/batch", token: "writer", body: `{"interactions":{}}`, status: 400, errCode: "invalid", field: "interactions", unchanged: true},
		{name: "batch oversized", method: "POST", url: "/api/v1/interactions/batch", token: "writer", body: batchOf(1, `{"customer_id":"{bob}","type":"note","text":"`+strings.Repeat("a", testMaxBody)+`"}`),
			status: 413, errCode: "too_large", unchanged: true},

		{name: "timeline", method: "GET", url: "/api/v1/customers/{ann}/timeline", token: "reader", status: 200, has: []string{`"type":"note"`, `"type":"purchase"`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				p := decode[core.Page[core.Interaction]](t, rec)
				if len(p.Items) != 2 || p.Items[0].Type != core.TypeNote {
					t.Errorf("not newest first: %+v", p.Items)
				}
			}},
		{name: "timeline by type", method: "GET", url: "/api/v1/customers/{ann}/timeline?type=purchase&type=refund", token: "reader", status: 200, has: []string{`"type":"purchase"`}, hasNot: []string{`"type":"note"`}},
		{name: "timeline paged", method: "GET", url: "/api/v1/customers/{ann}/timeline?limit=1", token: "reader", status: 200, has: []string{`"next":"`, `"type":"note"`}, hasNot: []string{`"type":"purchase"`}},
		{name: "timeline garbage cursor", method: "GET", url: "/api/v1/customers/{ann}/timeline?cursor=zzzz", token: "reader", status: 400, errCode: "invalid"},
		{name: "timeline unknown customer", method: "GET", url: "/api/v1/customers/424242/timeline", token: "reader", status: 404, errCode: "not_found"},
		{name: "timeline empty", method: "GET", url: "/api/v1/customers/{bob}/timeline?type=refund", token: "reader", status: 200, has: []string{`"items":[]`}},
	})
}
