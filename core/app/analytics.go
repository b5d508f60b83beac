package app

import (
	"context"
	"log/slog"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/retention"
)

// analyticsOptions turns the [analytics] and [business] settings into the
// engine's options.
func analyticsOptions(cfg config.Config, log *slog.Logger) analytics.Options {
	unit := retention.Week
	if cfg.Analytics.Unit == "day" {
		unit = retention.Day
	}
	return analytics.Options{
		Location:           cfg.Location(),
		Currency:           cfg.Business.Currency,
		Churn:              cfg.Analytics.Churn,
		ChurnDays:          cfg.Analytics.ChurnDays,
		PAliveThreshold:    cfg.Analytics.PAliveThreshold,
		Unit:               unit,
		HorizonDays:        cfg.Analytics.HorizonDays,
		AnnualDiscountRate: cfg.Analytics.AnnualDiscountRate,
		RefitEvery:         cfg.Analytics.RefitEvery,
		PollInterval:       cfg.Analytics.PollInterval,
		Logger:             log, // the engine adds component=analytics
	}
}

// openAnalytics prepares the retention engine over the store's change log.
// It reads nothing yet: Serve runs it (the first build happens in the
// background, pages show its progress), the CLI catches it up in place.
func openAnalytics(ctx context.Context, cfg config.Config, feed core.ChangeFeed, log *slog.Logger) (*analytics.Engine, error) {
	return analytics.Open(ctx, feed, analyticsOptions(cfg, log))
}
