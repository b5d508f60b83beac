package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
)

// A third-party pack in the running CRM: an interaction appended through
// the service reaches the pack process as an event, and its answer is
// applied by the real action path (tag, attribute, an interaction of its
// own that does not loop back); its clock ticks.
func TestPackReactsInTheRunningCRM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "plugins", "pack")
	if out, err := exec.Command("go", "build", "-o", bin, "../../plugins/host/testdata/pack").CombinedOutput(); err != nil {
		t.Fatalf("build the test pack: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)

	cfg := config.Default()
	cfg.Storage.DataDir = filepath.Join(dir, "data")
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Plugins.Dir = filepath.Join(dir, "plugins")
	cfg.Plugins.Pinned = map[string]string{"pack": hex.EncodeToString(sum[:])}
	cfg.Plugins.EventPollInterval, cfg.Plugins.TickInterval = 20*time.Millisecond, 50*time.Millisecond
	a, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ann, err := a.Service.CreateCustomer(ctx, core.Customer{Name: "Ann", Emails: []string{"ann@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := json.Marshal(map[string]string{"tick_customer": ann.ID.String()})
	// What an admin approves on the plugin's page.
	if err := a.Store.PutPluginSettings(ctx, core.PluginSettings{Name: "pack", Config: conf,
		Approved: core.PluginGrants{Capabilities: []string{"actions", "timeline"}}}); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	defer func() { cancel(); <-done }()

	// The pack starts at the end of the log; wait until it took its place.
	var res []core.AppendResult
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, _ := a.Service.GetCustomer(ctx, ann.ID)
		if c.Attributes["ticked"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pack never ticked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a poll after the first tick: the cursor is set
	res, err = a.Service.AppendInteractions(ctx, []core.Interaction{{CustomerID: ann.ID, Type: core.TypePurchase,
		Amount: 4200, Currency: "USD", Time: time.Now().UTC()}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		c, _ := a.Service.GetCustomer(ctx, ann.ID)
		if slices.Contains(c.Tags, "seen-purchase") && c.Attributes["last_amount"] == float64(4200) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pack's actions were not applied: tags %v attributes %v", c.Tags, c.Attributes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // polls enough for a loop to show
	page, err := a.Service.Timeline(ctx, ann.ID, core.TimelineQuery{Types: []core.InteractionType{"pack_seen"}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Text != res[0].ID.String() {
		t.Fatalf("pack_seen interactions: %+v, want exactly one, for the purchase", page.Items)
	}
}
