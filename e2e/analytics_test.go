package e2e_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The retention analytics walk (issue 5): the dashboard, the customer
// page's analytics panel, a saved segment built with the live count, and
// the g d shortcut. These steps run after the customer and note steps, so
// the engine has had the whole walk so far to warm up.

// dashReady is true once the dashboard shows numbers: the warming-up
// block (which polls every 2 s) has been replaced.
const dashReady = `document.querySelector("#dashboard") !== null && document.querySelector("#dashboard[aria-busy], #dashboard .warming") === null && document.querySelector("#kpi-h") !== null`

// waitDashboard waits until the dashboard has left its warming-up state.
func (b *tab) waitDashboard() {
	b.t.Helper()
	b.waitJS("the dashboard to finish warming up", dashReady+` || document.querySelector("#dashboard .notice") !== null`)
	if b.exists("#dashboard .notice") {
		b.t.Fatalf("the dashboard is off: %s", b.text("#dashboard .notice"))
	}
}

// dashboard: the admin's home is the dashboard; it warms up, then shows
// the key metrics with their change, the cohort heatmap and the RFM grid
// with their tables; the period picker swaps the block in place; a
// customer at risk opens their page.
func dashboard(t *testing.T, b *tab) {
	b.navigate("/")
	b.waitJS("the dashboard on the admin's home", `document.querySelector("#dashboard") !== null`)
	b.waitDashboard()
	// The nav link leads to the same dashboard on its own page.
	b.click(`header nav a[href="/dashboard"]`)
	b.waitPath("/dashboard")
	b.waitDashboard()
	if got := eval[string](b, `document.querySelector('header nav a[href="/dashboard"]')?.getAttribute("aria-current") ?? ""`); got != "page" {
		t.Errorf("the Dashboard link is not marked as the current page (aria-current=%q)", got)
	}

	// Key metrics, each with a value, a change and the previous value.
	tiles := eval[[]string](b, `[...document.querySelectorAll("#dashboard .kpis .kpi")].map(e => e.innerText.replace(/\s+/g, " ").trim())`)
	if len(tiles) < 4 {
		t.Fatalf("the dashboard shows %d key metrics, want several: %q", len(tiles), tiles)
	}
	for _, want := range []string{"retention", "churn", "repeat"} {
		if !anyContains(tiles, want) {
			t.Errorf("no key metric about %q among %q", want, tiles)
		}
	}
	bad := eval[[]string](b, `[...document.querySelectorAll("#dashboard .kpis .kpi")].filter(e =>
		!e.querySelector(".kpi-value")?.innerText.trim() ||
		!e.querySelector(".kpi-change")?.innerText.trim() ||
		!/was /.test(e.querySelector(".kpi-prev")?.innerText ?? "")).map(e => e.innerText.replace(/\s+/g, " ").trim())`)
	if len(bad) > 0 {
		t.Errorf("key metrics without a value, a change or the previous value: %q", bad)
	}
	if got := b.text("#kpi-h"); !strings.Contains(got, "compared with") {
		t.Errorf("the metrics heading %q does not name the period compared with", got)
	}

	// The charts are server-rendered SVG with their numbers in tables.
	for _, c := range []struct{ svg, table, what string }{
		{"svg#chart-cohorts", `section[aria-labelledby="cohort-h"] details table`, "cohort heatmap"},
		{"svg#chart-rfm", `section[aria-labelledby="rfm-h"] table`, "RFM grid"},
	} {
		if !b.exists(c.svg) {
			t.Errorf("no %s (%s): %s", c.what, c.svg, tail(b.text("#dashboard"), 600))
			continue
		}
		if eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, c.svg+" rect")) == 0 {
			t.Errorf("the %s has no cells", c.what)
		}
		if eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, c.table+" tbody tr")) == 0 {
			t.Errorf("the %s has no data table with rows (%s)", c.what, c.table)
		}
	}
	// The heatmap's table is folded away in <details> and opens.
	b.click(`section[aria-labelledby="cohort-h"] details summary`)
	b.waitJS("the cohort table to open", `document.querySelector('section[aria-labelledby="cohort-h"] details').open`)
	if b.text(`section[aria-labelledby="cohort-h"] details table`) == "" {
		t.Error("the opened cohort table shows nothing")
	}

	// The period picker swaps the dashboard in place and keeps the URL.
	before := b.text("#kpi-h")
	b.do(markPage())
	b.choose("#dash-period", "quarter")
	b.waitJS("the quarter's numbers", `new URLSearchParams(location.search).get("period") === "quarter" && /Q[1-4]/.test(document.querySelector("#kpi-h")?.innerText ?? "")`)
	b.waitDashboard()
	if !eval[bool](b, pageMarked) {
		t.Error("switching the period reloaded the page instead of swapping the dashboard")
	}
	if after := b.text("#kpi-h"); after == before {
		t.Errorf("the metrics heading stayed %q after switching to quarter", after)
	}
	if got := eval[string](b, `document.getElementById("dash-period").value`); got != "quarter" {
		t.Errorf("the period picker shows %q after the swap", got)
	}
	// The picture: the quarter (the demo history ends on 1 November, so
	// the current month alone is nearly empty), tall enough for the
	// metrics, the cohorts and the at-risk list.
	b.viewport(1280, 1700, false)
	b.do(blur())
	b.screenshotSchemes("dashboard")
	b.viewport(1280, 800, false)

	// One click from a valuable customer at risk to their page.
	link := `section[aria-labelledby="risk-h"] tbody a[href^="/customers/"]`
	if !b.exists(link) {
		t.Logf("no valuable customer at risk on the demo data: %s", b.text(`section[aria-labelledby="risk-h"]`))
		return
	}
	href := eval[string](b, fmt.Sprintf(`document.querySelector(%q).getAttribute("href")`, link))
	name := b.text(link)
	b.click(link)
	b.waitPath(href)
	b.waitJS("the customer's name", `document.querySelector("#cust-head h1") !== null`)
	if got := b.text("#cust-head h1"); name != "" && !strings.HasPrefix(name, "Customer ") && got != name {
		t.Errorf("the at-risk link %q opened %q", name, got)
	}
}

