package analytics

import (
	"slices"
)

// rankSet is a multiset of int64 that answers "how many values are less
// than v" while values come and go: sorted blocks of at most 2·blockSize
// values with their counts. Add, Remove and Less cost O(blockSize +
// blocks), a few microseconds at a million values, so the RFM scores of
// the customers who changed are exact at once instead of waiting for a
// nightly re-sort.
type rankSet struct {
	blocks [][]int64
	n      int
	// prefix[i] counts the values in blocks before i; valid unless dirty.
	// Writers call fix after a batch of changes, so readers (under the
	// engine's read lock) never write.
	prefix []int
	dirty  bool
}

const blockSize = 1024

// newRankSet bulk-loads vals (sorted in place).
func newRankSet(vals []int64) *rankSet {
	slices.Sort(vals)
	r := &rankSet{n: len(vals)}
	for i := 0; i < len(vals); i += blockSize {
		r.blocks = append(r.blocks, slices.Clone(vals[i:min(i+blockSize, len(vals))]))
	}
	r.fix()
	return r
}

// fix recomputes the block prefix counts after changes.
func (r *rankSet) fix() {
	r.prefix = r.prefix[:0]
	n := 0
	for _, b := range r.blocks {
		r.prefix = append(r.prefix, n)
		n += len(b)
	}
	r.dirty = false
}

// block returns the index of the block where v belongs.
func (r *rankSet) block(v int64) int {
	i, _ := slices.BinarySearchFunc(r.blocks, v, func(b []int64, v int64) int {
		if b[len(b)-1] < v {
			return -1
		}
		return 1
	})
	return min(i, len(r.blocks)-1)
}

func (r *rankSet) Add(v int64) {
	r.n++
	r.dirty = true
	if len(r.blocks) == 0 {
		r.blocks = [][]int64{{v}}
		return
	}
	bi := r.block(v)
	b := r.blocks[bi]
	j, _ := slices.BinarySearch(b, v)
	b = slices.Insert(b, j, v)
	if len(b) > 2*blockSize {
		half := slices.Clone(b[blockSize:])
		b = b[:blockSize:blockSize]
		r.blocks = slices.Insert(r.blocks, bi+1, half)
	}
	r.blocks[bi] = b
}

func (r *rankSet) Remove(v int64) {
	if len(r.blocks) == 0 {
		return
	}
	bi := r.block(v)
	b := r.blocks[bi]
	j, found := slices.BinarySearch(b, v)
	if !found {
		return
	}
	r.n--
	r.dirty = true
	b = slices.Delete(b, j, j+1)
	if len(b) == 0 {
		r.blocks = slices.Delete(r.blocks, bi, bi+1)
		return
	}
	r.blocks[bi] = b
}

// Less counts the values strictly below v.
func (r *rankSet) Less(v int64) int {
	if !r.dirty && len(r.blocks) > 0 {
		bi := r.block(v)
		j, _ := slices.BinarySearch(r.blocks[bi], v)
		return r.prefix[bi] + j
	}
	n := 0
	for _, b := range r.blocks {
		if b[len(b)-1] < v {
			n += len(b)
			continue
		}
		j, _ := slices.BinarySearch(b, v)
		return n + j
	}
	return n
}

func (r *rankSet) Len() int { return r.n }
