package web

import (
	"bytes"
	"encoding/xml"
	"errors"
	"html/template"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
)

// hostileTexts are values an attacker may put in customer data that ends
// up in a chart or on the dashboard.
var hostileTexts = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`' hx-get="/admin" hx-trigger="load`,
	"evil\u202Egnp.exe",
	"bad \xff\xfe bytes",
	"]]><!-- &amp; &#0;",
}

// wellFormed parses svg as XML and returns every text and attribute value.
func wellFormed(t *testing.T, name string, svg template.HTML) []string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	dec.Strict = true
	var texts []string
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v\n%s", name, err, svg)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tk.Name.Local != "svg" {
					t.Errorf("%s: root element %q", name, tk.Name.Local)
				}
			}
			depth++
			for _, a := range tk.Attr {
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") || strings.HasPrefix(strings.ToLower(a.Name.Local), "hx-") ||
					a.Name.Local == "style" || a.Name.Local == "href" {
					t.Errorf("%s: attribute %s=%q", name, a.Name.Local, a.Value)
				}
				texts = append(texts, a.Value)
			}
			switch tk.Name.Local {
			case "script", "foreignObject", "a", "image", "use", "img", "iframe":
				t.Errorf("%s: element <%s>", name, tk.Name.Local)
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			texts = append(texts, string(tk))
		}
	}
	if roots != 1 || depth != 0 {
		t.Errorf("%s: %d root elements, depth %d at the end", name, roots, depth)
	}
	return texts
}

func TestSVGChartsWellFormedWithHostileText(t *testing.T) {
	for _, h := range hostileTexts {
		var grid [5][5]rfmCell
		for r := range grid {
			for f := range grid[r] {
				grid[r][f] = rfmCell{R: r + 1, F: f + 1, Customers: r*5 + f, Revenue: h, Segment: h, Share: float64(r*5+f) / 300}
			}
		}
		charts := map[string]template.HTML{
			"heatmap": heatmapSVG("c1", h, h, []string{"M0", h}, []heatRow{
				{Label: h, Cells: []heatCell{{Value: 1, Text: "100%", Tip: h}, {Value: 0.42, Text: h, Tip: h}}},
				{Label: "2025-02", Cells: []heatCell{{Value: math.NaN(), Text: "—"}}},
				{Label: "empty"},
			}),
			"lines": lineChartSVG("c2", h, h, []string{"M0", "M1", h}, []lineSeries{
				{Name: h, Values: []float64{1, 0.5, math.NaN()}},
				{Name: "b", Values: []float64{1, math.Inf(1), 0.2, 0.1}},
				{Name: "empty"},
			}, 1, percent),
			"lines-empty": lineChartSVG("c3", h, h, nil, nil, 0, percent),
			"bars": barChartSVG("c4", h, h, []string{"0", h}, []barSeries{
				{Name: h, Values: []float64{0.5, 2}}, {Name: "predicted", Values: []float64{math.NaN(), -1}},
			}, func(f float64) string { return h }),
			"bars-empty": barChartSVG("c5", h, h, nil, nil, percent),
			"rfm":        rfmGridSVG("c6", h, h, grid),
		}
		for name, svg := range charts {
			texts := wellFormed(t, name, svg)
			// Hostile text must come back as the same text (escaped in
			// the markup, never interpreted).
			want := safeText(h)
			found := false
			for _, x := range texts {
				if strings.Contains(x, want) {
					found = true
				}
			}
			if !found && name != "lines-empty" && name != "bars-empty" {
				t.Errorf("%s: the text %q does not appear as text", name, h)
			}
			if strings.Contains(string(svg), "<script") || strings.Contains(string(svg), "<img") {
				t.Errorf("%s: unescaped markup from %q", name, h)
			}
			if strings.Contains(string(svg), "NaN") || strings.Contains(string(svg), "Inf") {
				t.Errorf("%s: a NaN or Inf coordinate leaked into the SVG", name)
			}
		}
	}
}