// customerAnalyticsPanel: the customer page shows the target's chance of
// still being active, expected purchases, lifetime value and RFM cell, or
// says in words why not.
func customerAnalyticsPanel(t *testing.T, b *tab) {
	b.navigate(fmt.Sprintf("/customers/%s", b.s.target.ID))
	b.waitJS("the analytics panel", `document.querySelector("section.cust-analytics") !== null`)
	panel := b.text("section.cust-analytics")
	if !strings.Contains(panel, "Churn risk and lifetime value") {
		t.Errorf("the panel has no heading: %q", panel)
	}
	if b.exists("section.cust-analytics dl") && strings.Contains(panel, "Still active") {
		for _, w := range []string{"chance", "purchases in the next", "Predicted value", "RFM", "Revenue so far"} {
			if !strings.Contains(panel, w) {
				t.Errorf("the panel lacks %q:\n%s", w, panel)
			}
		}
		if !strings.Contains(panel, "%") {
			t.Errorf("P(alive) is not shown as a percentage:\n%s", panel)
		}
	} else {
		// No predictions: a sentence that says why (not a bare dash).
		msg := b.text("section.cust-analytics > p")
		if len(msg) < 20 || !strings.Contains(msg, " ") {
			t.Errorf("the panel shows no predictions and no reason: %q", panel)
		}
		t.Logf("no predictions for the target: %q", msg)
	}
	if strings.Contains(panel, "NaN") || strings.Contains(panel, "Inf") {
		t.Errorf("the panel shows a broken number:\n%s", panel)
	}
	b.do(blur(), chromedp.Evaluate[chromedp.Void](`document.querySelector("section.cust-analytics").scrollIntoView({block: "center"})`))
	b.screenshot("customer-analytics")
}

// segmentName is the segment the walk creates.
const segmentName = "Repeat buyers (e2e)"

