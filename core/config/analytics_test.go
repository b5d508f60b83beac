package config

import (
	"strings"
	"testing"
	"time"
)

// The [analytics] section: defaults load, every key can be set from the
// environment (floats included), and each bad value is refused by name.
func TestAnalyticsSection(t *testing.T) {
	cfg, err := Load("", []string{"RETAIN_ANALYTICS__CHURN=p_alive", "RETAIN_ANALYTICS__P_ALIVE_THRESHOLD=0.25",
		"RETAIN_ANALYTICS__UNIT=day", "RETAIN_ANALYTICS__ANNUAL_DISCOUNT_RATE=0.05", "RETAIN_ANALYTICS__REFIT_EVERY=30m"})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Analytics
	if a.Churn != "p_alive" || a.PAliveThreshold != 0.25 || a.Unit != "day" || a.AnnualDiscountRate != 0.05 ||
		a.RefitEvery != 30*time.Minute || a.ChurnDays != 90 || a.HorizonDays != 365 {
		t.Fatalf("got %+v", a)
	}
	for _, tc := range []struct{ env, key string }{
		{"RETAIN_ANALYTICS__CHURN=never", "analytics.churn"},
		{"RETAIN_ANALYTICS__CHURN_DAYS=0", "analytics.churn_days"},
		{"RETAIN_ANALYTICS__P_ALIVE_THRESHOLD=1", "analytics.p_alive_threshold"},
		{"RETAIN_ANALYTICS__P_ALIVE_THRESHOLD=NaN", "analytics.p_alive_threshold"},
		{"RETAIN_ANALYTICS__P_ALIVE_THRESHOLD=abc", "analytics.p_alive_threshold"},
		{"RETAIN_ANALYTICS__UNIT=month", "analytics.unit"},
		{"RETAIN_ANALYTICS__HORIZON_DAYS=-1", "analytics.horizon_days"},
		{"RETAIN_ANALYTICS__ANNUAL_DISCOUNT_RATE=10", "analytics.annual_discount_rate"},
		{"RETAIN_ANALYTICS__ANNUAL_DISCOUNT_RATE=-0.1", "analytics.annual_discount_rate"},
		{"RETAIN_ANALYTICS__REFIT_EVERY=1s", "analytics.refit_every"},
		{"RETAIN_ANALYTICS__POLL_INTERVAL=0s", "analytics.poll_interval"},
	} {
		_, err := Load("", []string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v, want an error naming %s", tc.env, err, tc.key)
		}
	}
}
