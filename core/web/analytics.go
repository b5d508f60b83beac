package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
)

// The retention analytics API (/api/v1/metrics, /cohorts, /rfm,
// /analytics/..., /customers/:id/predictions, /dashboard): thin handlers
// over the analytics engine. Reads need customers:read (the numbers are
// about customers, and every role that may open a customer may see how
// customers behave); refitting the models is admin work.
//
// While the engine's first build runs every analytics answer is 503 with
// Retry-After and the progress in the message; the rest of the CRM works.
//
// The answers use their own snake_case shapes (api* types below) rather
// than the retention library's structs, so the JSON stays stable when the
// library's Go names change.

// analyticsRetryAfter is the Retry-After (seconds) of a warming-up answer.
const analyticsRetryAfter = 5

// engine returns the analytics engine once its first build is done, or a
// 503 error saying how far it is (with Retry-After set).
func (s *Server) engine(c *echo.Context) (*analytics.Engine, error) {
	if s.an == nil {
		return nil, fmt.Errorf("%w: analytics is not running", core.ErrUnavailable)
	}
	st := s.an.Status()
	if !st.Ready {
		c.Response().Header().Set("Retry-After", strconv.Itoa(analyticsRetryAfter))
		return nil, fmt.Errorf("%w: analytics is warming up (%s of the history read); try again in a few seconds",
			core.ErrUnavailable, percent(st.Progress))
	}
	return s.an, nil
}

// analyticsErr adds Retry-After to an engine's "unavailable" answer too
// (the engine may say so after Status said ready, e.g. during a rebuild).
func analyticsErr(c *echo.Context, err error) error {
	if errors.Is(err, core.ErrUnavailable) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(analyticsRetryAfter))
	}
	return err
}

