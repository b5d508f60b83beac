package web_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
)

// A pack's panel on the customer page: slots only for running packs with a
// panel, loaded by htmx after the page; hostile markup sanitised; a failing
// pack gets a note in its slot, not an error page.
func TestCustomerPanels(t *testing.T) {
	a := newMsgApp(t, false)
	a.host.mu.Lock()
	a.host.st = append(a.host.st,
		core.PluginStatus{Name: "loyal", State: core.PluginRunning, Kinds: []string{"pack"}, PanelTitle: "Points & <b>tiers</b>"},
		core.PluginStatus{Name: "flaky", State: core.PluginRunning, Kinds: []string{"pack"}, PanelTitle: "Flaky"},
		core.PluginStatus{Name: "off", State: core.PluginDisabled, Kinds: []string{"pack"}, PanelTitle: "Gone"})
	a.host.panel = func(plugin string, id core.ID) (string, error) {
		switch plugin {
		case "loyal":
			return `<p class="pts" onclick="steal()">Points: <b>120</b> for ` + id.String() + `</p>` +
				`<script>alert(1)</script><style>body{display:none}</style><iframe src="https://evil.example"></iframe>` +
				`<form action="https://evil.example"><input name="pw"></form>` +
				`<a href="javascript:alert(1)">bad</a> <a href="https://shop.example/rewards">rewards</a>` +
				`<img src="x" onerror="alert(2)">`, nil
		case "flaky":
			return "", core.ErrUnavailable
		}
		return "", core.NotFoundf("no panel")
	}
	a.host.mu.Unlock()
	ann := a.ids["ann"].String()
	viewer := custUI_signIn(t, a.app, core.RoleViewer)

	page := viewer.get(t, "/customers/"+ann, nil).Body.String()
	for _, want := range []string{`hx-get="/customers/` + ann + `/panels/loyal"`, `hx-get="/customers/` + ann + `/panels/flaky"`,
		"Points &amp; &lt;b&gt;tiers&lt;/b&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
	if strings.Contains(page, "/panels/off") {
		t.Error("a disabled pack got a panel slot")
	}

	htmx := map[string]string{"HX-Request": "true"}
	rec := viewer.get(t, "/customers/"+ann+"/panels/loyal", htmx)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "Points: <b>120</b> for "+ann) || !strings.Contains(body, "From the loyal plugin") {
		t.Fatalf("panel: %d %s", rec.Code, body)
	}
	for _, bad := range []string{"<script", "alert(1)", "onclick", "onerror", "<style", "<iframe", "<form", "<input", "javascript:", "<html"} {
		if strings.Contains(body, bad) {
			t.Errorf("the panel kept %q: %s", bad, body)
		}
	}
	if !strings.Contains(body, `href="https://shop.example/rewards"`) || !strings.Contains(body, "noreferrer") {
		t.Errorf("the safe link lost its href or noreferrer: %s", body)
	}

	if rec := viewer.get(t, "/customers/"+ann+"/panels/flaky", htmx); rec.Code != 200 || !strings.Contains(rec.Body.String(), "not available right now") {
		t.Errorf("failing pack: %d %s", rec.Code, rec.Body)
	}
	for _, p := range []string{"off", "nope", "%3Cscript%3E"} {
		if rec := viewer.get(t, "/customers/"+ann+"/panels/"+p, htmx); rec.Code != 404 || strings.Contains(rec.Body.String(), "<script>") {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	// The API gives the same, sanitised, to a token.
	rec = a.do("GET", "/api/v1/customers/"+ann+"/panels/loyal", "reader", nil, nil)
	var got struct {
		HTML       string `json:"html"`
		CustomerID string `json:"customer_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || err != nil || got.CustomerID != ann ||
		!strings.Contains(got.HTML, "<b>120</b>") || strings.Contains(got.HTML, "<script") {
		t.Errorf("API panel: %d %s", rec.Code, rec.Body)
	}
	if rec := a.do("GET", "/api/v1/customers/"+ann+"/panels/flaky", "reader", nil, nil); rec.Code != 503 {
		t.Errorf("API panel of a failing pack: %d %s", rec.Code, rec.Body)
	}
	// A plain link (no JavaScript) gets a page of its own.
	if rec := viewer.get(t, "/customers/"+ann+"/panels/loyal", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Back to the customer") ||
		!strings.Contains(rec.Body.String(), "Points: <b>120</b>") {
		t.Errorf("panel page: %d %s", rec.Code, rec.Body)
	}
}
