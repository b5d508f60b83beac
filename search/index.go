// Package search is the bleve implementation of core.Index: full-text search
// over customers and interactions, found as the user types.
//
// The index is derived data. It is fed only through core.ChangeFeed (this
// package must not import the store): Run tails the change log in batches,
// fetches the changed entities by id and writes them, together with the
// watermark (the last change applied), in one bleve batch, so after a crash
// the index resumes from what it actually holds. The index also carries
// MappingVersion; an index of another version, or one that cannot be opened,
// is rebuilt from a full scan of the feed, which is also what Rebuild
// (`retain reindex`) does.
//
// What is indexed: customers (name, emails, phones, external id, tags, last
// seen) and interactions that have something textual — text, line item names
// and SKUs, property values — with their type, channel, time and customer.
// Interactions with none of these (page views, opens, sessions) are not
// indexed: ten million of them would only bloat the index.
//
// It may import core and bleve, nothing else of the program.
package search

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/retain-crm/retain/core"
)

var _ core.Index = (*Index)(nil)

// Internal (non-document) keys kept inside the bleve index.
var (
	keyWatermark = []byte("retain.watermark")
	keyVersion   = []byte("retain.mapping_version")
)

// currentFile names the index directory in use; it is replaced atomically
// when a rebuild finishes, so a crash mid-rebuild leaves the old index in use.
const currentFile = "CURRENT"

// Options tune the indexer. Zero values take the defaults.
type Options struct {
	BatchSize    int           // changes per bleve batch; default 2000
	PollInterval time.Duration // how often Run looks for new changes when idle; default 200ms
	// TrimInterval is how often Run trims the change log up to the
	// watermark; default one minute, negative disables trimming.
	TrimInterval time.Duration
	Logger       *slog.Logger
}

// Index is the bleve index and its indexer.
type Index struct {
	dir  string
	feed core.ChangeFeed
	opts Options
	log  *slog.Logger
	im   *mapping.IndexMappingImpl

	mu      sync.RWMutex // guards idx and name against a swap after a rebuild
	idx     bleve.Index
	name    string // directory under dir; "" for the in-memory stand-in
	closed  bool
	applyMu sync.Mutex // one writer: Run, CatchUp and Rebuild take turns

	watermark   atomic.Uint64
	needRebuild atomic.Bool
}

