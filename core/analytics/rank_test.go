package analytics

import (
	"math/rand/v2"
	"slices"
	"testing"
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
