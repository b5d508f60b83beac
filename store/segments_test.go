package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

func tagRule(tag string) core.Rule { return core.Rule{Tag: &tag} }

func TestSegmentsCRUDAndMembers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	s, err := db.CreateSegment(ctx, core.Segment{Name: "  VIP   buyers ", Rule: tagRule("vip")})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID == 0 || s.Name != "VIP buyers" {
		t.Fatalf("created %+v", s)
	}
	if _, err := db.CreateSegment(ctx, core.Segment{Name: "vip BUYERS", Rule: tagRule("x")}); !errors.Is(err, core.ErrConflict) || core.ErrorField(err) != "name" {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := db.CreateSegment(ctx, core.Segment{Name: "bad", Rule: core.Rule{}}); !errors.Is(err, core.ErrInvalid) || core.ErrorField(err) != "rule" {
		t.Fatalf("empty rule: %v", err)
	}
	other, err := db.CreateSegment(ctx, core.Segment{Name: "Other", Rule: tagRule("y")})
	if err != nil {
		t.Fatal(err)
	}

	ids := []core.ID{9, 3, 5, 1, 7}
	if err := db.AddSegmentMembers(ctx, s.ID, ids); err != nil {
		t.Fatal(err)
	}
	if err := db.AddSegmentMembers(ctx, other.ID, []core.ID{2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddSegmentMembers(ctx, 999, []core.ID{1}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("members of a missing segment: %v", err)
	}
	if err := db.RemoveSegmentMembers(ctx, s.ID, []core.ID{5, 42}); err != nil {
		t.Fatal(err)
	}
	var got []core.ID
	cursor := ""
	for {
		p, err := db.ListSegmentMembers(ctx, s.ID, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Items...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if want := []core.ID{1, 3, 7, 9}; !equalIDs(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	if n, err := db.CountSegmentMembers(ctx, s.ID); err != nil || n != 4 {
		t.Fatalf("count %d %v", n, err)
	}
	if _, err := db.ListSegmentMembers(ctx, s.ID, "!!garbage", 10); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("garbage cursor: %v", err)
	}

	up, err := db.UpdateSegment(ctx, s.ID, func(x *core.Segment) error {
		x.Description = "big spenders"
		x.Count = 4
		x.CreatedAt = x.CreatedAt.AddDate(1, 0, 0) // ignored
		return nil
	})
	if err != nil || up.Description != "big spenders" || up.Count != 4 || !up.CreatedAt.Equal(s.CreatedAt) {
		t.Fatalf("update %+v %v", up, err)
	}
	if _, err := db.UpdateSegment(ctx, s.ID, func(x *core.Segment) error { x.Name = "OTHER"; return nil }); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("rename onto another: %v", err)
	}
	mustCheck(t, db)

	if err := db.DeleteSegment(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSegment(ctx, s.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted segment: %v", err)
	}
	if _, err := db.ListSegmentMembers(ctx, s.ID, "", 10); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("members of deleted: %v", err)
	}
	if n, _ := db.CountSegmentMembers(ctx, other.ID); n != 2 {
		t.Fatalf("other segment lost members: %d", n)
	}
	list, err := db.ListSegments(ctx)
	if err != nil || len(list) != 1 || list[0].ID != other.ID {
		t.Fatalf("list %+v %v", list, err)
	}
	mustCheck(t, db)
}

func TestCheckFindsOrphanMembers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		return bucket(tx, bSegMembers).Put(memberKey(77, 1), []byte{})
	}); err != nil {
		t.Fatal(err)
	}
	errs := db.Check(ctx)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "segment 77") {
		t.Fatalf("check: %v", errs)
	}
}

func TestDeleteLargeSegment(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	s, err := db.CreateSegment(ctx, core.Segment{Name: "big", Rule: tagRule("a")})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]core.ID, 25_000)
	for i := range ids {
		ids[i] = core.ID(i + 1)
	}
	if err := db.AddSegmentMembers(ctx, s.ID, ids); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSegment(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		if n := bucket(tx, bSegMembers).Stats().KeyN; n != 0 {
			t.Errorf("%d membership keys left", n)
		}
		return nil
	})
}

func equalIDs(a, b []core.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
