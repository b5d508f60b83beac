// Package analytics keeps retain's retention numbers current: a compact,
// in-memory history of every customer's purchases and activity, derived
// from the store's change log (like the search index, it catches up by
// itself and can always be rebuilt), and on top of it the retention metrics
// per period, acquisition cohorts, RFM, the BG/NBD and Gamma-Gamma
// predictions of every customer, the valuable customers at risk, and the
// dashboard. The formulas live in core/retention; this package feeds them
// and keeps their results fresh as events arrive.
//
// It imports the standard library, core and core/retention only. core/app
// opens the Engine with the store as its core.ChangeFeed, runs it, and
// hands it to core/web and the CLI.
package analytics

import (
	"context"
	"log/slog"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/retention"
)

// THIS FILE IS THE CONTRACT other packages build against (core/web pages
// and API, segments, the CLI). Bodies marked "stub" are filled in by the
// engine's implementation; keep the exported names and shapes stable.

// Churn definitions: when is a customer lost?
const (
	ChurnInactivity   = "inactivity"   // no purchase for ChurnDays days (non-contractual default)
	ChurnCancellation = "cancellation" // a subscription_cancel interaction (contractual)
	ChurnPAlive       = "p_alive"      // BG/NBD P(alive) below PAliveThreshold
)

// Options configures the engine (from config [analytics] and [business]).
type Options struct {
	Location *time.Location // business time zone: day and period boundaries
	Currency string         // business currency: money in other currencies is counted apart
	// Churn is one of the Churn* constants; ChurnDays and PAliveThreshold
	// parameterise it.
	Churn           string
	ChurnDays       int
	PAliveThreshold float64
	// Unit is the models' time unit (retention.Day or retention.Week).
	Unit retention.Unit
	// HorizonDays and AnnualDiscountRate define predicted CLV.
	HorizonDays        int
	AnnualDiscountRate float64
	// RefitEvery is how often the models are refitted in the background
	// (a fit of 1M customers takes seconds; predictions between refits use
	// the last fit on the current summaries).
	RefitEvery time.Duration
	// PollInterval is how often the change log is read for new events.
	PollInterval time.Duration
	Now          func() time.Time // nil: time.Now
	Logger       *slog.Logger
}

// Status says how far the engine is.
type Status struct {
	// Ready is false while the first build runs; pages then show Progress.
	Ready     bool    `json:"ready"`
	Progress  float64 `json:"progress"` // 0..1 of the first build
	Customers int     `json:"customers"`
	Events    int     `json:"events"`
	Watermark uint64  `json:"watermark"` // last change applied
	Lag       uint64  `json:"lag"`       // changes not applied yet
	// ModelFittedAt is when the models were last fitted (zero: never).
	ModelFittedAt time.Time `json:"model_fitted_at,omitzero"`
}

// MetricsQuery asks for the retention metrics of the period containing At
// (zero: now) and, for comparison, the one before it.
type MetricsQuery struct {
	Period retention.Period
	At     time.Time
	// Filter restricts the customers counted (a segment); nil means all.
	Filter func(core.ID) bool
}

// Metrics are the retention measures of one period (docs/analytics.md
// defines each). Rates are in [0, 1]; money is minor units of Currency.
type Metrics struct {
	Start               time.Time `json:"start"`
	End                 time.Time `json:"end"`
	CustomersAtStart    int       `json:"customers_at_start"` // S
	CustomersAtEnd      int       `json:"customers_at_end"`   // E
	NewCustomers        int       `json:"new_customers"`      // N
	Lost                int       `json:"lost"`               // churned in the period under the churn definition
	RetentionRate       float64   `json:"retention_rate"`     // (E − N) / S, capped to [0,1]; see docs
	ChurnRate           float64   `json:"churn_rate"`         // Lost / S
	RepeatPurchaseRate  float64   `json:"repeat_purchase_rate"`
	PurchaseFrequency   float64   `json:"purchase_frequency"`
	AverageOrderValue   float64   `json:"average_order_value"`
	AverageLifetime     float64   `json:"average_lifetime_days"` // mean days from first to last purchase of customers lost so far
	RenewalRate         float64   `json:"renewal_rate"`          // subscription renewals / renewals due (0 when none)
	RevenuePerCustomer  float64   `json:"revenue_per_customer"`
	NetRevenueRetention float64   `json:"net_revenue_retention"` // revenue this period from customers active last period / their revenue last period
	Orders              int       `json:"orders"`
	Revenue             int64     `json:"revenue"`
}