func TestHeatStepAndNum(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want int
	}{{-1, 0}, {0, 0}, {math.NaN(), 0}, {0.05, 0}, {0.1, 1}, {0.55, 5}, {0.99, 9}, {1, 9}, {7, 9}} {
		if got := heatStep(tc.v); got != tc.want {
			t.Errorf("heatStep(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
	if num(math.NaN()) != "0" || num(1.26) != "1.3" || num(-2) != "-2" {
		t.Errorf("num: %s %s %s", num(math.NaN()), num(1.26), num(-2))
	}
}

func TestPercentAndTiles(t *testing.T) {
	for v, want := range map[float64]string{0: "0%", 0.62: "62%", 0.0437: "4.4%", 1: "100%", 0.999: "100%"} {
		if got := percent(v); got != want {
			t.Errorf("percent(%v) = %q, want %q", v, got, want)
		}
	}
	s := tableServer(t)
	up := s.tile("Churn rate", "", "rate", 0.12, 0.10, "", true)
	if up.Arrow != "▲" || up.Tone != "bad" || up.Change != "+2.0 pts" || up.Word != "up" {
		t.Errorf("churn up: %+v", up)
	}
	down := s.tile("Revenue", "", "money", 900, 1000, "EUR", false)
	if down.Arrow != "▼" || down.Tone != "bad" || down.Change != "−10%" || down.Value != "9.00 EUR" {
		t.Errorf("revenue down: %+v", down)
	}
	fresh := s.tile("New customers", "", "count", 5, 0, "", false)
	if fresh.Change != "new" || fresh.Tone != "good" {
		t.Errorf("from zero: %+v", fresh)
	}
	flat := s.tile("Active", "", "count", 0, 0, "", false)
	if flat.Tone != "flat" || flat.Arrow != "＝" {
		t.Errorf("flat: %+v", flat)
	}
}

// A dashboard full of hostile customer data renders escaped: names in the
// at-risk list, churn reasons, segment names; no attribute is created.
func TestDashboardRendersHostileValuesEscaped(t *testing.T) {
	s := tableServer(t)
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, h := range hostileTexts {
		d := &analytics.Dashboard{
			Status: analytics.Status{Ready: true, Progress: 1, Customers: 3, Events: 9},
			Metrics: analytics.MetricsReport{Period: retention.PeriodMonth, Currency: "EUR", Churn: analytics.ChurnInactivity,
				Current:  analytics.Metrics{Start: start, End: start.AddDate(0, 1, 0), CustomersAtStart: 10, CustomersAtEnd: 9, RetentionRate: 0.8, Revenue: 12345},
				Previous: analytics.Metrics{Start: start.AddDate(0, -1, 0), End: start, CustomersAtStart: 8, CustomersAtEnd: 10, RetentionRate: 0.75, Revenue: 10000}},
			Cohorts: &retention.CohortReport{Period: retention.PeriodMonth, Currency: "EUR", Cohorts: []retention.Cohort{
				{Start: start.AddDate(0, -1, 0), Size: 4, Active: []int{4, 2}, Retention: []float64{1, 0.5}},
				{Start: start, Size: 2, Active: []int{2}, Retention: []float64{1}},
			}},
			RFM: &retention.RFMResult{Customers: []retention.RFMCustomer{{CustomerID: 1, R: 5, F: 1, M: 2, Segment: "New"}}, Currency: "EUR"},
			Model: analytics.ModelReport{Trusted: false, Reason: h, Unit: "week", Customers: 3,
				Validation: &retention.Validation{Rows: []retention.ValidationRow{{Label: "0", Customers: 2, Actual: 0.5, Predicted: 0.4}}}},
			AtRisk:   []analytics.AtRisk{{Name: h, Prediction: analytics.Prediction{CustomerID: 77, PAlive: 0.1, CLV: 5000, Currency: "EUR", RFMSegment: h}}},
			Reasons:  []analytics.ChurnReason{{Reason: h, Customers: 2}},
			Computed: start,
		}
		d.RFM.Grid[4][0] = retention.RFMCell{R: 5, F: 1, Customers: 1, Revenue: 100}
		v := &dashView{Periods: dashboardPeriods(), Period: "month"}
		s.fillDashboard(v, d)
		page := Page{Title: "Home", Me: &core.User{ID: 1, Name: "Ann", Role: core.RoleAdmin}, CSRF: "tok", Business: "Shop",
			Data: homeData{Customers: 3, Dash: v}}
		var b bytes.Buffer
		if err := s.views.pages["home"].ExecuteTemplate(&b, "layout.html", page); err != nil {
			t.Fatal(err)
		}
		html := b.String()
		for _, bad := range []string{"<script>alert", "<img src=x", `hx-get="/admin"`, "\u202E", "\xff"} {
			if strings.Contains(html, bad) {
				t.Errorf("hostile %q: page contains %q unescaped", h, bad)
			}
		}
		for _, want := range []string{`href="/customers/77"`, "Why customers left", "id=\"chart-cohorts\"", "id=\"chart-rfm\"",
			"id=\"chart-holdout\"", "Not trusted", "Refit the models now", "▲", "pts"} {
			if !strings.Contains(html, want) {
				t.Errorf("hostile %q: page lacks %q", h, want)
			}
		}
		if strings.Contains(h, "\u202E") && !strings.Contains(html, "[U&#43;202E]") {
			t.Errorf("the bidi override is not made visible")
		}
		if strings.Contains(h, "<script>") && !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("the script name is not shown as text")
		}
	}
}

// FuzzAnalyticsQuery: the query values of the analytics API never panic
// and are either accepted or refused as invalid input.
func FuzzAnalyticsQuery(f *testing.F) {
	for _, s := range []string{"month", "2025-03-01", "2025-03-01T10:00:00Z", "", "quarter", "9999-99-99", "\xff", "0000-01-01"} {
		f.Add(s)
	}
	s := &Server{}
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := parsePeriod(raw, "month"); err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("period %q: %v", raw, err)
		}
		tm, err := s.parseDay("at", raw)
		if err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("day %q: %v", raw, err)
		}
		if err == nil && !tm.IsZero() && (tm.Year() < 1899 || tm.Year() > 2201) {
			t.Fatalf("day %q accepted as %v", raw, tm)
		}
		if err != nil && strings.Contains(err.Error(), "\xff") {
			t.Fatalf("invalid UTF-8 echoed in %q", err.Error())
		}
	})
}
