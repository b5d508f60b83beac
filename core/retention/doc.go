// Package retention computes retention analytics from interactions: the
// per-customer summaries (x, t_x, T, mean spend) of the buy-till-you-die
// literature, the BG/NBD purchase model and the Gamma-Gamma spend model
// with predicted customer lifetime value, holdout validation, a guard that
// says when a fit is too weak to show, RFM scores and segments, acquisition
// cohorts and the per-period retention metrics.
//
// It is pure computation: it takes interactions as an iterator and returns
// values a UI or API can show. It imports the standard library and core
// only; storage, HTTP and scheduling live elsewhere. docs/analytics.md
// explains every number, its formula and how far to trust it.
package retention
