package app_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// retain analytics: usage errors name the problem; on a small demo
// dataset every subcommand prints valid JSON of the API's shapes.
func TestCLIAnalytics(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"analytics"}, "expected a subcommand"},
		{[]string{"analytics", "explode"}, "unknown subcommand"},
		{[]string{"analytics", "predict"}, "--customer"},
		{[]string{"analytics", "predict", "--customer", "abc"}, "--customer"},
		{[]string{"analytics", "metrics", "--period", "fortnight"}, "--period"},
		{[]string{"analytics", "metrics", "--segment", "x"}, "--segment"},
		{[]string{"analytics", "metrics", "--at", "yesterday"}, "--at"},
		{[]string{"analytics", "at-risk", "--limit", "0"}, "--limit"},
		{[]string{"analytics", "dayn", "--days", "0"}, "--days"},
	} {
		code, _, errOut := runCLI(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if code, _, errOut := runCLI(t, "", "analytics", "--help"); code != 0 || !strings.Contains(errOut, "usage: retain analytics") || !strings.Contains(errOut, "at-risk") {
		t.Errorf("--help: %d %q", code, errOut)
	}

	data := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCLI(t, "", "demo", "--data", data, "--customers", "60", "--industry", "d2c"); code != 0 {
		t.Fatalf("demo: %d %q", code, errOut)
	}
	code, out, errOut := runCLI(t, "", "analytics", "metrics", "--data", data, "--period", "month")
	if code != 0 && strings.Contains(errOut, "unavailable") {
		t.Skipf("the analytics engine is not implemented yet: %s", errOut)
	}
	if code != 0 {
		t.Fatalf("metrics: %d %q", code, errOut)
	}
	var m struct {
		Period  string `json:"period"`
		Current struct {
			RetentionRate *float64 `json:"retention_rate"`
		} `json:"current"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Period != "month" || m.Current.RetentionRate == nil {
		t.Fatalf("metrics JSON: %v %+v\n%s", err, m, out)
	}
	for _, args := range [][]string{
		{"cohorts", "--period", "month"}, {"dayn"}, {"rfm", "--scores"}, {"model"}, {"at-risk", "--limit", "5"}, {"dashboard", "--period", "week"},
	} {
		code, out, errOut := runCLI(t, "", append(append([]string{"analytics"}, args...), "--data", data)...)
		if code != 0 {
			t.Errorf("%v: exit %d %q", args, code, errOut)
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) == 0 {
			t.Errorf("%v: not a JSON object: %v\n%.300s", args, err, out)
		}
	}
	// predict: the first customer of the demo (ids start at 1).
	code, out, errOut = runCLI(t, "", "analytics", "predict", "--customer", "1", "--data", data)
	if code != 0 {
		t.Fatalf("predict: %d %q", code, errOut)
	}
	var p struct {
		CustomerID string `json:"customer_id"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.CustomerID == "" {
		t.Errorf("predict JSON: %v %s", err, out)
	}
	if code, _, errOut := runCLI(t, "", "analytics", "predict", "--customer", "999999", "--data", data); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("predict unknown: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "analytics", "metrics", "--segment", "999", "--data", data); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown segment: %d %q", code, errOut)
	}
}
