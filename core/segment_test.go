package core

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRuleValidation(t *testing.T) {
	deep := strings.Repeat(`{"not":`, MaxRuleDepth-1) + `{"tag":"a"}` + strings.Repeat(`}`, MaxRuleDepth-1)
	tooDeep := strings.Repeat(`{"not":`, MaxRuleDepth) + `{"tag":"a"}` + strings.Repeat(`}`, MaxRuleDepth)
	veryDeep := strings.Repeat(`{"not":`, 100000) + `{"tag":"a"}` + strings.Repeat(`}`, 100000)
	many := `{"any":[` + strings.Repeat(`{"tag":"a"},`, MaxRuleList) + `{"tag":"b"}]}`
	nodes := `{"all":[` + strings.Repeat(`{"any":[`+strings.Repeat(`{"tag":"a"},`, 49)+`{"tag":"b"}]},`, 4) + `{"tag":"c"}]}`
	for _, tc := range []struct {
		name, in, field string
		ok              bool
		kind            error
	}{
		{"tag", `{"tag":"vip"}`, "", true, nil},
		{"bought twice in 90 days", `{"event":{"type":"purchase","within_days":90,"op":"gte","value":2}}`, "", true, nil},
		{"no session 14 days", `{"event":{"type":"session","within_days":14,"op":"eq","value":0}}`, "", true, nil},
		{"combined", `{"all":[{"tag":"vip"},{"not":{"consent":"email"}},{"any":[{"rfm":{"segment":"At risk"}},{"p_alive":{"op":"lt","value":0.3}}]}]}`, "", true, nil},
		{"attribute ops", `{"all":[{"attribute":{"key":"plan","op":"eq","value":"gold"}},{"attribute":{"key":"age","op":"gt","value":30}},{"attribute":{"key":"x","op":"exists"}}]}`, "", true, nil},
		{"fields", `{"all":[{"field":{"name":"country","op":"eq","value":"PL"}},{"field":{"name":"created_at","op":"within_days","days":30}},{"field":{"name":"created_at","op":"before","value":"2024-01-01"}}]}`, "", true, nil},
		{"cohort", `{"first_purchase":{"from":"2024-01-01","to":"2024-03-31"}}`, "", true, nil},
		{"clv", `{"clv":{"op":"gt","value":10000}}`, "", true, nil},
		{"max depth", deep, "", true, nil},
		{"empty object", `{}`, "rule", false, ErrInvalid},
		{"two kinds in one node", `{"tag":"a","consent":"email"}`, "rule", false, ErrInvalid},
		{"empty all", `{"all":[]}`, "rule.all", false, ErrInvalid},
		{"bad in list", `{"all":[{"tag":"a"},{"tag":"b"},{"event":{"type":"purchase","within_days":-1,"op":"gte","value":2}}]}`, "rule.all[2].event.within_days", false, ErrInvalid},
		{"unknown op", `{"attribute":{"key":"k","op":"regex","value":"x"}}`, "rule.attribute.op", false, ErrInvalid},
		{"unknown event op", `{"event":{"op":"between","value":1}}`, "rule.event.op", false, ErrInvalid},
		{"unknown field", `{"field":{"name":"password","op":"eq","value":"x"}}`, "rule.field.name", false, ErrInvalid},
		{"unknown key", `{"tag":"a","sql":"drop"}`, "rule", false, ErrInvalid},
		{"huge number", `{"clv":{"op":"gt","value":1e999}}`, "rule", false, ErrInvalid},
		{"p_alive out of range", `{"p_alive":{"op":"lt","value":2}}`, "rule.p_alive.value", false, ErrInvalid},
		{"too deep", tooDeep, "", false, ErrInvalid},
		{"hostile depth", veryDeep, "rule", false, nil},
		{"huge list", many, "rule.any", false, ErrInvalid},
		{"too many nodes", nodes, "", false, ErrInvalid},
		{"invalid utf8", "{\"tag\":\"a\xff\"}", "rule", false, ErrInvalid},
		{"upper-case tag", `{"tag":"VIP"}`, "rule.tag", false, ErrInvalid},
		{"script tag", `{"tag":"<script>"}`, "rule.tag", false, ErrInvalid},
		{"bad date", `{"first_purchase":{"from":"yesterday"}}`, "rule.first_purchase.from", false, ErrInvalid},
		{"reversed dates", `{"first_purchase":{"from":"2024-02-01","to":"2024-01-01"}}`, "rule.first_purchase.to", false, ErrInvalid},
		{"rfm score", `{"rfm":{"r":6}}`, "rule.rfm.r", false, ErrInvalid},
		{"rfm name", `{"rfm":{"segment":"Whales"}}`, "rule.rfm.segment", false, ErrInvalid},
		{"trailing", `{"tag":"a"} {"tag":"b"}`, "rule", false, ErrInvalid},
		{"array value", `{"attribute":{"key":"k","op":"eq","value":[1]}}`, "rule.attribute.value", false, ErrInvalid},
		{"gt on text", `{"attribute":{"key":"k","op":"gt","value":"x"}}`, "rule.attribute.value", false, ErrInvalid},
		{"null", `null`, "rule", false, ErrInvalid},
		{"too large", `{"tag":"` + strings.Repeat("a", MaxRuleBytes) + `"}`, "rule", false, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRule([]byte(tc.in))
			if tc.ok {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("kind: %v", err)
			}
			if tc.field != "" && ErrorField(err) != tc.field {
				t.Errorf("field %q, want %q (%v)", ErrorField(err), tc.field, err)
			}
		})
	}
}