// Open opens the index in dir, creating it when missing. An index of another
// mapping version or one that cannot be opened is rebuilt from the feed by
// the first Run or CatchUp; until then searches answer from an empty index
// and Status shows the lag.
func Open(ctx context.Context, dir string, feed core.ChangeFeed, opts Options) (*Index, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.TrimInterval == 0 {
		opts.TrimInterval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	im, err := buildMapping()
	if err != nil {
		return nil, fmt.Errorf("search: mapping: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	x := &Index{dir: dir, feed: feed, opts: opts, log: opts.Logger.With("component", "search"), im: im}

	name, err := readCurrent(dir)
	if err != nil {
		return nil, err
	}
	x.removeStale(name)
	if name != "" {
		idx, err := openScorch(filepath.Join(dir, name))
		switch {
		case err != nil:
			x.log.Warn("search index cannot be opened; it will be rebuilt", "dir", name, "err", err)
		default:
			v, verr := idx.GetInternal(keyVersion)
			wm, werr := idx.GetInternal(keyWatermark)
			if verr != nil || werr != nil || string(v) != strconv.Itoa(MappingVersion) {
				x.log.Info("search index has another mapping version; it will be rebuilt",
					"have", string(v), "want", MappingVersion)
				_ = idx.Close()
			} else {
				x.idx, x.name = idx, name
				if len(wm) == 8 {
					x.watermark.Store(binary.BigEndian.Uint64(wm))
				}
			}
		}
	}
	if x.idx == nil {
		if err := x.startEmpty(ctx); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// startEmpty puts a new, empty index in place. When the change log still
// starts at its first entry, tailing it from zero is the whole rebuild;
// otherwise (the log was trimmed) the first Run or CatchUp rebuilds from a
// full scan. Until then searches answer from what is indexed so far.
func (x *Index) startEmpty(ctx context.Context) error {
	name := "idx-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	path := filepath.Join(x.dir, name)
	idx, err := createScorch(path, x.im)
	if err != nil {
		return fmt.Errorf("search: creating index: %w", err)
	}
	b := idx.NewBatch()
	b.SetInternal(keyWatermark, binary.BigEndian.AppendUint64(nil, 0))
	b.SetInternal(keyVersion, []byte(strconv.Itoa(MappingVersion)))
	if err := idx.Batch(b); err == nil {
		err = persist(ctx, idx, 0)
	}
	if err == nil {
		err = writeCurrent(x.dir, name)
	}
	if err != nil {
		_ = idx.Close()
		_ = os.RemoveAll(path)
		return fmt.Errorf("search: creating index: %w", err)
	}
	x.idx, x.name = idx, name
	x.watermark.Store(0)
	x.removeStale(name)
	first, err := x.feed.Changes(ctx, 0, 1)
	if err != nil {
		return fmt.Errorf("search: reading changes: %w", err)
	}
	last, err := x.feed.LastChange(ctx)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	complete := last == 0 || (len(first) == 1 && first[0].Seq == 1)
	x.needRebuild.Store(!complete)
	return nil
}

func openScorch(path string) (bleve.Index, error) {
	// unsafe_batch: a batch returns once it is searchable, not once it is
	// on disk. Safe here because the watermark is written in the same batch:
	// whatever a crash loses, the index still knows how far it got.
	return bleve.OpenUsing(path, map[string]any{"unsafe_batch": true})
}

func createScorch(path string, im mapping.IndexMapping) (bleve.Index, error) {
	return bleve.NewUsing(path, im, bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore,
		map[string]any{"unsafe_batch": true})
}

func readCurrent(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, currentFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("search: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if !strings.HasPrefix(name, "idx-") || strings.ContainsAny(name, `/\`) {
		return "", nil // garbage: rebuild
	}
	return name, nil
}

func writeCurrent(dir, name string) error {
	tmp := filepath.Join(dir, currentFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(name + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, currentFile)); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// removeStale deletes index directories other than keep: leftovers of a
// rebuild that crashed, or of an old index whose removal was interrupted.
func (x *Index) removeStale(keep string) {
	ents, _ := os.ReadDir(x.dir)
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "idx-") && e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(x.dir, e.Name())); err != nil {
				x.log.Warn("cannot remove stale search index", "dir", e.Name(), "err", err)
			}
		}
	}
}

// Run tails the change log until ctx ends, then returns nil. Errors of the
// feed or the index are logged and retried with a growing pause.
func (x *Index) Run(ctx context.Context) error {
	backoff := x.opts.PollInterval
	lastTrim := time.Now()
	var trimmed uint64
	for {
		n, err := x.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Duration(0)
		switch {
		case errors.Is(err, errClosed):
			return err
		case err != nil:
			x.log.Error("search indexing failed; retrying", "err", err, "in", backoff)
			wait = backoff
			backoff = min(backoff*2, 30*time.Second)
		case n < x.opts.BatchSize:
			backoff = x.opts.PollInterval
			wait = x.opts.PollInterval
		default:
			backoff = x.opts.PollInterval
		}
		if x.opts.TrimInterval > 0 && time.Since(lastTrim) >= x.opts.TrimInterval {
			lastTrim = time.Now()
			if wm := x.watermark.Load(); wm > trimmed {
				if err := x.feed.TrimChanges(ctx, wm); err != nil {
					x.log.Warn("trimming the change log failed", "err", err)
				} else {
					trimmed = wm
				}
			}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

var errClosed = fmt.Errorf("search: index is closed: %w", core.ErrUnavailable)

// step rebuilds when needed, else applies one batch; it returns how many
// changes it applied.
func (x *Index) step(ctx context.Context) (int, error) {
	if x.needRebuild.Load() {
		if err := x.Rebuild(ctx); err != nil {
			return 0, err
		}
		return x.opts.BatchSize, nil // go on at once with what came in meanwhile
	}
	x.applyMu.Lock()
	defer x.applyMu.Unlock()
	return x.applyBatch(ctx)
}

// CatchUp applies every change pending now and returns. It rebuilds first
// when the index needs it.
func (x *Index) CatchUp(ctx context.Context) error {
	target, err := x.feed.LastChange(ctx)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := x.step(ctx)
		if err != nil {
			return err
		}
		if n == 0 || x.watermark.Load() >= target {
			return nil
		}
	}
}

// applyBatch reads up to BatchSize changes after the watermark, fetches the
// entities that still exist and writes them, the deletions of the others
// and the new watermark in one bleve batch. Re-applying a change is harmless:
// each document is rewritten from the entity's current state.
func (x *Index) applyBatch(ctx context.Context) (int, error) {
	x.mu.RLock()
	idx, closed := x.idx, x.closed
	x.mu.RUnlock()
	if closed {
		return 0, errClosed
	}
	changes, err := x.feed.Changes(ctx, x.watermark.Load(), x.opts.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("search: reading changes: %w", err)
	}
	if len(changes) == 0 {
		return 0, nil
	}
	var custIDs, interIDs []core.ID
	seenC := make(map[core.ID]bool)
	seenI := make(map[core.ID]bool)
	for _, c := range changes {
		switch c.Kind {
		case core.KindCustomer:
			if !seenC[c.ID] {
				seenC[c.ID] = true
				custIDs = append(custIDs, c.ID)
			}
		case core.KindInteraction:
			if !seenI[c.ID] {
				seenI[c.ID] = true
				interIDs = append(interIDs, c.ID)
			}
		}
	}
	var custs []core.Customer
	if len(custIDs) > 0 {
		if custs, err = x.feed.GetCustomers(ctx, custIDs); err != nil {
			return 0, fmt.Errorf("search: reading customers: %w", err)
		}
	}
	var inters []core.Interaction
	if len(interIDs) > 0 {
		if inters, err = x.feed.GetInteractions(ctx, interIDs); err != nil {
			return 0, fmt.Errorf("search: reading interactions: %w", err)
		}
	}
	names, err := x.customerNames(ctx, custs, inters)
	if err != nil {
		return 0, err
	}

	// Two batches written at once use both cores (scorch builds each
	// batch's segment on one); the watermark follows in a batch of its own
	// once both are in, so it is never ahead of the documents. Scorch
	// persists in introduction order, so that holds on disk too.
	halves := [2]*bleve.Batch{idx.NewBatch(), idx.NewBatch()}
	k := 0
	next := func() *bleve.Batch { k++; return halves[k%2] }
	for i := range custs {
		c := &custs[i]
		delete(seenC, c.ID)
		if err := next().Index(custDocID(c.ID), customerDoc(c)); err != nil {
			return 0, fmt.Errorf("search: indexing customer %d: %w", c.ID, err)
		}
	}
	for id := range seenC { // changed and gone: erased
		next().Delete(custDocID(id))
	}
	for i := range inters {
		in := &inters[i]
		delete(seenI, in.ID)
		if !textual(in) {
			continue // never indexed; interactions are not edited in place
		}
		if err := next().Index(interDocID(in.ID), interactionDoc(in, names[in.CustomerID])); err != nil {
			return 0, fmt.Errorf("search: indexing interaction %d: %w", in.ID, err)
		}
	}
	for id := range seenI {
		next().Delete(interDocID(id))
	}
	if err := batchAll(idx, halves[:]...); err != nil {
		return 0, fmt.Errorf("search: writing batch: %w", err)
	}
	wm := changes[len(changes)-1].Seq
	b := idx.NewBatch()
	b.SetInternal(keyWatermark, binary.BigEndian.AppendUint64(nil, wm))
	if err := idx.Batch(b); err != nil {
		return 0, fmt.Errorf("search: writing watermark: %w", err)
	}
	x.watermark.Store(wm)
	return len(changes), nil
}

// batchAll writes the non-empty batches concurrently.
func batchAll(idx bleve.Index, bs ...*bleve.Batch) error {
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		if b.Size() == 0 {
			continue
		}
		wg.Go(func() { errs[i] = idx.Batch(b) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// customerNames maps the customers of inters to display names, for the
// hits' subtitles, reusing custs and fetching the rest in one call.
func (x *Index) customerNames(ctx context.Context, custs []core.Customer, inters []core.Interaction) (map[core.ID]string, error) {
	names := make(map[core.ID]string)
	for i := range custs {
		names[custs[i].ID] = custs[i].DisplayName()
	}
	var missing []core.ID
	for i := range inters {
		id := inters[i].CustomerID
		if _, ok := names[id]; !ok && textual(&inters[i]) {
			names[id] = ""
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return names, nil
	}
	cs, err := x.feed.GetCustomers(ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("search: reading customers: %w", err)
	}
	for i := range cs {
		names[cs[i].ID] = cs[i].DisplayName()
	}
	return names, nil
}

// Rebuild indexes everything from scratch into a new directory and swaps it
// in. The watermark is the last change seen before the scan, so changes made
// during the rebuild are applied again afterwards (indexing is idempotent).
// Searches keep answering from the old index until the swap.
func (x *Index) Rebuild(ctx context.Context) error {
	x.applyMu.Lock()
	defer x.applyMu.Unlock()
	x.mu.RLock()
	closed := x.closed
	x.mu.RUnlock()
	if closed {
		return errClosed
	}
	start := time.Now()
	wm, err := x.feed.LastChange(ctx)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	name := "idx-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	path := filepath.Join(x.dir, name)
	idx, err := createScorch(path, x.im)
	if err != nil {
		return fmt.Errorf("search: creating index: %w", err)
	}
	var stopWriters func() error
	fail := func(err error) error {
		if stopWriters != nil {
			_ = stopWriters() // no batch may be running while the index closes
		}
		_ = idx.Close()
		_ = os.RemoveAll(path)
		return err
	}
	x.log.Info("search index rebuild started", "dir", name, "watermark", wm)

	// Names for the interactions' subtitles are collected during the
	// customer scan: calling the feed from inside a scan callback could
	// deadlock a store that holds a read transaction open while scanning.
	names := make(map[core.ID]string)
	// Full batches go to two writers so both cores build segments while
	// the scan goes on.
	work := make(chan *bleve.Batch, 2)
	writeErr := make(chan error, 2)
	for range 2 {
		go func(work <-chan *bleve.Batch) {
			var err error
			for wb := range work {
				if err == nil {
					err = idx.Batch(wb)
				}
			}
			writeErr <- err
		}(work)
	}
	stopWriters = func() error {
		if work == nil {
			return nil
		}
		close(work)
		work = nil
		return errors.Join(<-writeErr, <-writeErr)
	}
	defer func() { _ = stopWriters() }()
	b := idx.NewBatch()
	n, docs := 0, 0
	flush := func() error {
		if b.Size() == 0 {
			return nil
		}
		select {
		case work <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		b = idx.NewBatch()
		n = 0
		return nil
	}
	err = x.feed.ScanCustomers(ctx, func(c core.Customer) error {
		names[c.ID] = c.DisplayName()
		if err := b.Index(custDocID(c.ID), customerDoc(&c)); err != nil {
			return err
		}
		docs++
		if n++; n >= x.opts.BatchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("search: rebuild: %w", err))
	}
	err = x.feed.ScanAllInteractions(ctx, func(in core.Interaction) error {
		if !textual(&in) {
			return nil
		}
		if err := b.Index(interDocID(in.ID), interactionDoc(&in, names[in.CustomerID])); err != nil {
			return err
		}
		docs++
		if n++; n >= x.opts.BatchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("search: rebuild: %w", err))
	}
	if err := flush(); err != nil {
		return fail(fmt.Errorf("search: rebuild: %w", err))
	}
	if err := stopWriters(); err != nil {
		return fail(fmt.Errorf("search: rebuild: writing: %w", err))
	}
	b.SetInternal(keyWatermark, binary.BigEndian.AppendUint64(nil, wm))
	b.SetInternal(keyVersion, []byte(strconv.Itoa(MappingVersion)))
	if err := idx.Batch(b); err != nil {
		return fail(fmt.Errorf("search: rebuild: %w", err))
	}
	// Everything must be on disk before CURRENT points here.
	if err := persist(ctx, idx, wm); err != nil {
		return fail(fmt.Errorf("search: rebuild: %w", err))
	}
	if err := writeCurrent(x.dir, name); err != nil {
		return fail(fmt.Errorf("search: rebuild: %w", err))
	}

	x.mu.Lock()
	old := x.idx
	x.idx, x.name = idx, name
	x.watermark.Store(wm)
	x.needRebuild.Store(false)
	x.mu.Unlock()
	if err := old.Close(); err != nil {
		x.log.Warn("closing the old search index", "err", err)
	}
	x.removeStale(name) // the old index, and one that could not be opened
	x.log.Info("search index rebuilt", "documents", docs, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Status reports the watermark, how many changes are still to apply, the
// number of documents and the mapping version.
func (x *Index) Status(ctx context.Context) (core.IndexStatus, error) {
	last, err := x.feed.LastChange(ctx)
	if err != nil {
		return core.IndexStatus{}, fmt.Errorf("search: %w", err)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return core.IndexStatus{}, errClosed
	}
	n, err := x.idx.DocCount()
	if err != nil {
		return core.IndexStatus{}, fmt.Errorf("search: %w", err)
	}
	st := core.IndexStatus{Watermark: x.watermark.Load(), Documents: n, Version: MappingVersion}
	if last > st.Watermark {
		st.Lag = last - st.Watermark
	}
	return st, nil
}

// Close closes the index. Run returns soon after; searches fail with
// core.ErrUnavailable.
func (x *Index) Close() error {
	x.applyMu.Lock()
	defer x.applyMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	var perr error
	if x.name != "" {
		// Batches return before they reach the disk (unsafe_batch) and
		// scorch's Close does not wait for them, so flush first: a clean
		// shutdown then reopens with nothing to redo.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		perr = persist(ctx, x.idx, x.watermark.Load())
		cancel()
	}
	return errors.Join(perr, x.idx.Close())
}

// persist writes the watermark again in a batch of its own and waits until
// scorch has persisted it, and with it every batch before.
func persist(ctx context.Context, idx bleve.Index, wm uint64) error {
	done := make(chan error, 1)
	b := idx.NewBatch()
	b.SetInternal(keyWatermark, binary.BigEndian.AppendUint64(nil, wm))
	b.SetPersistedCallback(func(err error) {
		select {
		case done <- err:
		default:
		}
	})
	if err := idx.Batch(b); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the index to reach the disk: %w", ctx.Err())
	}
}
