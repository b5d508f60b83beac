package analytics

// Every test exercises the split-and-merge paths, even on a few customers.
func init() { parallelMin = 4 }
