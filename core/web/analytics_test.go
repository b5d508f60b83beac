package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
	"github.com/retain-crm/retain/core/web"
)

// The analytics API and pages on the real harness: a real store, index and
// analytics engine (newApp opens it and catches it up with the index).

// analyticsReady skips number checks while the engine is still the
// contract's stub; the input checks above it run either way.
func analyticsReady(t *testing.T, a *app) {
	t.Helper()
	if !a.an.Status().Ready {
		t.Skip("the analytics engine is not implemented yet (not ready after CatchUp)")
	}
}

func TestAnalyticsAPIInput(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "no token", method: "GET", url: "/api/v1/metrics", status: 401, errCode: "unauthorized"},
		{name: "search-only token", method: "GET", url: "/api/v1/metrics", token: "search", status: 403, errCode: "forbidden"},
		{name: "bad period", method: "GET", url: "/api/v1/metrics?period=fortnight", token: "reader", status: 400, errCode: "invalid", field: "period"},
		{name: "hostile period", method: "GET", url: "/api/v1/metrics?period=%3Cscript%3E%E2%80%AE", token: "reader", status: 400, errCode: "invalid", field: "period",
			hasNot: []string{"<script>", "\u202e"}},
		{name: "bad at", method: "GET", url: "/api/v1/metrics?at=yesterday", token: "reader", status: 400, errCode: "invalid", field: "at"},
		{name: "at out of range", method: "GET", url: "/api/v1/metrics?at=9999-01-01", token: "reader", status: 400, errCode: "invalid", field: "at"},
		{name: "segment not yet", method: "GET", url: "/api/v1/metrics?segment=7", token: "reader", status: 400, errCode: "invalid", field: "segment",
			has: []string{"segments not available"}},
		{name: "cohort format", method: "GET", url: "/api/v1/cohorts?format=xml", token: "reader", status: 400, errCode: "invalid", field: "format"},
		{name: "cohort values", method: "GET", url: "/api/v1/cohorts?format=csv&values=ltv", token: "reader", status: 400, errCode: "invalid", field: "values"},
		{name: "cohort range", method: "GET", url: "/api/v1/cohorts?from=2025-03-01&to=2025-02-01", token: "reader", status: 400, errCode: "invalid", field: "to"},
		{name: "rfm window", method: "GET", url: "/api/v1/rfm?window_days=-1", token: "reader", status: 400, errCode: "invalid", field: "window_days"},
		{name: "rfm window text", method: "GET", url: "/api/v1/rfm?window_days=abc", token: "reader", status: 400, errCode: "invalid", field: "window_days"},
		{name: "rfm scores", method: "GET", url: "/api/v1/rfm?scores=maybe", token: "reader", status: 400, errCode: "invalid", field: "scores"},
		{name: "at-risk limit", method: "GET", url: "/api/v1/analytics/at-risk?limit=5000", token: "reader", status: 400, errCode: "invalid", field: "limit"},
		{name: "dayn days", method: "GET", url: "/api/v1/cohorts/dayn?days=0", token: "reader", status: 400, errCode: "invalid", field: "days"},
		{name: "dayn types", method: "GET", url: "/api/v1/cohorts/dayn?types=%3Cscript%3E", token: "reader", status: 400, errCode: "invalid", field: "types"},
		{name: "predictions unknown customer", method: "GET", url: "/api/v1/customers/999999/predictions", token: "reader", status: 404, errCode: "not_found"},
		{name: "predictions bad id", method: "GET", url: "/api/v1/customers/abc/predictions", token: "reader", status: 400, errCode: "invalid", field: "id"},
		{name: "refit needs admin", method: "POST", url: "/api/v1/analytics/refit", token: "writer", status: 403, errCode: "forbidden", unchanged: true},
		{name: "dashboard bad period", method: "GET", url: "/api/v1/dashboard?period=decade", token: "reader", status: 400, errCode: "invalid", field: "period"},
	})
}

