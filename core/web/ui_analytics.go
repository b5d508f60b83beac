package web

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
)

// What the retention dashboard (pages/home.html, block "dashboard") and
// the customer page's analytics panel (partials/customer_analytics.html)
// show: the engine's numbers turned into words, formatted figures and SVG
// charts here, so the templates only lay them out.

// dashView is the dashboard block.
type dashView struct {
	Periods []string
	Period  string
	// Exactly one of the states: Off (no engine, or it failed: Message
	// says why), Warming (first build: Progress), or the numbers.
	Off      bool
	Message  string
	Warming  bool
	Progress int // percent
	Status   analytics.Status

	Range string // "March 2025" or "2025-03-01 – 2025-03-31"
	// InProgress: the current period has not ended; the cohorts' last
	// column is that period (drawn as partial, left out of the curves).
	InProgress bool
	Previous   string
	Currency   string
	Churn      string // the churn definition in words
	Tiles      []metricTile

	CohortCols  []string
	CohortRows  []cohortRow
	Heatmap     template.HTML
	Curves      template.HTML
	CohortLinks []dlLink
	CohortNote  string

	RFMGrid     template.HTML
	RFMCells    [5][5]rfmCell // the grid's numbers as a table, recency 5 first
	RFMSegments []rfmSegmentRow
	RFMScored   int

	AtRisk  []atRiskRow
	Reasons []analytics.ChurnReason

	Model      APIModel
	ModelChart template.HTML
	ModelRows  []modelRow

	Computed time.Time
}

// metricTile is one key figure with its change against the previous period.
type metricTile struct {
	Label, Value, Previous, Help string
	Change                       string // "+2.1 pts", "−12%", "" when not comparable
	Arrow                        string // ▲ ▼ or ＝
	Word                         string // "up", "down", "unchanged" (for screen readers and colour-blind users)
	Tone                         string // good, bad or flat
}

type cohortRow struct {
	Label string
	Size  int
	Cells []string // retention by age, "" where not observed yet
}

type dlLink struct{ Label, Href string }

type rfmSegmentRow struct {
	APIRFMSegment
	RevenueText string
}

type atRiskRow struct {
	ID           core.ID
	Name         string
	CLV          string
	PAlive       string
	Revenue      string
	Orders       int
	Segment      string
	LastPurchase time.Time
}

type modelRow struct {
	Label, Actual, Predicted, Diff string
	Customers                      int
}

