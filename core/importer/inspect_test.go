package importer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
)

func TestInspect(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mapping := func(s string) *importer.Mapping {
		m, err := importer.ParseMapping(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := []struct {
		name    string
		kind    core.ImportKind
		file    []byte
		mapping *importer.Mapping
		rows    int
		guess   map[int]string // column → field
		problem string
		err     string
	}{
		{name: "csv with header", kind: core.ImportCustomers, file: read("customers_basic.csv"), rows: 6,
			guess: map[int]string{0: "external_id", 1: "first_name", 3: "email", 5: "address.city", 8: "attributes.plan", 9: "consent.email"}},
		{name: "orders as interactions", kind: core.ImportInteractions, file: read("interactions_orders.csv"), rows: 7,
			guess: map[int]string{0: "order_key", 4: "time", 6: "customer_external_id", 7: "customer.address.country"}},
		{name: "jsonl", kind: core.ImportCustomers, file: read("customers.jsonl"), rows: 5, guess: map[int]string{}},
		{name: "nothing to match by", kind: core.ImportCustomers, file: []byte("colour,size\nred,1\n"), rows: 1,
			guess: map[int]string{0: "", 1: ""}, problem: "external_id"},
		{name: "explicit mapping wins", kind: core.ImportCustomers, file: []byte("a,b\nx,y\n"),
			mapping: mapping("guess = false\n[columns]\nexternal_id = 2\nname = 1\n"), rows: 2, guess: map[int]string{0: "name", 1: "external_id"}},
		{name: "mapping names a missing column", kind: core.ImportCustomers, file: []byte("external_id,b\nx,y\n"),
			mapping: mapping("[columns]\nname = 7\n"), rows: 1, guess: map[int]string{0: "external_id"}, problem: "column 7 does not exist"},
		{name: "header forced off", kind: core.ImportCustomers, file: []byte("external_id,name\nx,y\n"),
			mapping: mapping("header = false\n"), rows: 2, guess: map[int]string{0: ""}, problem: "external_id"},
		{name: "binary", kind: core.ImportCustomers, file: []byte("PK\x03\x04\x00\x00binary"), err: "not a text file"},
		{name: "control characters", kind: core.ImportCustomers, file: bytes.Repeat([]byte("a\x01,b\x02\n"), 40), err: "does not look like a text file"},
		{name: "empty", kind: core.ImportCustomers, file: nil, err: "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := importer.Inspect(context.Background(), bytes.NewReader(tc.file), importer.Options{Kind: tc.kind, Mapping: tc.mapping}, 10)
			if tc.err != "" {
				if err == nil || !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want invalid with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ins.Rows) != tc.rows {
				t.Errorf("%d rows, want %d", len(ins.Rows), tc.rows)
			}
			if len(ins.Guess) != len(ins.Detection.Columns) {
				t.Fatalf("guess has %d entries for %d columns", len(ins.Guess), len(ins.Detection.Columns))
			}
			for _, r := range ins.Rows {
				if len(r.Cells) != len(ins.Detection.Columns) && r.Reason == "" {
					t.Errorf("line %d: %d cells for %d columns", r.Line, len(r.Cells), len(ins.Detection.Columns))
				}
			}
			for i, f := range tc.guess {
				if ins.Guess[i] != f {
					t.Errorf("column %d (%s) guessed %q, want %q", i, ins.Detection.Columns[i], ins.Guess[i], f)
				}
			}
			if !strings.Contains(ins.Problem, tc.problem) || (tc.problem == "") != (ins.Problem == "") {
				t.Errorf("problem %q, want %q", ins.Problem, tc.problem)
			}
		})
	}
}