// MetricsReport is the period asked for and the one before it.
type MetricsReport struct {
	Period   retention.Period `json:"period"`
	Currency string           `json:"currency"`
	Churn    string           `json:"churn_definition"`
	// ChurnNote says why Churn differs from the configured definition
	// (p_alive without a trusted model falls back to inactivity).
	ChurnNote string  `json:"churn_note,omitempty"`
	Current   Metrics `json:"current"`
	Previous  Metrics `json:"previous"`
}

// CohortQuery asks for acquisition cohorts by first purchase.
type CohortQuery struct {
	Period   retention.Period
	From, To time.Time // zero From: from the first purchase; zero To: now
	Filter   func(core.ID) bool
}

// DayNQuery asks for D1/D7/D30 (session-based businesses).
type DayNQuery struct {
	Days   []int                  // empty: 1, 7, 30
	Types  []core.InteractionType // what counts as activity; empty: sessions
	Filter func(core.ID) bool
}

// RFMQuery asks for RFM over purchases in the last WindowDays (0: all time).
type RFMQuery struct {
	WindowDays int
	Filter     func(core.ID) bool
}

// ModelReport is the fitted BG/NBD and Gamma-Gamma models with their
// holdout validation, or why there are none ("not enough data: ...").
type ModelReport struct {
	Trusted    bool                  `json:"trusted"`
	Reason     string                `json:"reason,omitempty"` // why not trusted, in words for the user
	FittedAt   time.Time             `json:"fitted_at,omitzero"`
	Unit       string                `json:"unit"`
	Customers  int                   `json:"customers"`
	Repeaters  int                   `json:"repeaters"`
	BGNBD      *retention.BGNBD      `json:"bgnbd,omitempty"`
	GammaGamma *retention.GammaGamma `json:"gamma_gamma,omitempty"`
	Validation *retention.Validation `json:"validation,omitempty"`
	// Fit describes the BG/NBD estimation (iterations, convergence,
	// starting points that agreed), for diagnostics.
	Fit *retention.FitInfo `json:"fit,omitempty"`
}

// Prediction is one customer's model outputs and scores.
type Prediction struct {
	CustomerID core.ID `json:"customer_id"`
	// Available is false when the models are not trusted (Reason says why)
	// or the customer has never purchased.
	Available         bool    `json:"available"`
	Reason            string  `json:"reason,omitempty"`
	PAlive            float64 `json:"p_alive"`
	ExpectedPurchases float64 `json:"expected_purchases"` // over HorizonDays
	ExpectedSpend     float64 `json:"expected_spend"`     // per order, minor units
	CLV               float64 `json:"clv"`                // over HorizonDays, discounted, minor units
	HorizonDays       int     `json:"horizon_days"`
	Currency          string  `json:"currency"`
	// RFM scores (1–5) and named cell, "" when the customer has no purchase.
	R             int       `json:"r"`
	F             int       `json:"f"`
	M             int       `json:"m"`
	RFMSegment    string    `json:"rfm_segment,omitempty"`
	Orders        int       `json:"orders"`
	Revenue       int64     `json:"revenue"`
	FirstPurchase time.Time `json:"first_purchase,omitzero"`
	LastPurchase  time.Time `json:"last_purchase,omitzero"`
}

// AtRisk is a valuable customer slipping away.
type AtRisk struct {
	Prediction
	Name string `json:"name"`
}

// ChurnReason counts the reasons customers gave when they left
// (the "reason" property of subscription_cancel interactions, or of
// surveys marked as exit surveys).
type ChurnReason struct {
	Reason    string `json:"reason"`
	Customers int    `json:"customers"`
}

// Dashboard is everything the retention dashboard shows.
type Dashboard struct {
	Status   Status                  `json:"status"`
	Metrics  MetricsReport           `json:"metrics"`
	Cohorts  *retention.CohortReport `json:"cohorts"`
	RFM      *retention.RFMResult    `json:"rfm"`
	Model    ModelReport             `json:"model"`
	AtRisk   []AtRisk                `json:"at_risk"`
	Reasons  []ChurnReason           `json:"churn_reasons"`
	Computed time.Time               `json:"computed_at"`
}