// segmentsFlow builds "at least N purchases in the last 365 days" in the
// editor, watches the live count follow the number without a page load,
// saves, sees the members, and downloads them as CSV.
func segmentsFlow(t *testing.T, b *tab) {
	b.navigate("/segments")
	b.click(`main a[href="/segments/new"]`)
	b.waitPath("/segments/new")
	b.waitJS("the segment editor", `document.querySelector("#seg-form select[name='c0.kind']") !== null`)
	b.do(markPage())
	b.typeInto(`#seg-form input[name="name"]`, segmentName)

	// Choosing the kind of test re-renders the row (an htmx swap).
	b.choose(`select[name="c0.kind"]`, "event")
	b.waitJS("the event condition's fields", `document.querySelector('#seg-builder select[name="c0.type"]') !== null && document.querySelector('#seg-builder input[name="c0.days"]') !== null`)
	b.choose(`select[name="c0.type"]`, "purchase")
	if got := eval[string](b, `document.querySelector('select[name="c0.op"]').value`); got != "gte" {
		t.Fatalf("the event condition's operator starts as %q, want gte (at least)", got)
	}
	b.focusType(`input[name="c0.days"]`, "365")
	b.focusType(`input[name="c0.value"]`, "2")
	count := func() int {
		s := b.text("#seg-count .seg-count-n")
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("live count %q: %v (%s)", s, err, b.text("#seg-count"))
		}
		return n
	}
	b.waitJS("the live count", `document.querySelector("#seg-count .seg-count-n") !== null && document.querySelector('input[name="c0.value"]').value === "2"`)
	// The count shown must be for "2", not a request still in flight for an earlier value.
	b.waitJS("the count to settle", `!document.querySelector("#seg-form.htmx-request, #seg-form [aria-busy=true]")`)
	twice := count()
	if twice == 0 {
		t.Fatalf("nobody bought twice in a year in the demo data: %s", b.text("#seg-count"))
	}
	total := eval[string](b, `(document.querySelector("#seg-count p")?.innerText ?? "")`)
	t.Logf("live count at 2 purchases: %s", total)

	// Raise the bar: the count falls, in place.
	b.do(clearField(`input[name="c0.value"]`))
	b.focusType(`input[name="c0.value"]`, "4")
	b.waitJS("the live count for 4 purchases", fmt.Sprintf(`(() => { const e = document.querySelector("#seg-count .seg-count-n"); return e && e.innerText.trim() !== %q; })()`, strconv.Itoa(twice)))
	four := count()
	if four >= twice {
		t.Errorf("at least 4 purchases counts %d, at least 2 counts %d", four, twice)
	}
	if !eval[bool](b, pageMarked) {
		t.Fatal("the live count came with a page load, not an htmx swap")
	}
	if p := eval[string](b, "location.pathname"); p != "/segments/new" {
		t.Errorf("editing the rule moved the page to %s", p)
	}
	if v := eval[string](b, `document.querySelector('#seg-form input[name="name"]').value`); v != segmentName {
		t.Errorf("the name field holds %q after the live count", v)
	}
	// Back to 2 for the saved segment (more members to page through).
	b.do(clearField(`input[name="c0.value"]`))
	b.focusType(`input[name="c0.value"]`, "2")
	b.waitJS("the live count back at 2", fmt.Sprintf(`document.querySelector("#seg-count .seg-count-n")?.innerText.trim() === %q`, strconv.Itoa(twice)))
	b.do(blur())
	b.screenshot("segment-edit")

	b.click(`#seg-form button[value="save"]`)
	b.waitJS("the saved segment's page", `/^\/segments\/[^/]+$/.test(location.pathname) && location.pathname !== "/segments/new"`)
	segPath := eval[string](b, "location.pathname")
	if got := b.text("main h1"); got != segmentName {
		t.Errorf("the segment page is titled %q", got)
	}
	// Membership may still be computing: the page refreshes itself.
	b.waitJS("the member count", `![...document.querySelectorAll("main .tile")].some(e => /counting/.test(e.innerText))`)
	tile := eval[string](b, `[...document.querySelectorAll("main .tile")].find(e => /Customers/.test(e.innerText))?.querySelector("strong")?.innerText.trim() ?? ""`)
	if tile != strconv.Itoa(twice) {
		t.Errorf("the segment page counts %q members, the editor counted %d", tile, twice)
	}
	rows := eval[int](b, `document.querySelectorAll("#seg-members tbody tr").length`)
	if want := min(twice, 25); rows != want {
		t.Errorf("the member list shows %d rows, want %d (of %d members)", rows, want, twice)
	}
	b.do(blur())
	b.screenshot("segment")

	// The CSV export, fetched with the browser's session.
	type resp struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Body   string `json:"body"`
	}
	r := evalAsync[resp](b, `fetch(document.querySelector('a[href$="/export.csv"]').href).then(async r => ({status: r.status, type: r.headers.get("content-type") ?? "", body: await r.text()}))`)
	if r.Status != 200 || !strings.HasPrefix(r.Type, "text/csv") {
		t.Fatalf("export: status %d, content type %q: %s", r.Status, r.Type, tail(r.Body, 300))
	}
	lines := strings.Split(strings.TrimRight(r.Body, "\r\n"), "\n")
	if len(lines)-1 != twice {
		t.Errorf("the export has %d rows after its header, want %d; header %q", len(lines)-1, twice, lines[0])
	}
	// The segment is listed, with its count.
	b.navigate("/segments")
	row := eval[string](b, fmt.Sprintf(`[...document.querySelectorAll("main tbody tr")].find(r => r.querySelector('a[href=%q]'))?.innerText ?? ""`, segPath))
	if !strings.Contains(row, segmentName) || !strings.Contains(row, strconv.Itoa(twice)) {
		t.Errorf("the segment list row reads %q, want the name and %d", row, twice)
	}
}

