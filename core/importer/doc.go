// Package importer brings customers and interactions in from CSV and JSONL
// files (plain or gzip-compressed, in UTF-8, UTF-16 or a legacy Windows code
// page) and writes them out again for export.
//
// It detects what it can (encoding, CSV or JSONL, the delimiter including
// whitespace-separated columns, a header row), maps columns to fields with a
// small TOML mapping or by guessing from common header names, groups the lines
// of one order into one interaction, and writes through Target, an interface
// that *core.Service satisfies (see ForService). Every row is either stored or
// rejected with its line number and a reason; the run never stops at a bad row.
// Imports are idempotent: customers by external id, interactions by an
// idempotency key derived from the file (see docs/import.md), so importing a
// file twice, or again after a crash, stores everything once.
//
// Manager runs imports as background jobs for the server and persists their
// progress through core.ImportJobs.
//
// It imports the standard library, core, golang.org/x/text (legacy encodings)
// and BurntSushi/toml (mapping files). It must not import store/ or search/;
// only its external tests (package importer_test) use the real store.
package importer
