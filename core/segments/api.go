package segments

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
)

// match evaluates rule over every customer, in parallel over contiguous ID
// ranges. It returns the matching IDs in order when collect is true, else
// only their count and the first sample of them.
func (m *Maintainer) match(ctx context.Context, rule core.Rule, sample int, progress func(done, total int)) (ids []core.ID, count int, err error) {
	collect := sample == 0
	needs := rule.Needs()
	rn := recordNeedsOf(rule)
	now := m.opt.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	ps := &m.profiles
	n := len(ps.ids)
	workers := max(1, min(runtime.GOMAXPROCS(0), n/20_000))
	type part struct {
		ids   []core.ID
		count int
	}
	parts := make([]part, workers)
	var done int64
	var dmu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c core.Customer
			var none core.SegmentFacts
			none.Now, none.Loc = now, m.opt.Location
			pt := &parts[w]
			m.chunked(lo, hi, &rule, needs, now, func(a, b int, facts func(core.ID) core.SegmentFacts) bool {
				if ctx.Err() != nil {
					return false
				}
				for i := a; i < b; i++ {
					p := &ps.p[i]
					if p.gone {
						continue
					}
					if rn.any {
						p.fill(&c, &ps.strs, rn)
					}
					var in bool
					if !needs.Facts {
						in = rule.Match(&c, &none)
					} else if r, known := rule.MatchRecord(&c, &none); known {
						in = r // decided by the record: no facts lookup
					} else {
						ff := facts(ps.ids[i])
						in = rule.Match(&c, &ff)
					}
					if in {
						pt.count++
						if collect || len(pt.ids) < sample {
							pt.ids = append(pt.ids, ps.ids[i])
						}
					}
				}
				if progress != nil {
					dmu.Lock()
					done += int64(b - a)
					progress(int(done), n)
					dmu.Unlock()
				}
				return true
			})
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	for _, pt := range parts {
		count += pt.count
		if collect || len(ids) < sample {
			ids = append(ids, pt.ids...)
		}
	}
	if !collect && len(ids) > sample {
		ids = ids[:sample]
	}
	return ids, count, nil
}

// errLoading answers while the first build runs.
var errLoading = fmt.Errorf("%w: segments are still loading; try again in a moment", core.ErrUnavailable)

// Preview counts an unsaved rule over all customers now (the live count of
// the rule editor) and returns up to sample member IDs.
func (m *Maintainer) Preview(ctx context.Context, rule core.Rule, sample int) (core.SegmentPreview, error) {
	if err := rule.Validate("rule"); err != nil {
		return core.SegmentPreview{}, err
	}
	if !m.Ready() {
		return core.SegmentPreview{}, errLoading
	}
	start := time.Now()
	ids, n, err := m.match(ctx, rule, max(sample, 1), nil)
	if err != nil {
		return core.SegmentPreview{}, err
	}
	if sample <= 0 {
		ids = nil
	}
	m.mu.RLock()
	total := m.profiles.len()
	m.mu.RUnlock()
	pv := core.SegmentPreview{Count: n, Total: total, Sample: ids, Took: time.Since(start)}
	if pv.Sample == nil {
		pv.Sample = []core.ID{}
	}
	if m.facts != nil && rule.Needs().Facts && !m.facts.Status().Ready {
		pv.Partial = true
	}
	return pv, nil
}

// List returns the saved segments with their current counts.
func (m *Maintainer) List(ctx context.Context) ([]core.Segment, error) {
	segs, err := m.st.ListSegments(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i := range segs {
		if st := m.segs[segs[i].ID]; st != nil && !st.seg.ComputedAt.IsZero() {
			segs[i].Count, segs[i].ComputedAt = len(st.members), st.seg.ComputedAt
		}
	}
	return segs, nil
}

// Get returns one segment.
func (m *Maintainer) Get(ctx context.Context, id core.ID) (core.Segment, error) {
	s, err := m.st.GetSegment(ctx, id)
	if err != nil {
		return s, err
	}
	m.mu.RLock()
	if st := m.segs[id]; st != nil && !st.seg.ComputedAt.IsZero() {
		s.Count, s.ComputedAt = len(st.members), st.seg.ComputedAt
	}
	m.mu.RUnlock()
	return s, nil
}

// Progress reports a running full evaluation of segment id (0..1); ok is
// false when none runs (and none is queued).
func (m *Maintainer) Progress(id core.ID) (float64, bool) {
	m.workMu.Lock()
	_, queued := m.recompute[id]
	m.workMu.Unlock()
	m.mu.RLock()
	st := m.segs[id]
	m.mu.RUnlock()
	if st != nil {
		if p, _ := st.progress.Load().(float64); p >= 0 {
			return p, true
		}
	}
	return 0, queued || !m.Ready()
}

// Create saves a new segment and queues its evaluation over everyone.
func (m *Maintainer) Create(ctx context.Context, s core.Segment) (core.Segment, error) {
	now := m.opt.Now().UTC()
	s.ID, s.CreatedAt, s.UpdatedAt, s.Count, s.ComputedAt = 0, now, now, 0, time.Time{}
	s, err := m.st.CreateSegment(ctx, s)
	if err != nil {
		return s, err
	}
	m.adopt(s)
	return s, nil
}

// Update replaces a segment's name, description and rule; a changed rule
// is evaluated again over everyone.
func (m *Maintainer) Update(ctx context.Context, id core.ID, name, description string, rule core.Rule) (core.Segment, error) {
	now := m.opt.Now().UTC()
	s, err := m.st.UpdateSegment(ctx, id, func(s *core.Segment) error {
		s.Name, s.Description, s.Rule, s.UpdatedAt = name, description, rule, now
		return nil
	})
	if err != nil {
		return s, err
	}
	m.adopt(s)
	return s, nil
}

// adopt installs a saved segment and queues its full evaluation. Members
// already known are kept so that the diff written is small.
func (m *Maintainer) adopt(s core.Segment) {
	m.mu.Lock()
	st := newState(s)
	if old := m.segs[s.ID]; old != nil {
		st.members = old.members
	}
	m.segs[s.ID] = st
	m.mu.Unlock()
	m.requeue(s.ID)
	m.poke()
}

// Delete removes a segment and its membership.
func (m *Maintainer) Delete(ctx context.Context, id core.ID) error {
	if err := m.st.DeleteSegment(ctx, id); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.segs, id)
	m.mu.Unlock()
	return nil
}

