package analytics

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/retain-crm/retain/core"
)

// TestRankSet compares the block multiset with a plain sorted slice over a
// random stream of adds and removes, duplicates included.
func TestRankSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ref []int64
	init := make([]int64, 3000)
	for i := range init {
		init[i] = int64(rng.IntN(500))
	}
	ref = slices.Clone(init)
	r := newRankSet(init)
	slices.Sort(ref)
	for step := 0; step < 20000; step++ {
		v := int64(rng.IntN(600)) - 50
		if rng.IntN(2) == 0 {
			r.Add(v)
			i, _ := slices.BinarySearch(ref, v)
			ref = slices.Insert(ref, i, v)
		} else {
			r.Remove(v)
			if i, ok := slices.BinarySearch(ref, v); ok {
				ref = slices.Delete(ref, i, i+1)
			}
		}
		if step%5 == 0 {
			r.fix()
		}
		if step%97 == 0 {
			q := int64(rng.IntN(700)) - 100
			want, _ := slices.BinarySearch(ref, q)
			if got := r.Less(q); got != want || r.Len() != len(ref) {
				t.Fatalf("step %d: Less(%d) = %d, want %d; len %d, want %d", step, q, got, want, r.Len(), len(ref))
			}
		}
	}
	empty := newRankSet(nil)
	empty.Remove(3)
	if empty.Less(5) != 0 || empty.Len() != 0 {
		t.Error("empty set")
	}
}

// TestSlotIndex checks the dense/sparse id index against a map over random
// dense and huge ids, with deletions.
func TestSlotIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	s := newState()
	ref := map[core.ID]bool{}
	peak := 0
	for step := 0; step < 20000; step++ {
		peak = max(peak, len(s.cs))
		var id core.ID
		switch rng.IntN(4) {
		case 0:
			id = core.ID(rng.Uint64())
		default:
			id = core.ID(1 + rng.IntN(5000+step*10))
		}
		if rng.IntN(3) == 0 {
			s.remove(id)
			delete(ref, id)
		} else {
			s.get(id, true)
			ref[id] = true
		}
	}
	if len(s.cs) != len(ref) {
		t.Fatalf("%d slots, want %d", len(s.cs), len(ref))
	}
	for id := range ref {
		c := s.get(id, false)
		if c == nil || c.id != id {
			t.Fatalf("id %d: %v", id, c)
		}
	}
	for i, c := range s.cs {
		if j, ok := s.idx.get(c.id); !ok || int(j) != i {
			t.Fatalf("slot %d of %d maps to %d", i, c.id, j)
		}
	}
	if len(s.idx.dense) > (4*peak+1<<16)*5/4+1 {
		t.Errorf("dense index of %d for at most %d customers", len(s.idx.dense), peak)
	}
}