// percent formats a share 0..1 as "62%" (one decimal below 10%).
func percent(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	p := v * 100
	if math.Abs(p) < 10 && p != 0 && math.Round(p) != p {
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
}

// periodNames maps the names the API accepts to the library's periods: all
// the periods the library knows (day, week, month, and quarter and year
// where it has them), found by their String names so this list grows with
// the library.
var periodNames = func() map[string]retention.Period {
	m := map[string]retention.Period{}
	for p := retention.Period(0); p < 16; p++ {
		if _, dup := m[p.String()]; !dup {
			m[p.String()] = p
		}
	}
	return m
}()

// dashboardPeriods are the periods the dashboard's picker offers, in order.
func dashboardPeriods() []string {
	var out []string
	for _, n := range []string{"week", "month", "quarter", "year"} {
		if _, ok := periodNames[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

func parsePeriod(raw, def string) (retention.Period, error) {
	if raw == "" {
		raw = def
	}
	p, ok := periodNames[strings.ToLower(raw)]
	if !ok {
		names := make([]string, 0, len(periodNames))
		for _, n := range []string{"day", "week", "month", "quarter", "year"} {
			if _, ok := periodNames[n]; ok {
				names = append(names, n)
			}
		}
		return 0, core.FieldErr("period", "%q is not a period; use %s", safeText(raw), strings.Join(names, ", "))
	}
	return p, nil
}

// parseDay reads a date (YYYY-MM-DD, the start of that day in the business
// time zone) or an RFC 3339 time; "" is the zero time.
func (s *Server) parseDay(field, raw string) (time.Time, error) {
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", raw, s.cfg.Location())
	if err != nil {
		if t, err = time.Parse(time.RFC3339, raw); err != nil {
			return time.Time{}, core.FieldErr(field, "%q is not a date (YYYY-MM-DD) or an RFC 3339 time", safeText(raw))
		}
	}
	if t.Year() < 1900 || t.Year() > 2200 {
		return time.Time{}, core.FieldErr(field, "%q is outside the years 1900 to 2200", safeText(raw))
	}
	return t.UTC(), nil
}

// segmentFilter resolves ?segment= (a saved segment's id) to a membership
// test from the segment maintainer; "" means everybody.
func (s *Server) segmentFilter(c *echo.Context) (func(core.ID) bool, string, error) {
	raw := c.QueryParam("segment")
	if raw == "" {
		return nil, "", nil
	}
	id, err := core.ParseID(raw)
	if err != nil {
		return nil, raw, core.FieldErr("segment", "%q is not a segment id", safeText(raw))
	}
	if s.segs == nil {
		return nil, raw, core.FieldErr("segment", "segments not available")
	}
	f, err := s.segs.Filter(id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, raw, core.FieldErr("segment", "no segment %s", id)
	}
	if err != nil {
		return nil, raw, analyticsErr(c, err)
	}
	return f, raw, nil
}

// --- answers ---

// APIMetrics is the answer of GET /metrics.
type APIMetrics struct {
	Period   string            `json:"period"`
	Currency string            `json:"currency"`
	Churn    string            `json:"churn_definition"`
	Segment  string            `json:"segment,omitempty"`
	Current  analytics.Metrics `json:"current"`
	Previous analytics.Metrics `json:"previous"`
}

// NewAPIMetrics, NewAPICohorts, NewAPIRFM, NewAPIModel and NewAPIDashboard
// build the API's answers; the CLI (retain analytics) prints the same shapes.
func NewAPIMetrics(r analytics.MetricsReport, segment string) APIMetrics {
	return APIMetrics{Period: r.Period.String(), Currency: r.Currency, Churn: r.Churn, Segment: segment,
		Current: r.Current, Previous: r.Previous}
}

// APIPeriodMetrics is one calendar period of a cohort analysis.
type APIPeriodMetrics struct {
	Start              time.Time `json:"start"`
	S                  int       `json:"customers_at_start"`
	E                  int       `json:"customers_at_end"`
	N                  int       `json:"new_customers"`
	Retained           int       `json:"retained"`
	Reactivated        int       `json:"reactivated"`
	RetentionRate      float64   `json:"retention_rate"`
	ChurnRate          float64   `json:"churn_rate"`
	Orders             int       `json:"orders"`
	Sales              int64     `json:"sales"`
	Revenue            int64     `json:"revenue"`
	RepeatCustomers    int       `json:"repeat_customers"`
	RepeatPurchaseRate float64   `json:"repeat_purchase_rate"`
	PurchaseFrequency  float64   `json:"purchase_frequency"`
	AverageOrderValue  float64   `json:"average_order_value"`
	RevenuePerCustomer float64   `json:"revenue_per_customer"`
}

// APICohorts is the answer of GET /cohorts.
type APICohorts struct {
	Period             string             `json:"period"`
	Currency           string             `json:"currency"`
	Segment            string             `json:"segment,omitempty"`
	Customers          int                `json:"customers"`
	ActiveCustomers    int                `json:"active_customers"`
	RepeatCustomers    int                `json:"repeat_customers"`
	RepeatPurchaseRate float64            `json:"repeat_purchase_rate"`
	Orders             int                `json:"orders"`
	Revenue            int64              `json:"revenue"`
	OtherCurrency      int                `json:"other_currency"`
	Cohorts            []retention.Cohort `json:"cohorts"`
	Metrics            []APIPeriodMetrics `json:"metrics"`
}

func NewAPICohorts(r *retention.CohortReport, segment string) *APICohorts {
	if r == nil {
		return nil
	}
	out := &APICohorts{Period: r.Period.String(), Currency: r.Currency, Segment: segment, Customers: r.Customers,
		ActiveCustomers: r.ActiveCustomers, RepeatCustomers: r.RepeatCustomers, RepeatPurchaseRate: r.RepeatPurchaseRate,
		Orders: r.Orders, Revenue: r.Revenue, OtherCurrency: r.OtherCurrency,
		Cohorts: r.Cohorts, Metrics: make([]APIPeriodMetrics, len(r.Metrics))}
	if out.Cohorts == nil {
		out.Cohorts = []retention.Cohort{}
	}
	for i, m := range r.Metrics {
		out.Metrics[i] = APIPeriodMetrics{Start: m.Start, S: m.S, E: m.E, N: m.N, Retained: m.Retained,
			Reactivated: m.Reactivated, RetentionRate: m.RetentionRate, ChurnRate: m.ChurnRate, Orders: m.Orders,
			Sales: m.Sales, Revenue: m.Revenue, RepeatCustomers: m.RepeatCustomers, RepeatPurchaseRate: m.RepeatPurchaseRate,
			PurchaseFrequency: m.PurchaseFrequency, AverageOrderValue: m.AverageOrderValue, RevenuePerCustomer: m.RevenuePerCustomer}
	}
	return out
}

// APIRFMCell is one cell of the R×F grid.
type APIRFMCell struct {
	R         int    `json:"r"`
	F         int    `json:"f"`
	Segment   string `json:"segment"`
	Customers int    `json:"customers"`
	Revenue   int64  `json:"revenue"`
}

// APIRFMSegment is a named segment with its rule and size.
type APIRFMSegment struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Rule        string `json:"rule"` // "R 5, F 4–5"
	RMin        int    `json:"r_min"`
	RMax        int    `json:"r_max"`
	FMin        int    `json:"f_min"`
	FMax        int    `json:"f_max"`
	Customers   int    `json:"customers"`
	Revenue     int64  `json:"revenue"`
}

// APIRFMCustomer is one scored customer.
type APIRFMCustomer struct {
	CustomerID  core.ID `json:"customer_id"`
	RecencyDays int     `json:"recency_days"`
	Frequency   int     `json:"frequency"`
	Monetary    int64   `json:"monetary"`
	R           int     `json:"r"`
	F           int     `json:"f"`
	M           int     `json:"m"`
	Segment     string  `json:"segment"`
}

// APIRFM is the answer of GET /rfm.
type APIRFM struct {
	WindowDays    int              `json:"window_days"`
	Currency      string           `json:"currency"`
	Segment       string           `json:"segment,omitempty"`
	Scored        int              `json:"customers"`
	OtherCurrency int              `json:"other_currency"`
	Grid          []APIRFMCell     `json:"grid"` // 25 cells, r 5..1 then f 1..5
	Segments      []APIRFMSegment  `json:"segments"`
	Customers     []APIRFMCustomer `json:"scores,omitempty"` // with ?scores=1
}

// rangeText writes a score range: "5" or "3–4".
func rangeText(lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return strconv.Itoa(lo) + "–" + strconv.Itoa(hi)
}

func NewAPIRFM(r *retention.RFMResult, window int, segment string, scores bool) *APIRFM {
	if r == nil {
		return nil
	}
	// Scored counts the grid: the dashboard's result has the grid only,
	// not the per-customer list.
	out := &APIRFM{WindowDays: window, Currency: r.Currency, Segment: segment, OtherCurrency: r.OtherCurrency}
	for rs := 5; rs >= 1; rs-- {
		for f := 1; f <= 5; f++ {
			c := r.Grid[rs-1][f-1]
			out.Scored += c.Customers
			out.Grid = append(out.Grid, APIRFMCell{R: rs, F: f, Segment: retention.SegmentOf(rs, f), Customers: c.Customers, Revenue: c.Revenue})
		}
	}
	counts := map[string]retention.SegmentCount{}
	for _, sc := range r.SegmentCounts {
		counts[sc.Name] = sc
	}
	for _, rule := range retention.Segments {
		sc := counts[rule.Name]
		out.Segments = append(out.Segments, APIRFMSegment{Name: rule.Name, Description: rule.Description,
			Rule: "R " + rangeText(rule.RMin, rule.RMax) + ", F " + rangeText(rule.FMin, rule.FMax),
			RMin: rule.RMin, RMax: rule.RMax, FMin: rule.FMin, FMax: rule.FMax, Customers: sc.Customers, Revenue: sc.Revenue})
	}
	if scores {
		out.Customers = make([]APIRFMCustomer, len(r.Customers))
		for i, c := range r.Customers {
			out.Customers[i] = APIRFMCustomer{CustomerID: c.CustomerID, RecencyDays: c.RecencyDays, Frequency: c.Frequency,
				Monetary: c.Monetary, R: c.R, F: c.F, M: c.M, Segment: c.Segment}
		}
	}
	return out
}

// APIModel is the answer of GET /analytics/model: the fitted models, the
// holdout check and the verdict on how far to trust them.
type APIModel struct {
	Trusted    bool           `json:"trusted"`
	Verdict    string         `json:"verdict"` // one sentence for people
	Reason     string         `json:"reason,omitempty"`
	FittedAt   time.Time      `json:"fitted_at,omitzero"`
	Unit       string         `json:"unit"`
	Customers  int            `json:"customers"`
	Repeaters  int            `json:"repeaters"`
	BGNBD      *APIBGNBD      `json:"bgnbd,omitempty"`
	GammaGamma *APIGammaGamma `json:"gamma_gamma,omitempty"`
	Validation *APIValidation `json:"validation,omitempty"`
}

// APIBGNBD are the BG/NBD parameters (alpha in the model's unit).
type APIBGNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
}

// APIGammaGamma are the spend model's parameters (gamma in minor units).
type APIGammaGamma struct {
	P     float64 `json:"p"`
	Q     float64 `json:"q"`
	Gamma float64 `json:"gamma"`
}

// APIValidation is the holdout comparison by calibration frequency class.
type APIValidation struct {
	Customers      int                `json:"customers"`
	HoldoutLength  float64            `json:"holdout_length"`
	TotalActual    float64            `json:"total_actual"`
	TotalPredicted float64            `json:"total_predicted"`
	MAE            float64            `json:"mae"`
	RMSE           float64            `json:"rmse"`
	ClassMAE       float64            `json:"class_mae"`
	Rows           []APIValidationRow `json:"rows"`
	Calibration    []APICalibration   `json:"calibration"`
}

// APIValidationRow compares mean holdout purchases for one class.
type APIValidationRow struct {
	Label     string  `json:"label"`
	X         int     `json:"x"`
	Customers int     `json:"customers"`
	Actual    float64 `json:"actual"`
	Predicted float64 `json:"predicted"`
}

// APICalibration compares customers per repeat count in the calibration window.
type APICalibration struct {
	Label    string  `json:"label"`
	X        int     `json:"x"`
	Actual   float64 `json:"actual"`
	Expected float64 `json:"expected"`
}

// modelVerdict says in one sentence how far to trust the predictions,
// from the fit's checks and the holdout comparison (what the user sees
// next to the chart).
func modelVerdict(m analytics.ModelReport) string {
	switch {
	case !m.Trusted && m.Reason != "":
		return "Not trusted: " + m.Reason + "."
	case !m.Trusted:
		return "Not trusted yet: the models have not been fitted."
	case m.Validation == nil || m.Validation.TotalActual <= 0:
		return "The fit passed its checks; there were no holdout purchases to compare with, so treat predictions as rough."
	}
	v := m.Validation
	off := math.Abs(v.TotalPredicted-v.TotalActual) / v.TotalActual
	what := fmt.Sprintf("over the holdout the model predicted %.0f purchases against %.0f made (%s off in total; %.2f purchases per customer off on average by frequency class)",
		v.TotalPredicted, v.TotalActual, percent(off), v.ClassMAE)
	switch {
	case off <= 0.1:
		return "Good: " + what + "."
	case off <= 0.25:
		return "Fair: " + what + ". Rankings (who is most at risk, who is worth most) are more reliable than the exact numbers."
	}
	return "Rough: " + what + ". Use the predictions to rank customers, not as forecasts."
}

func NewAPIModel(m analytics.ModelReport) APIModel {
	out := APIModel{Trusted: m.Trusted, Verdict: modelVerdict(m), Reason: m.Reason, FittedAt: m.FittedAt, Unit: m.Unit,
		Customers: m.Customers, Repeaters: m.Repeaters}
	if m.BGNBD != nil {
		out.BGNBD = &APIBGNBD{R: m.BGNBD.R, Alpha: m.BGNBD.Alpha, A: m.BGNBD.A, B: m.BGNBD.B}
	}
	if m.GammaGamma != nil {
		out.GammaGamma = &APIGammaGamma{P: m.GammaGamma.P, Q: m.GammaGamma.Q, Gamma: m.GammaGamma.Gamma}
	}
	if v := m.Validation; v != nil {
		av := &APIValidation{Customers: v.Customers, HoldoutLength: v.HoldoutLength, TotalActual: v.TotalActual,
			TotalPredicted: v.TotalPredicted, MAE: v.MAE, RMSE: v.RMSE, ClassMAE: v.ClassMAE,
			Rows: []APIValidationRow{}, Calibration: []APICalibration{}}
		for _, r := range v.Rows {
			av.Rows = append(av.Rows, APIValidationRow{Label: r.Label, X: r.X, Customers: r.Customers, Actual: r.Actual, Predicted: r.Predicted})
		}
		for _, r := range v.Calibration {
			av.Calibration = append(av.Calibration, APICalibration{Label: r.Label, X: r.X, Actual: r.Actual, Expected: r.Expected})
		}
		out.Validation = av
	}
	return out
}

// APIDayN is one day-n retention figure.
type APIDayN struct {
	Day      int     `json:"day"`
	Eligible int     `json:"eligible"`
	Retained int     `json:"retained"`
	Rate     float64 `json:"rate"`
}

// APIDashboard is the answer of GET /dashboard.
type APIDashboard struct {
	Status   analytics.Status        `json:"status"`
	Metrics  APIMetrics              `json:"metrics"`
	Cohorts  *APICohorts             `json:"cohorts"`
	RFM      *APIRFM                 `json:"rfm"`
	Model    APIModel                `json:"model"`
	AtRisk   []analytics.AtRisk      `json:"at_risk"`
	Reasons  []analytics.ChurnReason `json:"churn_reasons"`
	Computed time.Time               `json:"computed_at"`
}

func NewAPIDashboard(d *analytics.Dashboard) APIDashboard {
	out := APIDashboard{Status: d.Status, Metrics: NewAPIMetrics(d.Metrics, ""), Cohorts: NewAPICohorts(d.Cohorts, ""),
		RFM: NewAPIRFM(d.RFM, 0, "", false), Model: NewAPIModel(d.Model), AtRisk: d.AtRisk, Reasons: d.Reasons, Computed: d.Computed}
	if out.AtRisk == nil {
		out.AtRisk = []analytics.AtRisk{}
	}
	if out.Reasons == nil {
		out.Reasons = []analytics.ChurnReason{}
	}
	return out
}

// --- handlers ---

// GET /api/v1/metrics?period=month&at=2025-03-01&segment=ID
func (s *Server) apiGetMetrics(c *echo.Context) error {
	p, err := parsePeriod(c.QueryParam("period"), "month")
	if err != nil {
		return err
	}
	at, err := s.parseDay("at", c.QueryParam("at"))
	if err != nil {
		return err
	}
	filter, seg, err := s.segmentFilter(c)
	if err != nil {
		return err
	}
	e, err := s.engine(c)
	if err != nil {
		return err
	}
	r, err := e.Metrics(ctx(c), analytics.MetricsQuery{Period: p, At: at, Filter: filter})
	if err != nil {
		return analyticsErr(c, err)
	}
	return c.JSON(http.StatusOK, NewAPIMetrics(r, seg))
}

// cohortValues are the matrices a cohort CSV can hold.
var cohortValues = []string{"retention", "active", "revenue", "revenue_retention", "cumulative_revenue_per_customer"}

// GET /api/v1/cohorts?period=month&from=&to=&segment=&format=json|csv&values=retention
func (s *Server) apiGetCohorts(c *echo.Context) error {
	p, err := parsePeriod(c.QueryParam("period"), "month")
	if err != nil {
		return err
	}
	from, err := s.parseDay("from", c.QueryParam("from"))
	if err != nil {
		return err
	}
	to, err := s.parseDay("to", c.QueryParam("to"))
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return core.FieldErr("to", "must be after from")
	}
	format := c.QueryParam("format")
	switch format {
	case "", "json", "csv":
	default:
		return core.FieldErr("format", "%q is not a format; use json or csv", safeText(format))
	}
	values := c.QueryParam("values")
	if values == "" {
		values = "retention"
	}
	if !slices.Contains(cohortValues, values) {
		return core.FieldErr("values", "%q is not a cohort matrix; use %s", safeText(values), strings.Join(cohortValues, ", "))
	}
	filter, seg, err := s.segmentFilter(c)
	if err != nil {
		return err
	}
	e, err := s.engine(c)
	if err != nil {
		return err
	}
	r, err := e.Cohorts(ctx(c), analytics.CohortQuery{Period: p, From: from, To: to, Filter: filter})
	if err != nil {
		return analyticsErr(c, err)
	}
	if format == "csv" {
		return s.cohortCSV(c, r, values)
	}
	out := NewAPICohorts(r, seg)
	if out == nil {
		out = &APICohorts{Period: p.String(), Cohorts: []retention.Cohort{}, Metrics: []APIPeriodMetrics{}}
	}
	return c.JSON(http.StatusOK, out)
}

// cohortCSV writes one row per cohort: its start, size and the chosen
// matrix by periods since acquisition (empty where not observed yet).
func (s *Server) cohortCSV(c *echo.Context, r *retention.CohortReport, values string) error {
	width := 0
	var cohorts []retention.Cohort
	period := "period"
	if r != nil {
		cohorts = r.Cohorts
		period = r.Period.String()
	}
	for _, co := range cohorts {
		width = max(width, len(co.Active))
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="cohorts-`+period+`-`+values+`.csv"`)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	head := []string{"cohort_start", "size"}
	for k := 0; k < width; k++ {
		head = append(head, period+"_"+strconv.Itoa(k))
	}
	_ = w.Write(head)
	loc := s.cfg.Location()
	for _, co := range cohorts {
		row := []string{co.Start.In(loc).Format("2006-01-02"), strconv.Itoa(co.Size)}
		for k := 0; k < width; k++ {
			row = append(row, cohortValue(co, values, k))
		}
		_ = w.Write(row)
	}
	w.Flush()
	return w.Error()
}

func cohortValue(co retention.Cohort, values string, k int) string {
	f := func(xs []float64) string {
		if k >= len(xs) {
			return ""
		}
		return strconv.FormatFloat(xs[k], 'f', -1, 64)
	}
	switch values {
	case "active":
		if k < len(co.Active) {
			return strconv.Itoa(co.Active[k])
		}
		return ""
	case "revenue":
		if k < len(co.Revenue) {
			return strconv.FormatInt(co.Revenue[k], 10)
		}
		return ""
	case "revenue_retention":
		return f(co.RevenueRetention)
	case "cumulative_revenue_per_customer":
		return f(co.CumulativeRevenuePerCustomer)
	}
	return f(co.Retention)
}

var typeName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// GET /api/v1/cohorts/dayn?days=1,7,30&types=session&segment=
func (s *Server) apiGetDayN(c *echo.Context) error {
	var q analytics.DayNQuery
	if raw := c.QueryParam("days"); raw != "" {
		for _, part := range strings.Split(raw, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || n < 1 || n > 366 {
				return core.FieldErr("days", "%q is not a day from 1 to 366", safeText(part))
			}
			q.Days = append(q.Days, n)
		}
		if len(q.Days) > 20 {
			return core.FieldErr("days", "at most 20 days")
		}
	}
	if raw := c.QueryParam("types"); raw != "" {
		for _, part := range strings.Split(raw, ",") {
			t := strings.ToLower(strings.TrimSpace(part))
			if !typeName.MatchString(t) {
				return core.FieldErr("types", "%q is not an interaction type", safeText(part))
			}
			q.Types = append(q.Types, core.InteractionType(t))
		}
		if len(q.Types) > 20 {
			return core.FieldErr("types", "at most 20 types")
		}
	}
	filter, _, err := s.segmentFilter(c)
	if err != nil {
		return err
	}
	q.Filter = filter
	e, err := s.engine(c)
	if err != nil {
		return err
	}
	rows, err := e.DayN(ctx(c), q)
	if err != nil {
		return analyticsErr(c, err)
	}
	out := make([]APIDayN, len(rows))
	for i, r := range rows {
		out[i] = APIDayN{Day: r.Day, Eligible: r.Eligible, Retained: r.Retained, Rate: r.Rate}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

// GET /api/v1/rfm?window_days=365&segment=&scores=1
func (s *Server) apiGetRFM(c *echo.Context) error {
	window, err := queryInt(c, "window_days")
	if err != nil {
		return err
	}
	if window < 0 || window > 36500 {
		return core.FieldErr("window_days", "must be between 0 (all time) and 36500")
	}
	scores := false
	switch c.QueryParam("scores") {
	case "", "0", "false":
	case "1", "true":
		scores = true
	default:
		return core.FieldErr("scores", "must be 1 or 0")
	}
	filter, seg, err := s.segmentFilter(c)
	if err != nil {
		return err
	}
	e, err := s.engine(c)
	if err != nil {
		return err
	}
	r, err := e.RFM(ctx(c), analytics.RFMQuery{WindowDays: window, Filter: filter})
	if err != nil {
		return analyticsErr(c, err)
	}
	out := NewAPIRFM(r, window, seg, scores)
	if out == nil {
		out = NewAPIRFM(&retention.RFMResult{}, window, seg, scores)
	}
	return c.JSON(http.StatusOK, out)
}

// GET /api/v1/analytics/model
func (s *Server) apiGetModel(c *echo.Context) error {
	e, err := s.engine(c)
	if err != nil {
		return err
	}
	m, err := e.Model(ctx(c))
	if err != nil {
		return analyticsErr(c, err)
	}
	return c.JSON(http.StatusOK, NewAPIModel(m))
}

// POST /api/v1/analytics/refit
func (s *Server) apiRefit(c *echo.Context) error {
	m, err := s.refit(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, NewAPIModel(m))
}

// refit fits the models now (page and API) and notes the result for the audit log.
func (s *Server) refit(c *echo.Context) (analytics.ModelReport, error) {
	e, err := s.engine(c)
	if err != nil {
		return analytics.ModelReport{}, err
	}
	m, err := e.Refit(ctx(c))
	if err != nil {
		return m, analyticsErr(c, err)
	}
	auditDetail(c, refitDetail(m))
	return m, nil
}

func refitDetail(m analytics.ModelReport) string {
	if m.Trusted {
		return fmt.Sprintf("models refitted on %d customers: trusted", m.Customers)
	}
	return fmt.Sprintf("models refitted on %d customers: not trusted", m.Customers)
}

// GET /api/v1/customers/:id/predictions
func (s *Server) apiGetPredictions(c *echo.Context) error {
	cu, err := s.pathCustomer(c)
	if err != nil {
		return err
	}
	id := cu.ID
	e, err := s.engine(c)
	if err != nil {
		return err
	}
	p, err := s.predict(c, e, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// predict asks the engine for a known customer's prediction; a customer the
// engine has no history for gets an unavailable prediction with the reason.
func (s *Server) predict(c *echo.Context, e *analytics.Engine, id core.ID) (analytics.Prediction, error) {
	p, err := e.Predict(ctx(c), id)
	if errors.Is(err, core.ErrNotFound) {
		return analytics.Prediction{CustomerID: id, Reason: "no purchases yet", Currency: s.cfg.Business.Currency,
			HorizonDays: s.cfg.Analytics.HorizonDays}, nil
	}
	if err != nil {
		return p, analyticsErr(c, err)
	}
	return p, nil
}

// GET /api/v1/analytics/at-risk?limit=50
func (s *Server) apiGetAtRisk(c *echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > 1000 {
		return core.FieldErr("limit", "must be between 1 and 1000")
	}
	e, err := s.engine(c)
	if err != nil {
		return err
	}
	list, err := e.AtRisk(ctx(c), limit)
	if err != nil {
		return analyticsErr(c, err)
	}
	if list == nil {
		list = []analytics.AtRisk{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": list})
}

// GET /api/v1/dashboard?period=month
func (s *Server) apiGetDashboard(c *echo.Context) error {
	p, err := parsePeriod(c.QueryParam("period"), "month")
	if err != nil {
		return err
	}
	e, err := s.engine(c)
	if err != nil {
		return err
	}
	d, err := e.Dashboard(ctx(c), p)
	if err != nil {
		return analyticsErr(c, err)
	}
	return c.JSON(http.StatusOK, NewAPIDashboard(d))
}