// Members pages a segment's members (IDs in ID order) from the store.
func (m *Maintainer) Members(ctx context.Context, id core.ID, cursor string, limit int) (core.Page[core.ID], error) {
	return m.st.ListSegmentMembers(ctx, id, cursor, limit)
}

// Filter returns a membership test for the analytics engine's queries
// (MetricsQuery.Filter and friends). It reads the live in-memory set.
func (m *Maintainer) Filter(id core.ID) (func(core.ID) bool, error) {
	m.mu.RLock()
	st := m.segs[id]
	m.mu.RUnlock()
	if st == nil {
		if !m.Ready() {
			return nil, errLoading
		}
		return nil, core.NotFoundf("segment %d", id)
	}
	return func(c core.ID) bool {
		m.mu.RLock()
		_, ok := st.members[c]
		m.mu.RUnlock()
		return ok
	}, nil
}

// ExportHeader is the first row of ExportCSV.
var ExportHeader = []string{"retain_id", "external_id", "name", "email", "phone", "orders", "revenue",
	"first_purchase", "last_purchase", "rfm_segment", "p_alive", "clv"}

// ExportCSV streams the segment's members as CSV: who they are and their
// key facts. Text cells are neutralized against spreadsheet formulas like
// every export of retain. It returns how many rows it wrote.
func (m *Maintainer) ExportCSV(ctx context.Context, id core.ID, w io.Writer) (int, error) {
	if _, err := m.st.GetSegment(ctx, id); err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(ExportHeader); err != nil {
		return 0, err
	}
	n := 0
	cursor := ""
	row := make([]string, 0, len(ExportHeader))
	for {
		page, err := m.st.ListSegmentMembers(ctx, id, cursor, 1000)
		if err != nil {
			return n, err
		}
		custs, err := m.st.GetCustomers(ctx, page.Items)
		if err != nil {
			return n, err
		}
		slices.SortFunc(custs, func(a, b core.Customer) int { return cmp.Compare(a.ID, b.ID) })
		for i := range custs {
			c := &custs[i]
			email, phone := "", ""
			if len(c.Emails) > 0 {
				email = c.Emails[0]
			}
			if len(c.Phones) > 0 {
				phone = c.Phones[0]
			}
			row = append(row[:0], c.ID.String(), importer.Neutralize(c.ExternalID), importer.Neutralize(c.Name),
				importer.Neutralize(email), importer.Neutralize(phone))
			if f, ok := m.engineFacts(c.ID); ok {
				row = append(row, strconv.Itoa(f.Orders), strconv.FormatInt(f.Revenue, 10), day(f.FirstPurchase),
					day(f.LastPurchase), f.RFMSegment, model(f.PAlive, 4), model(f.CLV, 0))
			} else {
				row = append(row, "0", "0", "", "", "", "", "")
			}
			if err := cw.Write(row); err != nil {
				return n, err
			}
			n++
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

type rawFacts struct {
	Orders                      int
	Revenue                     int64
	FirstPurchase, LastPurchase time.Time
	RFMSegment                  string
	PAlive, CLV                 float64
}

func (m *Maintainer) engineFacts(id core.ID) (rawFacts, bool) {
	if m.facts == nil {
		return rawFacts{}, false
	}
	f, ok := m.facts.Facts(id)
	if !ok {
		return rawFacts{}, false
	}
	return rawFacts{f.Orders, f.Revenue, f.FirstPurchase, f.LastPurchase, f.RFMSegment, f.PAlive, f.CLV}, true
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// model formats a prediction; negative means "no trusted model".
func model(v float64, prec int) string {
	if v < 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// Query returns, in ID order, up to limit (1..1000; 0 means 100) customers
// matching rule whose ID sorts after cursor, and the cursor of the next
// page ("" at the end). The plugin Host API answers QueryCustomers with
// it. Each page evaluates the rule over everyone (as Preview does), which
// is milliseconds at 100k customers.
func (m *Maintainer) Query(ctx context.Context, rule core.Rule, cursor string, limit int) ([]core.ID, string, error) {
	if err := rule.Validate("rule"); err != nil {
		return nil, "", err
	}
	if !m.Ready() {
		return nil, "", errLoading
	}
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 1000:
		return nil, "", core.FieldErr("limit", "must be between 1 and 1000")
	}
	var after core.ID
	if cursor != "" {
		id, err := core.ParseID(cursor)
		if err != nil {
			return nil, "", core.FieldErr("cursor", "not a cursor from a previous page")
		}
		after = id
	}
	ids, _, err := m.match(ctx, rule, 0, nil)
	if err != nil {
		return nil, "", err
	}
	slices.Sort(ids)
	i, _ := slices.BinarySearch(ids, after+1)
	ids = ids[i:]
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1].String()
	}
	return ids, next, nil
}
