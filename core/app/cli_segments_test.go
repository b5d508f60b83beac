package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/store"
)

// retain segments count builds the analytics engine first, so behaviour
// conditions see the events in the store; counting writes no membership.
func TestCLISegmentsCountSeesEvents(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCLI(t, "", "segments", "list", "--data", data); code != 0 {
		t.Fatalf("list on a new folder: %d %q", code, errOut)
	}
	db, err := store.Open(ctx, filepath.Join(data, "retain.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var ins []core.Interaction
	for i := range 10 {
		tags := []string{}
		if i%2 == 0 {
			tags = []string{"vip"}
		}
		c, err := db.CreateCustomer(ctx, core.Customer{ExternalID: fmt.Sprint("c", i), Tags: tags, CreatedAt: now.AddDate(-1, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		// Customer i bought i%4 times in the last 90 days, and once long ago.
		for k := range i % 4 {
			ins = append(ins, core.Interaction{CustomerID: c.ID, Type: core.TypePurchase, Amount: 1000, Currency: "USD", Time: now.AddDate(0, 0, -10*(k+1))})
		}
		ins = append(ins, core.Interaction{CustomerID: c.ID, Type: core.TypePurchase, Amount: 1000, Currency: "USD", Time: now.AddDate(0, 0, -200)})
	}
	if _, err := db.AppendInteractions(ctx, ins); err != nil {
		t.Fatal(err)
	}
	vip, err := db.CreateSegment(ctx, core.Segment{Name: "vip", Rule: segCLIRule(t, `{"tag":"vip"}`), CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, tc := range []struct {
		rule string
		want int
	}{
		// i%4 ≥ 2: i = 2, 3, 6, 7.
		{`{"event":{"type":"purchase","within_days":90,"op":"gte","value":2}}`, 4},
		{`{"all":[{"tag":"vip"},{"event":{"type":"purchase","within_days":90,"op":"gte","value":2}}]}`, 2},
		{`{"event":{"type":"purchase","op":"gte","value":1}}`, 10},
		{`{"event":{"type":"purchase","measure":"sum","op":"gt","value":3000}}`, 2}, // i%4 = 3: i = 3, 7
		{`{"tag":"vip"}`, 5},
	} {
		code, out, errOut := runCLI(t, "", "segments", "count", "--data", data, tc.rule)
		if code != 0 {
			t.Fatalf("%s: exit %d %q", tc.rule, code, errOut)
		}
		var pv struct {
			Count, Total int
		}
		if err := json.Unmarshal([]byte(out), &pv); err != nil || pv.Count != tc.want || pv.Total != 10 {
			t.Errorf("%s: %v %s; want count %d of 10", tc.rule, err, out, tc.want)
		}
	}
	// A prediction rule on too little data: counted (nobody) with the reason said.
	code, out, errOut := runCLI(t, "", "segments", "count", "--data", data, `{"p_alive":{"op":"lt","value":0.5}}`)
	if code != 0 || !strings.Contains(errOut, "no trusted model") || !strings.Contains(out, `"count": 0`) {
		t.Errorf("p_alive: %d %q %s", code, errOut, out)
	}

	db, err = store.Open(ctx, filepath.Join(data, "retain.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	_ = db.ScanSegmentMembers(ctx, vip.ID, func(core.ID) error { n++; return nil })
	if n != 0 {
		t.Errorf("count wrote %d members of a saved segment: only the server keeps membership", n)
	}
}

func segCLIRule(t *testing.T, s string) core.Rule {
	t.Helper()
	r, err := core.ParseRule([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
