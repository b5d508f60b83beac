package analytics

// Every test exercises the split-and-merge paths, even on a few customers.
func init() { parallelMin = 4 }

// DropPredictions forgets the prediction table, so Facts computes P(alive)
// and CLV lazily (the path taken before the table is built).
func (e *Engine) DropPredictions() { e.preds.Store(nil) }

// SetPredInline sets the size above which a refit computes the table in
// the background; it returns the old value.
func SetPredInline(n int) int { old := predInline; predInline = n; return old }