// goDashboard: g then d goes to the dashboard.
func goDashboard(t *testing.T, b *tab) {
	b.navigate("/customers")
	b.waitPath("/customers")
	b.do(blur())
	b.key("g")
	b.key("d")
	b.waitPath("/dashboard")
	b.waitJS("the dashboard", `document.querySelector("#dashboard") !== null`)
}

// choose picks an option of a select as a person does: the value
// changes, then a change event (found afresh, like focusType).
func (b *tab) choose(css, value string) {
	b.t.Helper()
	b.waitJS("the select "+css, fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		if (!e || ![...e.options].some(o => o.value === %q)) return false;
		e.value = %q; e.dispatchEvent(new Event("change", {bubbles: true})); return true;
	})()`, css, value, value))
}

// focusType focuses a field found afresh in the page and types into it
// key by key. Unlike typeInto it holds no DOM node id, so a field that
// htmx has just swapped in is found as it is now.
func (b *tab) focusType(css, text string) {
	b.t.Helper()
	b.waitJS("the field "+css, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.focus(); return document.activeElement === e; })()`, css))
	b.key(text)
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(strings.ToLower(s), sub) {
			return true
		}
	}
	return false
}

// overflow names the elements that stick out past the right edge of the
// viewport (what makes a page scroll sideways), for a useful failure.
func (b *tab) overflow() (int, []string) {
	b.t.Helper()
	w := eval[int](b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
	if w <= 1 {
		return w, nil
	}
	who := eval[[]string](b, `(() => {
		const W = document.documentElement.clientWidth, out = [];
		for (const e of document.querySelectorAll("body *")) {
			const r = e.getBoundingClientRect();
			if (r.right <= W + 1 || r.width === 0) continue;
			// Only the outermost culprit: skip children of one already named, and anything inside a scroller.
			let p = e.parentElement, inside = false;
			while (p) { const s = getComputedStyle(p); if (out.some(o => o.el === p) || /auto|scroll|hidden/.test(s.overflowX)) { inside = true; break; } p = p.parentElement; }
			if (inside) continue;
			out.push({el: e, d: e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "") + " right=" + Math.round(r.right)});
		}
		return out.slice(0, 6).map(o => o.d);
	})()`)
	return w, who
}
