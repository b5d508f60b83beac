package search

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/retain-crm/retain/core"
)

// memFeed is an in-memory core.ChangeFeed. It stands in for the store only to
// keep this package's tests independent of it (search must not import
// store); the real store+search pair is exercised in core/app's integration
// tests.
type memFeed struct {
	mu      sync.Mutex
	seq     uint64
	nextID  core.ID
	log     []core.Change
	custs   map[core.ID]core.Customer
	inters  map[core.ID]core.Interaction
	trimmed uint64
}

func newMemFeed() *memFeed {
	return &memFeed{custs: map[core.ID]core.Customer{}, inters: map[core.ID]core.Interaction{}}
}

func (f *memFeed) record(k core.EntityKind, id, cid core.ID, del bool) {
	f.seq++
	f.log = append(f.log, core.Change{Seq: f.seq, Kind: k, ID: id, CustomerID: cid, Deleted: del})
}

// addCustomer stores c (assigning an ID when it has none) and logs it.
func (f *memFeed) addCustomer(c core.Customer) core.Customer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.ID == 0 {
		f.nextID++
		c.ID = f.nextID
	}
	f.custs[c.ID] = c
	f.record(core.KindCustomer, c.ID, c.ID, false)
	return c
}

func (f *memFeed) addInteraction(in core.Interaction) core.Interaction {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.ID == 0 {
		f.nextID++
		in.ID = f.nextID
	}
	if in.Time.IsZero() {
		in.Time = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	}
	f.inters[in.ID] = in
	if c, ok := f.custs[in.CustomerID]; ok && in.Time.After(c.LastSeen) {
		c.LastSeen = in.Time
		f.custs[c.ID] = c
		f.record(core.KindCustomer, c.ID, c.ID, false)
	}
	f.record(core.KindInteraction, in.ID, in.CustomerID, false)
	return in
}

// erase removes a customer and their interactions, logging every deletion.
func (f *memFeed) erase(id core.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for iid, in := range f.inters {
		if in.CustomerID == id {
			delete(f.inters, iid)
			f.record(core.KindInteraction, iid, id, true)
		}
	}
	delete(f.custs, id)
	f.record(core.KindCustomer, id, id, true)
}

func (f *memFeed) Changes(_ context.Context, after uint64, limit int) ([]core.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, _ := slices.BinarySearchFunc(f.log, after+1, func(c core.Change, seq uint64) int {
		return cmp.Compare(c.Seq, seq)
	})
	end := min(len(f.log), i+limit)
	return slices.Clone(f.log[i:end]), nil
}

func (f *memFeed) LastChange(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seq, nil
}

func (f *memFeed) TrimChanges(_ context.Context, upTo uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = slices.DeleteFunc(f.log, func(c core.Change) bool { return c.Seq <= upTo })
	f.trimmed = max(f.trimmed, upTo)
	return nil
}

func (f *memFeed) GetCustomers(_ context.Context, ids []core.ID) ([]core.Customer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []core.Customer
	for _, id := range ids {
		if c, ok := f.custs[id]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *memFeed) GetInteractions(_ context.Context, ids []core.ID) ([]core.Interaction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []core.Interaction
	for _, id := range ids {
		if in, ok := f.inters[id]; ok {
			out = append(out, in)
		}
	}
	return out, nil
}

func (f *memFeed) ScanCustomers(ctx context.Context, fn func(core.Customer) error) error {
	f.mu.Lock()
	cs := make([]core.Customer, 0, len(f.custs))
	for _, c := range f.custs {
		cs = append(cs, c)
	}
	f.mu.Unlock()
	slices.SortFunc(cs, func(a, b core.Customer) int { return int(a.ID) - int(b.ID) })
	for _, c := range cs {
		if err := fn(c); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (f *memFeed) ScanAllInteractions(ctx context.Context, fn func(core.Interaction) error) error {
	f.mu.Lock()
	is := make([]core.Interaction, 0, len(f.inters))
	for _, in := range f.inters {
		is = append(is, in)
	}
	f.mu.Unlock()
	slices.SortFunc(is, func(a, b core.Interaction) int { return int(a.ID) - int(b.ID) })
	for _, in := range is {
		if err := fn(in); err != nil {
			return err
		}
	}
	return ctx.Err()
}
