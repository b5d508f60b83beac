package segments

import (
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
)

// TestFactsNeed: the engine is asked for every part of the facts a rule
// reads, wherever the condition is nested, and for nothing else.
func TestFactsNeed(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want analytics.FactsNeed
	}{
		{`{"tag":"vip"}`, 0},
		{`{"event":{"type":"purchase","within_days":90,"op":"gte","value":2}}`, 0},
		{`{"first_purchase":{"from":"2025-01-05"}}`, analytics.NeedPurchases},
		{`{"rfm":{"r":5}}`, analytics.NeedRFM},
		{`{"p_alive":{"op":"lt","value":0.3}}`, analytics.NeedPredictions},
		{`{"not":{"clv":{"op":"gt","value":1}}}`, analytics.NeedPredictions},
		{`{"all":[{"tag":"x"},{"any":[{"not":{"rfm":{"segment":"Lost"}}},{"first_purchase":{"to":"2025-01-05"}}]}]}`, analytics.NeedRFM | analytics.NeedPurchases},
		{`{"any":[{"p_alive":{"op":"lt","value":0.3}},{"rfm":{"f":1}},{"first_purchase":{"to":"2025-01-05"}}]}`, analytics.NeedAll},
	} {
		r, err := core.ParseRule([]byte(tc.rule))
		if err != nil {
			t.Fatal(err)
		}
		if got := factsNeed(&r); got != tc.want {
			t.Errorf("%s: need %b, want %b", tc.rule, got, tc.want)
		}
	}
}
