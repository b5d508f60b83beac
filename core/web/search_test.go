package web_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
)

func TestSearch(t *testing.T) {
	withScript := func(t *testing.T, a *app) {
		_, err := a.svc.AppendInteractions(context.Background(), []core.Interaction{{CustomerID: a.ids["bob"], Type: core.TypeNote,
			Text: `<script>alert("oolong")</script> & more`}})
		if err != nil {
			t.Fatal(err)
		}
		a.catchUp()
	}
	runScenarios(t, []scenario{
		{name: "customer by name", method: "GET", url: "/api/v1/search?q=ann", token: "search", status: 200, has: []string{`"kind":"customer"`, `"id":"{ann}"`, `"title":"Ann Example"`}},
		{name: "interactions highlighted", method: "GET", url: "/api/v1/search?q=oolong&scope=interactions", token: "search", status: 200,
			has: []string{`"kind":"interaction"`, `\u003cmark\u003eoolong\u003c/mark\u003e`}, hasNot: []string{"\ue000", `\ue000`}},
		{name: "stored markup is escaped in fragments", method: "GET", url: "/api/v1/search?q=oolong&customer_id={bob}", token: "search", setup: withScript, status: 200,
			after: func(t *testing.T, a *app, rec *httptest.ResponseRecorder) {
				res := decode[core.SearchResults](t, rec)
				if len(res.Hits) != 1 {
					t.Fatalf("hits %+v", res.Hits)
				}
				var all string
				for _, fr := range res.Hits[0].Fragments {
					all += strings.Join(fr, " ")
				}
				if !strings.Contains(all, "&lt;script&gt;") || strings.Contains(all, "<script") || !strings.Contains(all, "<mark>oolong</mark>") {
					t.Errorf("fragments %q", all)
				}
			}},
		{name: "filter by type", method: "GET", url: "/api/v1/search?q=tea&type=note", token: "search", status: 200, has: []string{`"title":"note"`}, hasNot: []string{`"title":"purchase"`}},
		{name: "filter by tag", method: "GET", url: "/api/v1/search?q=example&tag=vip&scope=customers", token: "search", status: 200, has: []string{"Ann Example"}},
		{name: "date range", method: "GET", url: "/api/v1/search?q=tea&from=2025-03-02&to=2025-03-02", token: "search", status: 200, has: []string{`"title":"note"`}, hasNot: []string{`"title":"purchase"`}},
		{name: "nothing", method: "GET", url: "/api/v1/search?q=zzzzzz", token: "search", status: 200, has: []string{`"total":0`, `"hits":[]`}},
		{name: "bad scope", method: "GET", url: "/api/v1/search?q=a&scope=users", token: "search", status: 400, errCode: "invalid", field: "scope"},
		{name: "limit too big", method: "GET", url: "/api/v1/search?q=a&limit=1000", token: "search", status: 400, errCode: "invalid", field: "limit"},
		{name: "offset garbage", method: "GET", url: "/api/v1/search?q=a&offset=x", token: "search", status: 400, errCode: "invalid", field: "offset"},
		{name: "far future from", method: "GET", url: "/api/v1/search?q=a&from=7000-01-01", token: "search", status: 400, errCode: "invalid", field: "from"},
		{name: "ancient to", method: "GET", url: "/api/v1/search?q=a&to=0001-01-01", token: "search", status: 400, errCode: "invalid", field: "to"},
		{name: "bad from", method: "GET", url: "/api/v1/search?q=a&from=yesterday", token: "search", status: 400, errCode: "invalid", field: "from"},
		{name: "to before from", method: "GET", url: "/api/v1/search?q=a&from=2025-03-02&to=2025-03-01", token: "search", status: 400, errCode: "invalid", field: "to"},
		{name: "bad customer id", method: "GET", url: "/api/v1/search?q=a&customer_id=-1", token: "search", status: 400, errCode: "invalid", field: "customer_id"},
		{name: "query too long", method: "GET", url: "/api/v1/search?q=" + strings.Repeat("a", 600), token: "search", status: 400, errCode: "invalid", field: "q"},
		{name: "query syntax is text", method: "GET", url: "/api/v1/search?q=%2B%2B%22%28%5B*%3A%7E", token: "search", status: 200},
		{name: "invalid utf8 query", method: "GET", url: "/api/v1/search?q=%ff%fe", token: "search", status: 200},
	})
}