// money formats float minor units (averages) in the business currency.
func (s *Server) moneyF(v float64, currency string) string {
	if currency == "" {
		currency = s.cfg.Business.Currency
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return core.FormatAmount(int64(math.Round(v)), currency) + " " + currency
}

// periodLabel names the period starting at t ("2025-03", "2025 Q1", "2025-W10").
func periodLabel(t time.Time, period string) string {
	switch period {
	case "month":
		return t.Format("2006-01")
	case "quarter":
		return fmt.Sprintf("%d Q%d", t.Year(), (int(t.Month())-1)/3+1)
	case "year":
		return t.Format("2006")
	case "week":
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	}
	return t.Format("2006-01-02")
}

// rangeLabel names a period for people: "March 2025", "week 10 of 2025 (3 – 9 Mar)".
func rangeLabel(start, end time.Time, period string) string {
	if start.IsZero() {
		return "—"
	}
	last := end.Add(-time.Nanosecond)
	switch period {
	case "month":
		return start.Format("January 2006")
	case "quarter", "year":
		return periodLabel(start, period)
	case "week":
		y, w := start.ISOWeek()
		return fmt.Sprintf("week %d of %d (%s – %s)", w, y, start.Format("2 Jan"), last.Format("2 Jan"))
	}
	return start.Format("2 January 2006")
}

// churnWords says the churn definition in a sentence.
func (s *Server) churnWords(def string) string {
	a := s.cfg.Analytics
	switch def {
	case analytics.ChurnCancellation:
		return "a customer is lost when they cancel their subscription"
	case analytics.ChurnPAlive:
		return fmt.Sprintf("a customer is lost when the model's P(alive) falls below %s", percent(a.PAliveThreshold))
	}
	return fmt.Sprintf("a customer is lost after %d days without a purchase", a.ChurnDays)
}

// tile builds a key figure. kind: "rate" (change in points), "count",
// "money" or "number" (relative change); lowerIsBetter flips the tone.
func (s *Server) tile(label, help, kind string, cur, prev float64, currency string, lowerIsBetter bool) metricTile {
	f := func(v float64) string {
		switch kind {
		case "rate":
			return percent(v)
		case "money":
			return s.moneyF(v, currency)
		case "count":
			return strconv.FormatInt(int64(math.Round(v)), 10)
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	t := metricTile{Label: label, Help: help, Value: f(cur), Previous: f(prev), Arrow: "＝", Word: "unchanged", Tone: "flat"}
	var delta float64
	switch {
	case kind == "rate":
		delta = cur - prev
		t.Change = fmt.Sprintf("%+.1f pts", delta*100)
	case prev == 0 && cur == 0:
		t.Change = "±0%"
	case prev == 0:
		t.Change, t.Arrow, t.Word = "new", "▲", "up from none"
		delta = cur
	default:
		delta = (cur - prev) / math.Abs(prev)
		t.Change = fmt.Sprintf("%+.0f%%", delta*100)
	}
	if math.Abs(delta) < 0.0005 {
		return t
	}
	if delta > 0 {
		t.Arrow = "▲"
		if t.Word == "unchanged" {
			t.Word = "up"
		}
	} else {
		t.Arrow, t.Word = "▼", "down"
	}
	t.Change = minusSign(t.Change)
	good := (delta > 0) != lowerIsBetter
	t.Tone = "bad"
	if good {
		t.Tone = "good"
	}
	return t
}

// minusSign uses the typographic minus, which reads better in figures.
func minusSign(s string) string {
	if len(s) > 0 && s[0] == '-' {
		return "−" + s[1:]
	}
	return s
}

// dashboard computes the dashboard block for period (a name the picker offers).
func (s *Server) dashboard(c *echo.Context, period string) (*dashView, error) {
	if period == "" {
		period = "month"
	}
	p, err := parsePeriod(period, "month")
	if err != nil {
		return nil, err
	}
	v := &dashView{Periods: dashboardPeriods(), Period: period, Currency: s.cfg.Business.Currency}
	if s.an == nil {
		v.Off, v.Message = true, "Retention analytics is not running on this server."
		return v, nil
	}
	st := s.an.Status()
	v.Status = st
	if !st.Ready {
		v.Warming, v.Progress = true, int(math.Round(math.Max(0, math.Min(1, st.Progress))*100))
		return v, nil
	}
	d, err := s.an.Dashboard(ctx(c), p)
	if errors.Is(err, core.ErrUnavailable) {
		v.Off, v.Message = true, "The retention numbers are not available yet ("+err.Error()+")."
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	s.fillDashboard(v, d)
	return v, nil
}

func (s *Server) fillDashboard(v *dashView, d *analytics.Dashboard) {
	loc := s.cfg.Location()
	m := d.Metrics
	if m.Currency != "" {
		v.Currency = m.Currency
	}
	name := m.Period.String()
	v.Range = rangeLabel(m.Current.Start.In(loc), m.Current.End.In(loc), name)
	v.Previous = rangeLabel(m.Previous.Start.In(loc), m.Previous.End.In(loc), name)
	v.Churn = s.churnWords(m.Churn)
	v.Computed = d.Computed
	cur, prev := m.Current, m.Previous
	v.Tiles = []metricTile{
		s.tile("Retention rate", "customers active at the start who are still active: (E − N) / S", "rate", cur.RetentionRate, prev.RetentionRate, "", false),
		s.tile("Churn rate", "customers lost in the period / customers at its start", "rate", cur.ChurnRate, prev.ChurnRate, "", true),
		s.tile("Active customers", "customers at the end of the period (E)", "count", float64(cur.CustomersAtEnd), float64(prev.CustomersAtEnd), "", false),
		s.tile("New customers", "first purchase ever in the period (N)", "count", float64(cur.NewCustomers), float64(prev.NewCustomers), "", false),
		s.tile("Lost customers", "churned in the period under the churn definition", "count", float64(cur.Lost), float64(prev.Lost), "", true),
		s.tile("Repeat purchase rate", "active customers with two or more purchases", "rate", cur.RepeatPurchaseRate, prev.RepeatPurchaseRate, "", false),
		s.tile("Revenue", "purchases minus refunds", "money", float64(cur.Revenue), float64(prev.Revenue), v.Currency, false),
		s.tile("Average order value", "sales / orders", "money", cur.AverageOrderValue, prev.AverageOrderValue, v.Currency, false),
		s.tile("Revenue per customer", "revenue / active customers", "money", cur.RevenuePerCustomer, prev.RevenuePerCustomer, v.Currency, false),
		s.tile("Purchase frequency", "orders per active customer", "number", cur.PurchaseFrequency, prev.PurchaseFrequency, "", false),
		s.tile("Net revenue retention", "revenue now from last period's customers / their revenue then", "rate", cur.NetRevenueRetention, prev.NetRevenueRetention, "", false),
		s.tile("Average lifetime", "days from first to last purchase of customers lost so far", "number", cur.AverageLifetime, prev.AverageLifetime, "", false),
	}
	if cur.RenewalRate > 0 || prev.RenewalRate > 0 {
		v.Tiles = append(v.Tiles, s.tile("Renewal rate", "subscription renewals / renewals due", "rate", cur.RenewalRate, prev.RenewalRate, "", false))
	}
	for i := range v.Tiles {
		if v.Tiles[i].Label == "Average lifetime" {
			v.Tiles[i].Value = strconv.FormatFloat(math.Round(cur.AverageLifetime), 'f', 0, 64) + " days"
			v.Tiles[i].Previous = strconv.FormatFloat(math.Round(prev.AverageLifetime), 'f', 0, 64) + " days"
		}
	}
	// The current period is usually still running: say so, so a low
	// figure is not read as a drop.
	if now := d.Computed; !now.IsZero() && cur.End.After(now) && now.After(cur.Start) {
		total := cur.End.Sub(cur.Start).Hours() / 24
		done := math.Ceil(now.Sub(cur.Start).Hours() / 24)
		v.Range += fmt.Sprintf(" so far (day %.0f of %.0f)", done, math.Round(total))
		v.InProgress = true
	}
	s.fillCohorts(v, d.Cohorts)
	s.fillRFM(v, d.RFM)
	for _, a := range d.AtRisk {
		v.AtRisk = append(v.AtRisk, atRiskRow{ID: a.CustomerID, Name: a.Name, CLV: s.moneyF(a.CLV, a.Currency),
			PAlive: percent(a.PAlive), Revenue: s.moneyF(float64(a.Revenue), a.Currency), Orders: a.Orders,
			Segment: a.RFMSegment, LastPurchase: a.LastPurchase})
	}
	v.Reasons = d.Reasons
	v.Model = NewAPIModel(d.Model)
	if val := v.Model.Validation; val != nil && len(val.Rows) > 0 {
		var cats []string
		act := barSeries{Name: "actual"}
		pred := barSeries{Name: "predicted"}
		for _, r := range val.Rows {
			cats = append(cats, r.Label)
			act.Values = append(act.Values, r.Actual)
			pred.Values = append(pred.Values, r.Predicted)
			v.ModelRows = append(v.ModelRows, modelRow{Label: r.Label, Customers: r.Customers,
				Actual: strconv.FormatFloat(r.Actual, 'f', 2, 64), Predicted: strconv.FormatFloat(r.Predicted, 'f', 2, 64),
				Diff: minusSign(strconv.FormatFloat(r.Predicted-r.Actual, 'f', 2, 64))})
		}
		v.ModelChart = barChartSVG("chart-holdout", "Holdout check: purchases per customer, actual and predicted",
			"For customers grouped by how many repeat purchases they made in the calibration window, the mean number of purchases in the holdout window: what they did and what the model predicted.",
			cats, []barSeries{act, pred}, func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) })
	}
}

// maxHeatCohorts and maxHeatAges bound the drawn triangle; the table in
// <details> and the downloads hold everything.
const maxHeatCohorts, maxHeatAges, maxCurves = 12, 13, 6

func (s *Server) fillCohorts(v *dashView, r *retention.CohortReport) {
	if r == nil || len(r.Cohorts) == 0 {
		v.CohortNote = "No purchases yet: cohorts appear once customers have bought."
		return
	}
	loc := s.cfg.Location()
	name := r.Period.String()
	short := map[string]string{"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}[name]
	if short == "" {
		short = "P"
	}
	width := 0
	for _, co := range r.Cohorts {
		width = max(width, len(co.Retention))
	}
	for k := 0; k < width; k++ {
		v.CohortCols = append(v.CohortCols, short+strconv.Itoa(k))
	}
	for _, co := range r.Cohorts {
		row := cohortRow{Label: periodLabel(co.Start.In(loc), name), Size: co.Size}
		for _, x := range co.Retention {
			row.Cells = append(row.Cells, percent(x))
		}
		v.CohortRows = append(v.CohortRows, row)
	}
	from := max(0, len(r.Cohorts)-maxHeatCohorts)
	cols := v.CohortCols[:min(len(v.CohortCols), maxHeatAges)]
	var rows []heatRow
	for _, co := range r.Cohorts[from:] {
		label := periodLabel(co.Start.In(loc), name)
		hr := heatRow{Label: label}
		for k, x := range co.Retention {
			if k >= len(cols) {
				break
			}
			active := 0
			if k < len(co.Active) {
				active = co.Active[k]
			}
			cell := heatCell{Value: x, Text: percent(x),
				Tip: fmt.Sprintf("%s cohort (%d customers), %s %d: %s active (%d)", label, co.Size, name, k, percent(x), active)}
			if v.InProgress && k == len(co.Retention)-1 {
				cell.Partial = true
				cell.Text += "…"
				cell.Tip += " so far: this " + name + " is still in progress"
			}
			hr.Cells = append(hr.Cells, cell)
		}
		rows = append(rows, hr)
	}
	v.Heatmap = heatmapSVG("chart-cohorts", "Cohort retention by "+name,
		fmt.Sprintf("Share of each acquisition cohort (customers by the %s of their first purchase) who purchased again in each later %s. Rows are cohorts, columns the %ss since acquisition.", name, name, name),
		cols, rows)
	// Curves of up to maxCurves cohorts spread from the oldest to the
	// newest with at least three observed periods (younger ones are mostly
	// their first 100%), without the period still in progress.
	var usable []retention.Cohort
	for _, co := range r.Cohorts {
		n := len(co.Retention)
		if v.InProgress {
			n--
		}
		if n >= 3 {
			usable = append(usable, retention.Cohort{Start: co.Start, Retention: co.Retention[:n]})
		}
	}
	var series []lineSeries
	for i := 0; i < min(maxCurves, len(usable)); i++ {
		co := usable[i*(len(usable)-1)/max(1, min(maxCurves, len(usable))-1)]
		series = append(series, lineSeries{Name: periodLabel(co.Start.In(loc), name), Values: co.Retention})
	}
	v.Curves = lineChartSVG("chart-curves", "Retention curves of the latest cohorts",
		"Each line is one cohort: the share of its customers active in each "+name+" after acquisition.",
		cols, series, 1, percent)
	q := "period=" + name
	v.CohortLinks = []dlLink{
		{"Retention (CSV)", APIPrefix + "/cohorts?" + q + "&format=csv"},
		{"Revenue retention (CSV)", APIPrefix + "/cohorts?" + q + "&format=csv&values=revenue_retention"},
		{"Cumulative revenue per customer (CSV)", APIPrefix + "/cohorts?" + q + "&format=csv&values=cumulative_revenue_per_customer"},
		{"Everything (JSON)", APIPrefix + "/cohorts?" + q},
	}
	if len(r.Cohorts) > maxHeatCohorts {
		v.CohortNote = fmt.Sprintf("The chart shows the latest %d of %d cohorts; the table and downloads have all.", maxHeatCohorts, len(r.Cohorts))
	}
}

func (s *Server) fillRFM(v *dashView, r *retention.RFMResult) {
	if r == nil {
		return
	}
	a := NewAPIRFM(r, 0, "", false)
	v.RFMScored = a.Scored
	var grid [5][5]rfmCell
	for r := range grid {
		for f := range grid[r] {
			grid[r][f].R, grid[r][f].F = r+1, f+1
		}
	}
	for _, c := range a.Grid {
		share := 0.0
		if a.Scored > 0 {
			share = float64(c.Customers) / float64(a.Scored)
		}
		grid[c.R-1][c.F-1] = rfmCell{R: c.R, F: c.F, Customers: c.Customers, Segment: c.Segment, Share: share,
			Revenue: s.moneyF(float64(c.Revenue), r.Currency)}
	}
	for i := range grid {
		v.RFMCells[i] = grid[4-i]
	}
	v.RFMGrid = rfmGridSVG("chart-rfm", "RFM grid: customers by recency and frequency score",
		"25 cells: recency score 5 (bought most recently) at the top to 1 at the bottom, frequency score 1 (fewest orders) on the left to 5 on the right; each cell shows its customers and their revenue.",
		grid)
	for _, sg := range a.Segments {
		v.RFMSegments = append(v.RFMSegments, rfmSegmentRow{APIRFMSegment: sg, RevenueText: s.moneyF(float64(sg.Revenue), r.Currency)})
	}
}

// custAnalytics is the customer page's analytics panel.
type custAnalytics struct {
	Message    string // why there are no predictions, in words ("" when there are)
	Warming    bool
	Progress   int
	P          analytics.Prediction
	PAlive     string
	Expected   string // "2.3 purchases in the next 365 days"
	CLV        string
	Spend      string
	Revenue    string
	RFM        string // "R4 F2 M3"
	RFMSegment string
	Risk       string // low, medium, high: a word beside the number
	// Segments are the saved segments the customer is in.
	Segments []core.Segment
}

// customerAnalytics fills the panel for one customer; it never fails the
// page: a problem becomes the panel's message.
func (s *Server) customerAnalytics(c *echo.Context, id core.ID) custAnalytics {
	v := custAnalytics{Segments: s.customerSegments(c, id)}
	if s.an == nil {
		v.Message = "Churn risk and lifetime value are not available: retention analytics is not running on this server."
		return v
	}
	if st := s.an.Status(); !st.Ready {
		v.Warming, v.Progress = true, int(math.Round(math.Max(0, math.Min(1, st.Progress))*100))
		v.Message = fmt.Sprintf("Churn risk and lifetime value are being computed (%d%% of the history read). Reload in a moment.", v.Progress)
		return v
	}
	p, err := s.predict(c, s.an, id)
	if err != nil {
		if !errors.Is(err, core.ErrUnavailable) {
			s.log.Warn("customer prediction failed", "customer", id, "error", err)
		}
		v.Message = "Churn risk and lifetime value could not be computed just now. Reload in a moment."
		return v
	}
	v.P = p
	cur := p.Currency
	v.Revenue = s.moneyF(float64(p.Revenue), cur)
	if p.R > 0 {
		v.RFM = fmt.Sprintf("R%d F%d M%d", p.R, p.F, p.M)
		v.RFMSegment = p.RFMSegment
	}
	if !p.Available {
		reason := p.Reason
		if reason == "" {
			reason = "the models are not trusted yet"
		}
		v.Message = "No churn risk or lifetime value for this customer: " + reason + "."
		return v
	}
	v.PAlive = percent(p.PAlive)
	switch {
	case p.PAlive < s.cfg.Analytics.PAliveThreshold:
		v.Risk = "high risk"
	case p.PAlive < 0.7:
		v.Risk = "some risk"
	default:
		v.Risk = "low risk"
	}
	days := p.HorizonDays
	if days == 0 {
		days = s.cfg.Analytics.HorizonDays
	}
	v.Expected = fmt.Sprintf("%.1f purchases in the next %d days", p.ExpectedPurchases, days)
	v.CLV = s.moneyF(p.CLV, cur)
	v.Spend = s.moneyF(p.ExpectedSpend, cur)
	return v
}

// customerSegments names the saved segments the customer is in (a few
// segments, each a membership lookup); problems leave the list empty.
func (s *Server) customerSegments(c *echo.Context, id core.ID) []core.Segment {
	if s.segs == nil {
		return nil
	}
	list, err := s.segs.List(ctx(c))
	if err != nil {
		return nil
	}
	var in []core.Segment
	for _, sg := range list {
		if f, err := s.segs.Filter(sg.ID); err == nil && f != nil && f(id) {
			in = append(in, sg)
		}
	}
	return in
}