func TestRuleMatch(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	c := &Customer{ID: 1, Name: "Ann", Emails: []string{"ann@shop.pl"}, Address: Address{Country: "PL", City: "Kraków"},
		Locale: "pl-PL", Tags: []string{"b2b", "vip"}, Attributes: map[string]any{"plan": "Gold", "age": 41.0, "beta": true},
		Consent: map[Channel]Consent{ChannelEmail: {Granted: true}, ChannelSMS: {Granted: false}}, CreatedAt: now.AddDate(0, 0, -10)}
	counts := map[string][2]int64{"purchase/90": {2, 5000}, "purchase/0": {5, 12000}, "session/14": {0, 0}}
	f := &SegmentFacts{FirstPurchase: time.Date(2024, 2, 10, 0, 0, 0, 0, time.UTC), R: 4, F: 5, M: 3, RFMSegment: "Loyal",
		HasModel: true, PAlive: 0.2, CLV: 15000, Now: now,
		Count: func(ty InteractionType, days int) (int, int64) {
			v := counts[string(ty)+"/"+itoa(days)]
			return int(v[0]), v[1]
		}}
	none := &SegmentFacts{Now: now}
	for _, tc := range []struct {
		rule string
		want bool
		bare bool // against a customer without facts
	}{
		{`{"tag":"vip"}`, true, true},
		{`{"tag":"gold"}`, false, false},
		{`{"consent":"email"}`, true, true},
		{`{"consent":"sms"}`, false, false},
		{`{"attribute":{"key":"plan","op":"eq","value":"gold"}}`, true, true},
		{`{"attribute":{"key":"plan","op":"ne","value":"gold"}}`, false, false},
		{`{"attribute":{"key":"missing","op":"ne","value":"gold"}}`, true, true},
		{`{"attribute":{"key":"plan","op":"contains","value":"OL"}}`, true, true},
		{`{"attribute":{"key":"age","op":"gte","value":41}}`, true, true},
		{`{"attribute":{"key":"age","op":"lt","value":41}}`, false, false},
		{`{"attribute":{"key":"beta","op":"eq","value":true}}`, true, true},
		{`{"attribute":{"key":"beta","op":"exists"}}`, true, true},
		{`{"attribute":{"key":"plan","op":"gt","value":1}}`, false, false},
		{`{"field":{"name":"country","op":"eq","value":"pl"}}`, true, true},
		{`{"field":{"name":"email","op":"contains","value":"@shop.pl"}}`, true, true},
		{`{"field":{"name":"time_zone","op":"exists"}}`, false, false},
		{`{"field":{"name":"created_at","op":"within_days","days":30}}`, true, true},
		{`{"field":{"name":"created_at","op":"within_days","days":5}}`, false, false},
		{`{"field":{"name":"created_at","op":"after","value":"2025-05-21"}}`, true, true},
		{`{"field":{"name":"created_at","op":"after","value":"2025-05-22"}}`, false, false},
		{`{"field":{"name":"created_at","op":"before","value":"2025-05-23"}}`, true, true},
		{`{"event":{"type":"purchase","within_days":90,"op":"gte","value":2}}`, true, false},
		{`{"event":{"type":"purchase","within_days":90,"op":"gte","value":3}}`, false, false},
		{`{"event":{"type":"purchase","measure":"sum","op":"gt","value":10000}}`, true, false},
		{`{"event":{"type":"session","within_days":14,"op":"eq","value":0}}`, true, true},
		{`{"rfm":{"segment":"Loyal"}}`, true, false},
		{`{"rfm":{"r":4,"f":5}}`, true, false},
		{`{"rfm":{"r":5}}`, false, false},
		{`{"p_alive":{"op":"lt","value":0.5}}`, true, false},
		{`{"clv":{"op":"gt","value":20000}}`, false, false},
		{`{"first_purchase":{"from":"2024-02-01","to":"2024-02-10"}}`, true, false},
		{`{"first_purchase":{"to":"2024-02-09"}}`, false, false},
		{`{"not":{"tag":"vip"}}`, false, false},
		{`{"all":[{"tag":"vip"},{"consent":"email"}]}`, true, true},
		{`{"any":[{"tag":"nope"},{"consent":"sms"}]}`, false, false},
	} {
		r, err := ParseRule([]byte(tc.rule))
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		if got := r.Match(c, f); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.rule, got, tc.want)
		}
		if got := r.Match(c, none); got != tc.bare {
			t.Errorf("%s without facts: got %v, want %v", tc.rule, got, tc.bare)
		}
		// Decided from the record alone: the same answer as with facts
		// and without; undecided exactly when facts change the answer or
		// the rule asks for them.
		m, known := r.MatchRecord(c, none)
		if known && (m != tc.want || m != tc.bare) {
			t.Errorf("%s: MatchRecord %v, want %v", tc.rule, m, tc.want)
		}
		if !known && !r.Needs().Facts {
			t.Errorf("%s: record rule not decided by MatchRecord", tc.rule)
		}
	}
	for _, tc := range []struct {
		rule         string
		match, known bool
	}{
		{`{"all":[{"tag":"gold"},{"event":{"type":"purchase","op":"gte","value":1}}]}`, false, true},
		{`{"all":[{"tag":"vip"},{"event":{"type":"purchase","op":"gte","value":1}}]}`, false, false},
		{`{"any":[{"tag":"vip"},{"p_alive":{"op":"lt","value":0.5}}]}`, true, true},
		{`{"any":[{"tag":"gold"},{"p_alive":{"op":"lt","value":0.5}}]}`, false, false},
		{`{"not":{"all":[{"field":{"name":"created_at","op":"within_days","days":5}},{"rfm":{"r":5}}]}}`, true, true},
	} {
		r, _ := ParseRule([]byte(tc.rule))
		if m, known := r.MatchRecord(c, none); known != tc.known || (known && m != tc.match) {
			t.Errorf("%s: MatchRecord %v %v, want %v %v", tc.rule, m, known, tc.match, tc.known)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestRuleNeeds(t *testing.T) {
	r, _ := ParseRule([]byte(`{"all":[{"tag":"vip"},{"event":{"type":"purchase","op":"gt","value":0}}]}`))
	if n := r.Needs(); !n.Record || !n.Facts || !n.Time || n.Model {
		t.Errorf("needs %+v", n)
	}
	r, _ = ParseRule([]byte(`{"not":{"p_alive":{"op":"lt","value":0.5}}}`))
	if n := r.Needs(); n.Record || !n.Model {
		t.Errorf("needs %+v", n)
	}
	if tags := (Rule{Any: []Rule{{Tag: ptr("a")}, {Not: &Rule{Tag: ptr("b")}}, {Tag: ptr("a")}}}).Tags(); len(tags) != 2 {
		t.Errorf("tags %v", tags)
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzParseRule: any input either fails with an ErrInvalid/ErrTooLarge or
// yields a rule that validates, re-encodes and evaluates without panicking.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{`{"tag":"vip"}`, `{"all":[{"not":{"consent":"email"}},{"event":{"type":"purchase","within_days":90,"op":"gte","value":2}}]}`,
		`{"attribute":{"key":"a","op":"contains","value":"x"}}`, `{"field":{"name":"created_at","op":"before","value":"2024-01-01"}}`,
		`{"rfm":{"segment":"Lost","r":1}}`, `{"first_purchase":{"from":"2024-01-01"}}`, `[`, `{"not":{"not":{"not":{}}}}`} {
		f.Add([]byte(s))
	}
	c := &Customer{Tags: []string{"vip"}, Attributes: map[string]any{"a": "xyz", "n": 3.0}}
	facts := &SegmentFacts{Count: func(InteractionType, int) (int, int64) { return 1, 1 }}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRule(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if err := r.Validate("rule"); err != nil {
			t.Fatalf("parsed rule does not validate: %v", err)
		}
		withFacts, without := r.Match(c, facts), r.Match(c, &SegmentFacts{})
		if m, known := r.MatchRecord(c, &SegmentFacts{}); known && (m != withFacts || m != without) {
			t.Fatalf("MatchRecord decided %v, Match says %v with facts and %v without", m, withFacts, without)
		}
		r.Match(&Customer{}, &SegmentFacts{})
		r.Needs()
	})
}
