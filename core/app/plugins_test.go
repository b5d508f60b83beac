package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/outbox"
	pb "github.com/retain-crm/retain/plugins/proto"
	"github.com/retain-crm/retain/plugins/sdk"
	"google.golang.org/protobuf/proto"
)

// applyActions is what a plugin's EmitActions reaches (after the host
// checked the "actions" grant): each action applied once per id, a bad
// list refused whole.
func TestApplyActions(t *testing.T) {
	ctx := context.Background()
	a, box, c := actionsApp(t, "old")
	id := c.ID.String()
	actions := []*sdk.Action{
		{Id: "t1", CustomerId: id, Kind: &sdk.ActionAddTag{AddTag: "vip"}},
		{Id: "t2", CustomerId: id, Kind: &sdk.ActionRemoveTag{RemoveTag: "old"}},
		{Id: "a1", CustomerId: id, Kind: &sdk.ActionSetAttribute{SetAttribute: &sdk.SetAttribute{Key: "tier", ValueJson: `"gold"`}}},
		{Id: "i1", CustomerId: id, Kind: &sdk.ActionAppendInteraction{AppendInteraction: &sdk.Interaction{Type: "note", Text: "from a pack"}}},
		{Id: "m1", CustomerId: id, Kind: &sdk.ActionEnqueueMessage{EnqueueMessage: &sdk.Message{Channel: "email", Subject: "Hi", Text: "Welcome"}}},
	}
	applied, err := a.applyActions(ctx, box, "pack", actions)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []bool{true, true, true, true, true}) {
		t.Fatalf("first time: %v", applied)
	}
	// The same list again (a plugin retrying after a timeout): nothing new.
	applied, err = a.applyActions(ctx, box, "pack", actions)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []bool{false, false, false, false, false}) {
		t.Fatalf("second time: %v", applied)
	}
	got, _ := a.Service.GetCustomer(ctx, c.ID)
	if !slices.Equal(got.Tags, []string{"vip"}) || got.Attributes["tier"] != "gold" {
		t.Fatalf("customer: tags %v attributes %v", got.Tags, got.Attributes)
	}
	tl, _ := a.Service.Timeline(ctx, c.ID, core.TimelineQuery{})
	if len(tl.Items) != 1 || tl.Items[0].IdempotencyKey != "plugin:pack:action:i1" {
		t.Fatalf("timeline: %+v", tl.Items)
	}
	if m, err := box.List(ctx, core.OutboxQuery{}); err != nil || len(m.Items) != 1 || m.Items[0].Source != "plugin:pack" {
		t.Fatalf("outbox: %+v %v", m.Items, err)
	}

	// A list with anything wrong is refused before anything is applied.
	for name, bad := range map[string]*sdk.Action{
		"points not supported yet":      {Id: "p", CustomerId: id, Kind: &sdk.ActionAwardPoints{AwardPoints: &sdk.Points{Points: 10}}},
		"no kind":                       {Id: "k", CustomerId: id},
		"bad customer id":               {Id: "c", CustomerId: "nope", Kind: &sdk.ActionAddTag{AddTag: "x"}},
		"attribute not JSON":            {Id: "j", CustomerId: id, Kind: &sdk.ActionSetAttribute{SetAttribute: &sdk.SetAttribute{Key: "k", ValueJson: "{"}}},
		"a tag that is not one":         sdk.TagAction("bt", id, strings.Repeat("x", 500)),
		"an interaction without a type": sdk.InteractionAction("bi", id, &sdk.Interaction{Text: "no type"}),
		"a message without a channel":   sdk.MessageAction("bm", id, &sdk.Message{Text: "hi"}),
		"an unknown customer":           sdk.TagAction("uc", "999999", "x"),
	} {
		list := []*sdk.Action{{Id: "ok", CustomerId: id, Kind: &sdk.ActionAddTag{AddTag: "should-not-appear"}}, bad}
		if _, err := a.applyActions(ctx, box, "pack", list); !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	got, _ = a.Service.GetCustomer(ctx, c.ID)
	if slices.Contains(got.Tags, "should-not-appear") {
		t.Fatal("half of a refused list was applied")
	}
	tl, _ = a.Service.Timeline(ctx, c.ID, core.TimelineQuery{})
	if len(tl.Items) != 1 {
		t.Fatalf("a refused list appended interactions: %+v", tl.Items)
	}

	// Order counts within a list, as if applied one by one.
	applied, err = a.applyActions(ctx, box, "pack", []*sdk.Action{
		sdk.UntagAction("o1", id, "late"), sdk.TagAction("o2", id, "Late"),
		sdk.TagAction("o3", id, "gone"), sdk.UntagAction("o4", id, "gone"),
		sdk.TagAction("o5", id, "vip"),
	})
	if err != nil || !slices.Equal(applied, []bool{false, true, true, true, false}) {
		t.Fatalf("ordered list: %v %v", applied, err)
	}
	got, _ = a.Service.GetCustomer(ctx, c.ID)
	if !slices.Contains(got.Tags, "late") || slices.Contains(got.Tags, "gone") || !slices.Contains(got.Tags, "vip") {
		t.Fatalf("tags after the ordered list: %v", got.Tags)
	}
}

