package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retain-crm/retain/core"
)

// Several derived states read the change log — the search index, the
// analytics engine, segment membership — and each must see every change
// after its own watermark, or it falls back to a full rebuild (tens of
// seconds at a million customers, and under steady writes a rebuild could
// never catch up). So no single reader may trim the log: the trimmer cuts
// it only up to the lowest position all readers have applied.
type trimmer struct {
	feed core.ChangeFeed
	mu   sync.Mutex
	pos  map[string]func() uint64
	done uint64
}

func newTrimmer(feed core.ChangeFeed) *trimmer {
	return &trimmer{feed: feed, pos: map[string]func() uint64{}}
}

// add registers a reader and how to ask it how far it has applied the log.
func (t *trimmer) add(name string, applied func() uint64) {
	t.mu.Lock()
	t.pos[name] = applied
	t.mu.Unlock()
}

// trim cuts the log up to the lowest applied position; a reader that has
// applied nothing yet (0, e.g. still building) holds everything.
func (t *trimmer) trim(ctx context.Context) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pos) == 0 {
		return 0, nil
	}
	low := ^uint64(0)
	for _, f := range t.pos {
		low = min(low, f())
	}
	if low == 0 || low <= t.done {
		return t.done, nil
	}
	if err := t.feed.TrimChanges(ctx, low); err != nil {
		return t.done, err
	}
	t.done = low
	return low, nil
}

// run trims every interval until ctx ends.
func (t *trimmer) run(ctx context.Context, every time.Duration, warn func(msg string, args ...any)) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if _, err := t.trim(ctx); err != nil && ctx.Err() == nil {
			warn("trimming the change log failed", "err", err)
		}
	}
}

// readerFeed is the change log as one reader that trims on its own (the
// search index) sees it: its TrimChanges only records how far it got, and
// the trimmer decides.
type readerFeed struct {
	core.ChangeFeed
	applied atomic.Uint64
}

func (r *readerFeed) TrimChanges(_ context.Context, upTo uint64) error {
	r.applied.Store(upTo)
	return nil
}
