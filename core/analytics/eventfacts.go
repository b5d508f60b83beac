package analytics

import "github.com/retain-crm/retain/core"

// EventFacts is Facts without the scores: purchases, revenue, first and
// last purchase, Count and Last, but PAlive and CLV −1 and no RFM scores.
// A segment rule on events alone (the live count while a rule is edited
// runs it for every customer) needs no more, and the scores are most of
// the cost of a Facts call. Added for core/segments.
func (e *Engine) EventFacts(id core.ID) (Facts, bool) { return e.factsOf(id, false) }