// FuzzApplyActions: an action list is what a plugin process sends (over
// EmitActions or as an answer to events), decoded here from arbitrary
// protobuf bytes. Whatever it says, applying it refuses it with a known
// kind or applies it, never panics, and the customer stays readable.
func FuzzApplyActions(f *testing.F) {
	ctx := context.Background()
	a, box, c := actionsApp(f)
	id := c.ID.String()
	for _, l := range [][]*sdk.Action{
		{sdk.TagAction("t", id, "vip"), sdk.UntagAction("u", id, "vip")},
		{{Id: "a", CustomerId: id, Kind: &sdk.ActionSetAttribute{SetAttribute: &sdk.SetAttribute{Key: "tier", ValueJson: `{"x":[1,2]}`}}}},
		{sdk.InteractionAction("i", id, &sdk.Interaction{Type: "note", Text: "hi", Properties: map[string]string{"k": "v"}})},
		{sdk.MessageAction("m", id, &sdk.Message{Channel: "email", Subject: "s", Text: "t"})},
		{{Id: "p", CustomerId: id, Kind: &sdk.ActionAwardPoints{AwardPoints: &sdk.Points{Points: 5}}}},
		{{Id: "", CustomerId: "0"}},
	} {
		b, err := proto.Marshal(&pb.ActionList{Actions: l})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var list pb.ActionList
		if proto.Unmarshal(data, &list) != nil {
			return
		}
		_, err := a.applyActions(ctx, box, "fuzz", list.GetActions())
		if err != nil && !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrNotFound) &&
			!errors.Is(err, core.ErrTooLarge) && !errors.Is(err, core.ErrConflict) {
			t.Fatalf("an error of no known kind: %v", err)
		}
		if _, err := a.Service.GetCustomer(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDemoBaseURL(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080", ":8080": "http://localhost:8080", "0.0.0.0:9000": "http://localhost:9000",
		"[::1]:8080": "http://[::1]:8080", "127.0.0.1:0": "", "nonsense": "",
	} {
		if got := demoBaseURL(listen); got != want {
			t.Errorf("%s: %q, want %q", listen, got, want)
		}
	}
}

// actionsApp opens an app over a temp folder with one customer, Ada
// (tagged tags), and an outbox that is not running: what applyActions needs.
func actionsApp(tb testing.TB, tags ...string) (*App, *outbox.Service, core.Customer) {
	tb.Helper()
	cfg := config.Default()
	cfg.Storage.DataDir = tb.TempDir()
	a, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	c, err := a.Service.CreateCustomer(context.Background(), core.Customer{Name: "Ada", Emails: []string{"ada@example.com"}, Tags: tags})
	if err != nil {
		tb.Fatal(err)
	}
	return a, outbox.New(outbox.Options{Config: cfg.Outbox, Service: a.Service}), c
}
