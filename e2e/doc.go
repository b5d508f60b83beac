// Package e2e holds retain's end-to-end browser tests: they start the real
// product in process (core/app: bbolt, bleve, importer, web) on a loopback
// port with demo data, and drive Debian's headless Chromium through the
// staff UI with chromedp, as a member of staff would. The tests live in
// package e2e_test; this file only carries the package comment.
//
// They skip when Chromium is missing, unless RETAIN_REQUIRE_BROWSER=1 (as
// .ci/run sets it). RETAIN_SCREENSHOTS=1 also writes the screenshots of the
// main pages into docs/screenshots; RETAIN_E2E_ARTIFACTS=DIR keeps the
// screenshot and HTML of a failed step there.
//
// It may import anything in the module (it is a test of the whole binary).
package e2e
