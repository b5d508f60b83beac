package web_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
)

func TestCustomers(t *testing.T) {
	big := `{"name":"` + strings.Repeat("x", testMaxBody) + `"}`
	runScenarios(t, []scenario{
		{name: "create", method: "POST", url: "/api/v1/customers", token: "writer",
			body:   `{"external_id":"c-9","name":"  Zoe   Quinn ","emails":["ZOE@Example.com"],"tags":["VIP","new"],"attributes":{"plan":"gold","age":31}}`,
			status: 201, has: []string{`"name":"Zoe Quinn"`, `"emails":["zoe@example.com"]`, `"tags":["new","vip"]`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				c := decode[core.Customer](t, rec)
				if rec.Header().Get("Location") != "/api/v1/customers/"+c.ID.String() {
					t.Errorf("Location %q", rec.Header().Get("Location"))
				}
				stored, err := a.db.GetCustomerByExternalID(context.Background(), "c-9")
				if err != nil || stored.ID != c.ID || stored.Attributes["age"] != 31.0 {
					t.Errorf("stored %+v %v", stored, err)
				}
			}},
		{name: "create script name is data", method: "POST", url: "/api/v1/customers", token: "writer",
			body: `{"name":"<script>alert(1)</script>"}`, status: 201, hasNot: []string{"<script>"}, has: []string{`\u003cscript\u003e`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q", ct)
				}
				c := decode[core.Customer](t, rec)
				stored, _ := a.db.GetCustomer(context.Background(), c.ID)
				if stored.Name != "<script>alert(1)</script>" {
					t.Errorf("stored name %q", stored.Name)
				}
			}},
		{name: "create duplicate external id", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"external_id":"c-1","name":"Other"}`, status: 409, errCode: "conflict", unchanged: true},
		{name: "create unknown field", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"name":"X","nmae":"Y"}`, status: 400, errCode: "invalid", field: "nmae", has: []string{`unknown field \"nmae\"`}, unchanged: true},
		{name: "create server-kept field", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"id":"{ann}","name":"X"}`, status: 400, errCode: "invalid", field: "id", unchanged: true},
		{name: "create wrong type", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"name":["X"]}`, status: 400, errCode: "invalid", field: "name", unchanged: true},
		{name: "create wrong nested type", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"address":{"city":1}}`, status: 400, errCode: "invalid", field: "address.city", unchanged: true},
		{name: "create nested attribute", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"attributes":{"a":{"b":1}}}`, status: 400, errCode: "invalid", field: "attributes.a", unchanged: true},
		{name: "create bad email", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"emails":["ok@example.com","nope"]}`, status: 400, errCode: "invalid", field: "emails[1]", unchanged: true},
		{name: "create control characters", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"name":"a\u0000b"}`, status: 400, errCode: "invalid", field: "name", unchanged: true},
		{name: "create invalid utf8", method: "POST", url: "/api/v1/customers", token: "writer", body: "{\"name\":\"\xc3\x28\"}", status: 400, errCode: "invalid", has: []string{"UTF-8"}, unchanged: true},
		{name: "create trailing garbage", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"name":"A"} {"name":"B"}`, status: 400, errCode: "invalid", unchanged: true},
		{name: "create malformed", method: "POST", url: "/api/v1/customers", token: "writer", body: `{"name":`, status: 400, errCode: "invalid", unchanged: true},
		{name: "create array", method: "POST", url: "/api/v1/customers", token: "writer", body: `[{"name":"A"}]`, status: 400, errCode: "invalid", unchanged: true},
		{name: "create null", method: "POST", url: "/api/v1/customers", token: "writer", body: `null`, status: 400, errCode: "invalid", unchanged: true},
		{name: "create empty body", method: "POST", url: "/api/v1/customers", token: "writer", status: 400, errCode: "invalid", unchanged: true},
		{name: "create oversized", method: "POST", url: "/api/v1/customers", token: "writer", body: big, status: 413, errCode: "too_large", unchanged: true},
		{name: "create oversized without length", method: "POST", url: "/api/v1/customers", token: "writer", status: 413, errCode: "too_large", unchanged: true,
			bodyFn: func(a *app) (r io.Reader, ct string) {
				return io.MultiReader(strings.NewReader(big)), "application/json"
			}},
		{name: "create form post", method: "POST", url: "/api/v1/customers", token: "writer", body: `name=x`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 415, errCode: "unsupported_media_type", unchanged: true},

		{name: "get", method: "GET", url: "/api/v1/customers/{ann}", token: "reader", status: 200, has: []string{`"id":"{ann}"`, `"external_id":"c-1"`, `"last_seen":"2025-03-02T10:00:00Z"`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if rec.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
				}
			}},
		{name: "get unknown", method: "GET", url: "/api/v1/customers/999999", token: "reader", status: 404, errCode: "not_found"},
		{name: "get garbage id", method: "GET", url: "/api/v1/customers/abc", token: "reader", status: 400, errCode: "invalid", field: "id"},
		{name: "get zero id", method: "GET", url: "/api/v1/customers/0", token: "reader", status: 400, errCode: "invalid", field: "id"},
		{name: "get huge id", method: "GET", url: "/api/v1/customers/99999999999999999999999", token: "reader", status: 400, errCode: "invalid", field: "id"},
		{name: "get by external id", method: "GET", url: "/api/v1/customers/by-external-id/c-2", token: "reader", status: 200, has: []string{`"name":"Bob Builder"`, `"+48600100200"`}},
		{name: "get by unknown external id", method: "GET", url: "/api/v1/customers/by-external-id/nope", token: "reader", status: 404, errCode: "not_found"},

		{name: "list", method: "GET", url: "/api/v1/customers", token: "reader", status: 200, has: []string{`"items":[`, "Ann Example", "Bob Builder"}, hasNot: []string{`"next"`}},
		{name: "list page", method: "GET", url: "/api/v1/customers?limit=1", token: "reader", status: 200, has: []string{"Ann Example", `"next":"`}, hasNot: []string{"Bob"},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				p := decode[core.Page[core.Customer]](t, rec)
				rec2 := a.do("GET", "/api/v1/customers?limit=1&cursor="+url.QueryEscape(p.Next), "reader", nil, nil)
				if rec2.Code != 200 || !strings.Contains(rec2.Body.String(), "Bob Builder") {
					t.Errorf("second page %d %s", rec2.Code, rec2.Body)
				}
			}},
		{name: "list by tag", method: "GET", url: "/api/v1/customers?tag=VIP", token: "reader", status: 200, has: []string{"Ann Example"}, hasNot: []string{"Bob"}},
		{name: "list bad tag", method: "GET", url: "/api/v1/customers?tag=%3Cb%3E", token: "reader", status: 400, errCode: "invalid", field: "tag"},
		{name: "list garbage cursor", method: "GET", url: "/api/v1/customers?cursor=%27%3B--DROP", token: "reader", status: 400, errCode: "invalid"},
		{name: "list garbage limit", method: "GET", url: "/api/v1/customers?limit=ten", token: "reader", status: 400, errCode: "invalid", field: "limit"},
		{name: "list limit too big", method: "GET", url: "/api/v1/customers?limit=5000", token: "reader", status: 400, errCode: "invalid", field: "limit"},
		{name: "list negative limit", method: "GET", url: "/api/v1/customers?limit=-1", token: "reader", status: 400, errCode: "invalid", field: "limit"},

		{name: "upsert creates", method: "PUT", url: "/api/v1/customers/by-external-id/c-77", token: "writer", body: `{"name":"New One","tags":["b"]}`, status: 201,
			has: []string{`"external_id":"c-77"`}},
		{name: "upsert merges", method: "PUT", url: "/api/v1/customers/by-external-id/c-1", token: "writer", body: `{"emails":["ann2@example.com"],"tags":["loyal"]}`, status: 200,
			has: []string{`"id":"{ann}"`, `"name":"Ann Example"`, `"emails":["ann2@example.com","ann@example.com"]`, `"tags":["loyal","vip"]`}},
		{name: "upsert encoded slash in external id", method: "PUT", url: "/api/v1/customers/by-external-id/shop%2F42", token: "writer", body: `{"name":"Slash"}`, status: 201,
			has: []string{`"external_id":"shop/42"`},
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if rec := a.do("GET", "/api/v1/customers/by-external-id/shop%2F42", "reader", nil, nil); rec.Code != 200 {
					t.Errorf("get back: %d %s", rec.Code, rec.Body)
				}
			}},
		{name: "upsert body id mismatch", method: "PUT", url: "/api/v1/customers/by-external-id/c-1", token: "writer", body: `{"external_id":"c-2"}`, status: 400, errCode: "invalid", field: "external_id", unchanged: true},
		{name: "upsert invalid", method: "PUT", url: "/api/v1/customers/by-external-id/c-1", token: "writer", body: `{"phones":["call me"]}`, status: 400, errCode: "invalid", field: "phones[0]", unchanged: true},
		{name: "upsert too long id", method: "PUT", url: "/api/v1/customers/by-external-id/" + strings.Repeat("x", 300), token: "writer", body: `{}`, status: 400, errCode: "invalid", field: "external_id", unchanged: true},

		{name: "patch", method: "PATCH", url: "/api/v1/customers/{ann}", token: "writer", body: `{"name":"Ann B. Example","add_tags":["gold"],"remove_tags":["VIP"],"attributes":{"x":null,"y":2}}`,
			status: 200, has: []string{`"name":"Ann B. Example"`, `"tags":["gold"]`, `"attributes":{"y":2}`}},
		{name: "patch unknown field", method: "PATCH", url: "/api/v1/customers/{ann}", token: "writer", body: `{"nick":"A"}`, status: 400, errCode: "invalid", field: "nick", unchanged: true},
		{name: "patch invalid value", method: "PATCH", url: "/api/v1/customers/{ann}", token: "writer", body: `{"time_zone":"Mars/Base"}`, status: 400, errCode: "invalid", field: "time_zone", unchanged: true},
		{name: "patch external id conflict", method: "PATCH", url: "/api/v1/customers/{ann}", token: "writer", body: `{"external_id":"c-2"}`, status: 409, errCode: "conflict", unchanged: true},
		{name: "patch unknown", method: "PATCH", url: "/api/v1/customers/424242", token: "writer", body: `{"name":"X"}`, status: 404, errCode: "not_found", unchanged: true},

		{name: "erase", method: "DELETE", url: "/api/v1/customers/{ann}", token: "writer", status: 204,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				if rec.Body.Len() != 0 {
					t.Errorf("204 with body %q", rec.Body)
				}
				ctx := context.Background()
				if _, err := a.db.GetCustomer(ctx, a.ids["ann"]); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("customer still there: %v", err)
				}
				if _, err := a.db.GetInteraction(ctx, a.ids["ann-purchase"]); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("interaction still there: %v", err)
				}
				if _, err := a.db.GetCustomer(ctx, a.ids["bob"]); err != nil {
					t.Errorf("bob lost: %v", err)
				}
				a.catchUp()
				if rec := a.do("GET", "/api/v1/search?q=oolong", "search", nil, nil); strings.Contains(rec.Body.String(), "oolong") {
					t.Errorf("erased history still searchable: %s", rec.Body)
				}
			}},
		{name: "erase unknown", method: "DELETE", url: "/api/v1/customers/424242", token: "writer", status: 404, errCode: "not_found", unchanged: true},
	})
}
