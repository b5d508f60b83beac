package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/store"
)

// The demo prices in the configured business currency (the analytics count
// only that one) and its history ends where --end says (default: now).
func TestDemoCurrencyAndEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "retain.toml")
	if err := os.WriteFile(cfg, []byte("[business]\ncurrency = \"PLN\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "", "demo", "--config", cfg, "--data", dir, "--industry", "d2c", "--customers", "40", "--end", "2025-06-30"); code != 0 {
		t.Fatalf("demo: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "demo", "--data", dir, "--end", "2025-13-01"); code == 0 {
		t.Fatalf("a bad --end was accepted: %s", errOut)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "retain.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	end := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	var n int
	var last time.Time
	err = db.ScanAllInteractions(ctx, func(in core.Interaction) error {
		n++
		if in.Time.After(last) {
			last = in.Time
		}
		if in.Currency != "" && in.Currency != "PLN" {
			t.Fatalf("interaction in %s, want the business currency PLN", in.Currency)
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("%d interactions, %v", n, err)
	}
	if !last.Before(end) || last.Before(end.AddDate(0, -2, 0)) {
		t.Errorf("newest interaction %s, want within the two months before %s", last, end)
	}
}