// While the first build runs, every analytics answer is 503 with
// Retry-After and the progress; pages show "warming up" and poll; the
// customer page says so in words; /readyz stays ready.
func TestAnalyticsWarmingUp(t *testing.T) {
	a := newApp(t)
	cold, err := analytics.Open(context.Background(), a.db, analytics.Options{Location: time.UTC, Currency: "EUR",
		Churn: analytics.ChurnInactivity, ChurnDays: 90, PAliveThreshold: 0.3, Unit: retention.Week, HorizonDays: 365,
		AnnualDiscountRate: 0.1, RefitEvery: time.Hour, PollInterval: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if cold.Status().Ready {
		t.Skip("the engine is ready before its first build; nothing to warm up")
	}
	srv, err := web.New(web.Deps{Config: a.cfg, Service: a.svc, Store: a.db, Imports: a.imp, Analytics: cold, Version: "test",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a.h = srv.Handler()
	for _, u := range []string{"/api/v1/metrics", "/api/v1/cohorts", "/api/v1/cohorts/dayn", "/api/v1/rfm", "/api/v1/analytics/model",
		"/api/v1/analytics/at-risk", "/api/v1/dashboard", "/api/v1/customers/" + a.ids["ann"].String() + "/predictions"} {
		rec := a.do("GET", u, "reader", nil, nil)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "warming up") {
			t.Errorf("%s: %d Retry-After %q %s", u, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
		checkErrorShape(t, rec, "unavailable", "")
	}
	if rec := a.do("GET", "/readyz", "", nil, nil); rec.Code != http.StatusOK {
		t.Errorf("/readyz while analytics warms up: %d %s", rec.Code, rec.Body.String())
	}
	admin := anUser(t, a, core.RoleAdmin)
	rec := anGet(a, admin, "/", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "Warming up 0%") || !strings.Contains(body, `hx-trigger="every 2s"`) ||
		!strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("home while warming: %d %.2000s", rec.Code, body)
	}
	rec = anGet(a, admin, "/customers/"+a.ids["ann"].String(), nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "being computed") {
		t.Errorf("customer page while warming: %d", rec.Code)
	}
	rec = a.do("GET", "/api/v1/admin/status", "admin", nil, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"analytics":{"ready":false`) {
		t.Errorf("admin status: %d %s", rec.Code, rec.Body.String())
	}
}

// anSession is a signed-in browser of one role.
type anSession struct{ secret, csrf string }

func anUser(t *testing.T, a *app, role core.Role) anSession {
	t.Helper()
	u, err := a.db.CreateUser(context.Background(), core.User{Email: string(role) + "@an.test", Name: "An " + string(role), Role: role,
		PasswordHash: "x", CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	secret, csrf := a.matrixSession(u)
	return anSession{secret, csrf}
}

func anGet(a *app, s anSession, url string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", url, nil)
	req.AddCookie(&http.Cookie{Name: "retain_session", Value: s.secret})
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

func anPost(a *app, s anSession, url string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", url, strings.NewReader("csrf_token="+s.csrf))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "retain_session", Value: s.secret})
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// Who sees what: managers and admins land on the dashboard; agents and
// viewers keep the search home with a link to the read-only dashboard;
// only admins get the refit button.
func TestAnalyticsPagesPerRole(t *testing.T) {
	a := newApp(t)
	ready := a.an.Status().Ready
	var viewer anSession
	for _, tc := range []struct {
		role         core.Role
		dashboardAt  bool // home is the dashboard
		refitVisible bool
	}{
		{core.RoleViewer, false, false},
		{core.RoleAgent, false, false},
		{core.RoleManager, true, false},
		{core.RoleAdmin, true, true},
	} {
		s := anUser(t, a, tc.role)
		if tc.role == core.RoleViewer {
			viewer = s
		}
		home := anGet(a, s, "/", nil).Body.String()
		if got := strings.Contains(home, `id="dashboard"`); got != tc.dashboardAt {
			t.Errorf("%s: home has the dashboard: %v", tc.role, got)
		}
		if !tc.dashboardAt && !strings.Contains(home, `href="/dashboard"`) {
			t.Errorf("%s: home lacks the link to the dashboard", tc.role)
		}
		if !strings.Contains(home, "dashboard.") { // the stylesheet
			t.Errorf("%s: home lacks dashboard.css", tc.role)
		}
		rec := anGet(a, s, "/dashboard?period=week", nil)
		page := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(page, "Retention dashboard") || !strings.Contains(page, `<option value="week" selected>`) {
			t.Errorf("%s: /dashboard %d %.500s", tc.role, rec.Code, page)
		}
		if ready && strings.Contains(page, "Refit the models now") != tc.refitVisible {
			t.Errorf("%s: refit button visible: %v", tc.role, !tc.refitVisible)
		}
		frag := anGet(a, s, "/dashboard?period=month", map[string]string{"HX-Request": "true"})
		if b := frag.Body.String(); frag.Code != 200 || !strings.HasPrefix(strings.TrimSpace(b), `<div id="dashboard"`) || strings.Contains(b, "<html") {
			t.Errorf("%s: htmx fragment %d %.300s", tc.role, frag.Code, b)
		}
		cust := anGet(a, s, "/customers/"+a.ids["ann"].String(), nil).Body.String()
		if !strings.Contains(cust, "Churn risk and lifetime value") || strings.Contains(cust, "Arrive with analytics") {
			t.Errorf("%s: customer page lacks the analytics panel", tc.role)
		}
	}
	if rec := anGet(a, viewer, "/dashboard?period=decade", nil); rec.Code != 400 || !strings.Contains(rec.Body.String(), "not a period") {
		t.Errorf("bad period page: %d", rec.Code)
	}
}

// With a ready engine: every endpoint answers its documented shape, the
// CSV parses, and refit is audited.
func TestAnalyticsAPINumbers(t *testing.T) {
	a := newApp(t)
	analyticsReady(t, a)
	for _, u := range []string{"/api/v1/metrics?period=month&at=2025-03-15", "/api/v1/metrics?period=week", "/api/v1/cohorts?period=month",
		"/api/v1/cohorts/dayn", "/api/v1/rfm?window_days=365&scores=1", "/api/v1/analytics/model", "/api/v1/analytics/at-risk?limit=5",
		"/api/v1/dashboard?period=month"} {
		rec := a.do("GET", u, "reader", nil, nil)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s", u, rec.Code, truncate(rec.Body.String()))
		}
	}
	m := decode[web.APIMetrics](t, a.do("GET", "/api/v1/metrics?period=month&at=2025-03-15", "reader", nil, nil))
	if m.Period != "month" || m.Current.Start.Month() != time.March || m.Previous.Start.Month() != time.February {
		t.Errorf("metrics: %+v", m)
	}
	co := decode[web.APICohorts](t, a.do("GET", "/api/v1/cohorts?period=month", "reader", nil, nil))
	if co.Customers != 1 || len(co.Cohorts) == 0 || co.Cohorts[0].Size != 1 {
		t.Errorf("cohorts: %+v", co)
	}
	rec := a.do("GET", "/api/v1/cohorts?period=month&format=csv", "reader", nil, nil)
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) < 2 || rows[0][0] != "cohort_start" || rows[1][1] != "1" {
		t.Errorf("cohort CSV: %v %v", err, rows)
	}
	rfm := decode[web.APIRFM](t, a.do("GET", "/api/v1/rfm?scores=1", "reader", nil, nil))
	if len(rfm.Grid) != 25 || len(rfm.Segments) != len(retention.Segments) || rfm.Scored != 1 || len(rfm.Customers) != 1 {
		t.Errorf("rfm: %+v", rfm)
	}
	model := decode[web.APIModel](t, a.do("GET", "/api/v1/analytics/model", "reader", nil, nil))
	if model.Trusted || model.Verdict == "" {
		t.Errorf("two customers cannot make a trusted model: %+v", model)
	}
	p := decode[analytics.Prediction](t, a.do("GET", "/api/v1/customers/"+a.ids["bob"].String()+"/predictions", "reader", nil, nil))
	if p.CustomerID != a.ids["bob"] || p.Available || p.Reason == "" {
		t.Errorf("bob never bought: %+v", p)
	}
	p = decode[analytics.Prediction](t, a.do("GET", "/api/v1/customers/"+a.ids["ann"].String()+"/predictions", "reader", nil, nil))
	if p.CustomerID != a.ids["ann"] || p.Orders != 1 || p.Revenue != 1999 {
		t.Errorf("ann: %+v", p)
	}
	rec = a.do("POST", "/api/v1/analytics/refit", "admin", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("refit: %d %s", rec.Code, rec.Body.String())
	}
	page, err := a.db.ListAudit(context.Background(), core.AuditQuery{Action: "refitModel", Limit: 5})
	if err != nil || len(page.Items) != 1 || !strings.Contains(page.Items[0].Detail, "refitted") {
		t.Errorf("refit audit: %v %+v", err, page)
	}
	admin := anUser(t, a, core.RoleAdmin)
	if rec := anPost(a, admin, "/dashboard/refit"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/dashboard") {
		t.Errorf("refit form: %d %s", rec.Code, rec.Header().Get("Location"))
	}
}

// Hostile customer names and churn reasons reach the dashboard only as
// text.
func TestAnalyticsDashboardHostileData(t *testing.T) {
	a := newApp(t)
	analyticsReady(t, a)
	ctx := context.Background()
	// (invalid UTF-8 is refused at the door: core validates names and properties)
	hostile := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `' hx-get="/admin" hx-trigger="load`, "evil\u202egnp"}
	var ins []core.Interaction
	// Bought weekly until about two months ago: without a trusted model the
	// engine lists such customers as at risk (half to all of churn_days
	// since their last purchase).
	base := time.Now().UTC().AddDate(0, 0, -90)
	for i, h := range hostile {
		c, err := a.svc.CreateCustomer(ctx, core.Customer{Name: h, ExternalID: fmt.Sprintf("h-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 4; k++ {
			ins = append(ins, core.Interaction{CustomerID: c.ID, Type: core.TypePurchase, Time: base.AddDate(0, 0, 7*k+i), Amount: 50000, Currency: "EUR",
				IdempotencyKey: fmt.Sprintf("h-%d-%d", i, k)})
		}
		ins = append(ins, core.Interaction{CustomerID: c.ID, Type: core.TypeSubscriptionCancelled, Time: base.AddDate(0, 0, 40+i),
			Properties: map[string]string{"reason": h}, IdempotencyKey: fmt.Sprintf("h-%d-cancel", i)})
	}
	if _, err := a.svc.AppendInteractions(ctx, ins); err != nil {
		t.Fatal(err)
	}
	a.catchUp()
	admin := anUser(t, a, core.RoleAdmin)
	body := anGet(a, admin, "/dashboard", nil).Body.String()
	for _, bad := range []string{"<script>alert", "<img src=x", `hx-get="/admin"`, "\u202e"} {
		if strings.Contains(body, bad) {
			t.Errorf("dashboard contains %q unescaped", bad)
		}
	}
	// The hostile customers are the valuable ones at risk, and their
	// reasons are the churn reasons: both are on the page, as text.
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "evil[U&#43;202E]gnp", "Why customers left"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if n := strings.Count(body, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 2 {
		t.Errorf("the hostile name should appear in the at-risk list and the reasons: %d times", n)
	}
	// The RFM grid's numbers are also a table (screen readers, no SVG):
	// five rows, recency 5 first, five frequency columns each.
	i := strings.Index(body, "The grid as a table")
	if i < 0 {
		t.Fatal("no RFM table")
	}
	table := body[i:]
	table = table[:strings.Index(table, "</table>")]
	if strings.Count(table, `<th scope="row">R`) != 5 || !strings.Contains(table, `<th scope="row">R5</th>`) ||
		strings.Index(table, "R5</th>") > strings.Index(table, "R1</th>") || strings.Count(table, `<td class="num"`) != 25 {
		t.Errorf("RFM table:\n%s", table)
	}
}