// Facts are what segment rules may ask about one customer's behaviour.
type Facts struct {
	CustomerID    core.ID
	FirstPurchase time.Time
	LastPurchase  time.Time
	Orders        int
	Revenue       int64
	RFMSegment    string
	R, F, M       int
	PAlive        float64 // -1 when no trusted model
	CLV           float64 // -1 when no trusted model
	// Count returns how many interactions of type t (all types when "")
	// happened in the last `days` days (0: ever) and the sum of their
	// amounts in the business currency.
	Count func(t core.InteractionType, days int) (n int, sum int64)
	// Last is the time of the newest interaction of type t (zero: none).
	Last func(t core.InteractionType) time.Time
}

// Engine is the derived analytics state.
type Engine struct {
	opt  Options
	feed core.ChangeFeed
	log  *slog.Logger
	engineState
}

// Open prepares an engine over feed. Nothing is read until Run.
func Open(ctx context.Context, feed core.ChangeFeed, opt Options) (*Engine, error) {
	if feed == nil {
		return nil, core.Invalidf("analytics: no change feed")
	}
	opt.defaults()
	switch opt.Churn {
	case ChurnInactivity, ChurnCancellation, ChurnPAlive:
	default:
		return nil, core.FieldErr("churn", "must be %s, %s or %s", ChurnInactivity, ChurnCancellation, ChurnPAlive)
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{opt: opt, feed: feed, log: log.With("component", "analytics")}, nil
}

// Run builds the state from the store, then follows the change log until
// ctx ends, refitting the models every RefitEvery.
func (e *Engine) Run(ctx context.Context) error { return e.run(ctx) }

// CatchUp applies every change logged so far, then returns (tests, CLI).
func (e *Engine) CatchUp(ctx context.Context) error { return e.catchUp(ctx) }

// Status reports progress and freshness.
func (e *Engine) Status() Status { return e.status() }

// Metrics computes the retention metrics of a period and the one before.
func (e *Engine) Metrics(ctx context.Context, q MetricsQuery) (MetricsReport, error) {
	return e.metrics(ctx, q)
}

// Cohorts computes acquisition cohorts by first purchase.
func (e *Engine) Cohorts(ctx context.Context, q CohortQuery) (*retention.CohortReport, error) {
	return e.cohorts(ctx, q)
}

// DayN computes D1/D7/D30 retention.
func (e *Engine) DayN(ctx context.Context, q DayNQuery) ([]retention.DayNRetention, error) {
	return e.dayN(ctx, q)
}

// RFM scores every customer with a purchase in the window.
func (e *Engine) RFM(ctx context.Context, q RFMQuery) (*retention.RFMResult, error) {
	return e.rfm(ctx, q)
}

// Model returns the current fit and its validation (fitting first if there
// is none yet).
func (e *Engine) Model(ctx context.Context) (ModelReport, error) { return e.modelReport(ctx) }

// Refit fits the models now on the current summaries.
func (e *Engine) Refit(ctx context.Context) (ModelReport, error) { return e.refit(ctx) }

// Predict returns one customer's prediction (ErrNotFound for an unknown id).
func (e *Engine) Predict(ctx context.Context, id core.ID) (Prediction, error) {
	return e.predict(ctx, id)
}

// AtRisk lists up to limit customers with the highest value at stake:
// high predicted CLV (or past revenue without a model) and low P(alive).
func (e *Engine) AtRisk(ctx context.Context, limit int) ([]AtRisk, error) {
	return e.atRisk(ctx, limit)
}

// Dashboard computes (or returns the cached, still current) dashboard.
func (e *Engine) Dashboard(ctx context.Context, p retention.Period) (*Dashboard, error) {
	return e.dashboard(ctx, p)
}

// Facts returns the behaviour facts of one customer for segment rules;
// false when the customer has no interactions known to the engine.
func (e *Engine) Facts(id core.ID) (Facts, bool) { return e.facts(id) }

// Subscribe registers fn, called after each batch of applied changes with
// the customers whose facts changed (in the engine's goroutine: fn must be
// quick or hand off), and once a day (and after each refit) with nil,
// meaning "time passed or the model changed: re-check time-dependent rules".
func (e *Engine) Subscribe(fn func(changed []core.ID)) {
	e.subMu.Lock()
	e.subs = append(e.subs, fn)
	e.subMu.Unlock()
}
