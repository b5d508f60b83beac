package importer_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
)

// checkPreview asserts the fuzz invariant: no panic, and every data row is
// either a customer or a rejected row with a line number.
func checkPreview(t *testing.T, data []byte) {
	svc := core.NewService(nil, nil, "")
	opts := importer.Options{Kind: core.ImportCustomers, MaxRecordBytes: 4096, MaxFieldBytes: 1024}
	pv, err := importer.DryRun(context.Background(), svc, bytes.NewReader(data), opts, 1<<20)
	if err != nil {
		return // a file-level refusal (empty, no external_id column) is fine
	}
	if int(pv.Rows) != len(pv.Customers)+len(pv.Errors) {
		t.Fatalf("%d rows, %d customers, %d rejected", pv.Rows, len(pv.Customers), len(pv.Errors))
	}
	for _, e := range pv.Errors {
		if e.Line < 1 || e.Reason == "" {
			t.Fatalf("rejected row without line or reason: %+v", e)
		}
	}
	// The interactions path must not panic either.
	importer.DryRun(context.Background(), svc, bytes.NewReader(data),
		importer.Options{Kind: core.ImportInteractions, Currency: "EUR", MaxRecordBytes: 4096}, 1<<20)
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"external_id,name\na,A\n",
		"id;name;email\n1;x;x@example.com\n2;\"y\n\";bad\n",
		"customer_id,order_id,date,price,qty\n1,o1,2024-01-01,1.5,2\n1,o1,2024-01-01,-1,2\n",
		" 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n",
		"\xef\xbb\xbfexternal_id\tname\n\"a\"\"b\"\t\x00\n",
		"\xff\xfei\x00d\x00\n\x001\x00\n\x00",
		"external_id,name\n\"unterminated\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkPreview(t, data) })
}

func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"external_id":"a","name":"A","tags":["x","y"],"address":{"city":"Oslo"}}` + "\n",
		`{"customer_id":"u1","type":"note","time":"2024-05-01T10:00:00Z","items":[{"sku":"a","quantity":2,"unit_price":"1.5"}]}` + "\n",
		"{}\n[]\n{\"a\":{\"b\":{\"c\":[1,{\"d\":2}]}}}\nnull\n",
		`{"external_id":1e400}` + "\n" + `{"external_id":"x","consent":{"email":"maybe"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkPreview(t, data) })
}
