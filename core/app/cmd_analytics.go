package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/retention"
	"github.com/retain-crm/retain/core/web"
	"github.com/retain-crm/retain/store"
)

const analyticsHelp = `Print retention analytics as JSON (the same shapes as the API's /api/v1 answers).
The store is opened read-only and the numbers are computed from the whole
history first, so this needs the server stopped (bbolt allows one writer).

subcommands:
  metrics     retention metrics of a period and the one before   [--period --at --segment]
  cohorts     acquisition cohorts and their retention matrices   [--period --from --to --segment]
  dayn        D1/D7/D30 retention                                [--days --types --segment]
  rfm         RFM grid and named segments                        [--window-days --scores --segment]
  model       the churn/CLV models, holdout check, trust verdict
  predict     one customer's prediction                          --customer ID
  at-risk     valuable customers at risk                         [--limit]
  dashboard   everything the dashboard shows                     [--period]`

func cmdAnalytics(ctx context.Context, env *Env, args []string) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	f := newFlags(env, "analytics", "metrics|cohorts|dayn|rfm|model|predict|at-risk|dashboard [flags]", analyticsHelp)
	period := f.String("period", "month", "day, week, month (and quarter, year where supported)")
	at := f.String("at", "", "metrics: a date (YYYY-MM-DD) or RFC 3339 time in the period; default now")
	from := f.String("from", "", "cohorts: first cohort from this date")
	to := f.String("to", "", "cohorts: up to this date (default now)")
	segment := f.String("segment", "", "count only a saved segment's members (segment id)")
	customer := f.String("customer", "", "predict: the customer's id")
	window := f.Int("window-days", 0, "rfm: purchases in the last N days (0: all time)")
	scores := f.Bool("scores", false, "rfm: include every customer's scores")
	limit := f.Int("limit", 50, "at-risk: how many customers (1..1000)")
	days := f.String("days", "", "dayn: comma-separated days (default 1,7,30)")
	types := f.String("types", "", "dayn: comma-separated interaction types that count as activity (default session)")
	if err := f.parse(args); err != nil {
		return err
	}
	if sub == "" && f.NArg() > 0 {
		sub = f.Arg(0)
	}
	switch sub {
	case "metrics", "cohorts", "dayn", "rfm", "model", "predict", "at-risk", "dashboard":
	case "":
		return usageError{"expected a subcommand: metrics, cohorts, dayn, rfm, model, predict, at-risk or dashboard"}
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
	}
	p, err := cliPeriod(*period)
	if err != nil {
		return err
	}
	var segID core.ID
	if *segment != "" {
		if segID, err = core.ParseID(*segment); err != nil {
			return usageError{fmt.Sprintf("--segment %q: expected a segment id", *segment)}
		}
	}
	var id core.ID
	if sub == "predict" {
		if id, err = core.ParseID(*customer); err != nil || *customer == "" {
			return usageError{"predict needs --customer ID (a customer's id)"}
		}
	}
	if *limit < 1 || *limit > 1000 {
		return usageError{"--limit must be between 1 and 1000"}
	}
	if *window < 0 {
		return usageError{"--window-days must not be negative"}
	}
	cfg, err := f.config(env)
	if err != nil {
		return err
	}
	loc := cfg.Location()
	atT, err := cliDay("--at", *at, loc)
	if err != nil {
		return err
	}
	fromT, err := cliDay("--from", *from, loc)
	if err != nil {
		return err
	}
	toT, err := cliDay("--to", *to, loc)
	if err != nil {
		return err
	}
	var dq analytics.DayNQuery
	if *days != "" {
		for _, d := range strings.Split(*days, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(d))
			if err != nil || n < 1 || n > 366 {
				return usageError{fmt.Sprintf("--days: %q is not a day from 1 to 366", d)}
			}
			dq.Days = append(dq.Days, n)
		}
	}
	if *types != "" {
		for _, t := range strings.Split(*types, ",") {
			dq.Types = append(dq.Types, core.InteractionType(strings.ToLower(strings.TrimSpace(t))))
		}
	}

	st, err := store.Open(ctx, dbPath(cfg), store.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open the database (is the server running? stop it first): %w", err)
	}
	defer st.Close()
	log := NewLogger(cfg, env.Stderr)
	e, err := openAnalytics(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	if err := e.CatchUp(ctx); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}

	// A segment's members as the server last kept them (the membership is
	// stored; the CLI does not re-evaluate rules).
	var filter func(core.ID) bool
	if segID != 0 {
		if _, err := st.GetSegment(ctx, segID); err != nil {
			return fmt.Errorf("--segment: %w", err)
		}
		members := map[core.ID]bool{}
		if err := st.ScanSegmentMembers(ctx, segID, func(id core.ID) error { members[id] = true; return nil }); err != nil {
			return err
		}
		filter = func(id core.ID) bool { return members[id] }
	}

	var out any
	switch sub {
	case "metrics":
		var r analytics.MetricsReport
		if r, err = e.Metrics(ctx, analytics.MetricsQuery{Period: p, At: atT, Filter: filter}); err == nil {
			out = web.NewAPIMetrics(r, *segment)
		}
	case "cohorts":
		var r *retention.CohortReport
		if r, err = e.Cohorts(ctx, analytics.CohortQuery{Period: p, From: fromT, To: toT, Filter: filter}); err == nil {
			out = web.NewAPICohorts(r, *segment)
		}
	case "dayn":
		var rows []retention.DayNRetention
		dq.Filter = filter
		if rows, err = e.DayN(ctx, dq); err == nil {
			items := make([]web.APIDayN, len(rows))
			for i, r := range rows {
				items[i] = web.APIDayN{Day: r.Day, Eligible: r.Eligible, Retained: r.Retained, Rate: r.Rate}
			}
			out = map[string]any{"items": items}
		}
	case "rfm":
		var r *retention.RFMResult
		if r, err = e.RFM(ctx, analytics.RFMQuery{WindowDays: *window, Filter: filter}); err == nil {
			if r == nil {
				r = &retention.RFMResult{}
			}
			out = web.NewAPIRFM(r, *window, *segment, *scores)
		}
	case "model":
		var m analytics.ModelReport
		if m, err = e.Model(ctx); err == nil {
			out = web.NewAPIModel(m)
		}
	case "predict":
		if _, gerr := st.GetCustomer(ctx, id); gerr != nil {
			return gerr
		}
		var pr analytics.Prediction
		pr, err = e.Predict(ctx, id)
		if errors.Is(err, core.ErrNotFound) {
			pr, err = analytics.Prediction{CustomerID: id, Reason: "no purchases yet", Currency: cfg.Business.Currency,
				HorizonDays: cfg.Analytics.HorizonDays}, nil
		}
		out = pr
	case "at-risk":
		var list []analytics.AtRisk
		if list, err = e.AtRisk(ctx, *limit); err == nil {
			if list == nil {
				list = []analytics.AtRisk{}
			}
			out = map[string]any{"items": list}
		}
	case "dashboard":
		var d *analytics.Dashboard
		if d, err = e.Dashboard(ctx, p); err == nil {
			out = web.NewAPIDashboard(d)
		}
	}
	if err != nil {
		return fmt.Errorf("analytics %s: %w", sub, err)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// cliPeriod accepts the periods the library knows by name.
func cliPeriod(s string) (retention.Period, error) {
	for p := retention.Period(0); p < 16; p++ {
		if p.String() == strings.ToLower(s) {
			return p, nil
		}
	}
	return 0, usageError{fmt.Sprintf("--period %q: expected day, week or month (quarter, year where supported)", s)}
}

func cliDay(flag, s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usageError{fmt.Sprintf("%s %q: expected YYYY-MM-DD or an RFC 3339 time", flag, s)}
}
