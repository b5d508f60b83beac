package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/store"
)

// The log is cut only as far as the slowest reader got; a reader still
// building (position 0) holds everything.
func TestTrimmerWaitsForTheSlowestReader(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "retain.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < 10; i++ {
		if _, err := st.CreateCustomer(ctx, core.Customer{Name: "C", CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := st.LastChange(ctx)
	fast := &readerFeed{ChangeFeed: st}
	var slow uint64
	tr := newTrimmer(st)
	tr.add("fast", fast.applied.Load)
	tr.add("slow", func() uint64 { return slow })

	if err := fast.TrimChanges(ctx, last); err != nil { // what the index does
		t.Fatal(err)
	}
	if got, _ := tr.trim(ctx); got != 0 {
		t.Fatalf("trimmed to %d while a reader is at 0", got)
	}
	if ch, _ := st.Changes(ctx, 0, 100); len(ch) != int(last) {
		t.Fatalf("the fast reader's TrimChanges cut the log: %d of %d left", len(ch), last)
	}
	slow = 4
	if got, _ := tr.trim(ctx); got != 4 {
		t.Fatalf("trimmed to %d, want 4", got)
	}
	ch, _ := st.Changes(ctx, 0, 100)
	if len(ch) != int(last)-4 || ch[0].Seq != 5 {
		t.Fatalf("after trimming to 4: %d entries from %d", len(ch), ch[0].Seq)
	}
}
