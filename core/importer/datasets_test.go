package importer_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
)

// dataDir is ../shared/data relative to the repository root.
func dataDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("datasets not present at %s", d)
	}
	return d
}

func importFile(t testing.TB, e *env, path, mappingFile string) importer.Result {
	t.Helper()
	mb, err := os.ReadFile(mappingFile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	res, err := importer.Import(context.Background(), e.t, f, importer.Options{
		Kind: core.ImportInteractions, Mapping: mapping(t, string(mb)), Currency: "USD", Size: st.Size(),
	})
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return res
}

// TestOnlineRetail imports the whole Online Retail file with the mapping of
// docs/import.md and checks the counts against ones computed here with
// encoding/csv alone.
func TestOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("large dataset")
	}
	path := filepath.Join(dataDir(t), "online_retail", "online_retail.csv.gz")
	// Independent counts.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bufio.NewReader(zr))
	cr.Read()
	var rows, noCustomer, negPrice int64
	invoices := map[string]bool{}
	refunds := map[string]bool{}
	customers := map[string]bool{}
	for {
		r, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows++
		if r[6] == "" {
			noCustomer++
			continue
		}
		if strings.HasPrefix(r[5], "-") {
			negPrice++
			continue
		}
		invoices[r[0]] = true
		customers[r[6]] = true
		if strings.HasPrefix(r[0], "C") {
			refunds[r[0]] = true
		}
	}
	f.Close()

	e := newEnv(t)
	res := importFile(t, e, path, filepath.Join("testdata", "online_retail.toml"))
	if res.Rows != rows || res.Rejected != noCustomer+negPrice || res.Stored != int64(len(invoices)) || res.Duplicates != 0 ||
		res.CustomersCreated != int64(len(customers)) {
		t.Errorf("got %+v; want rows %d, rejected %d (no customer %d), stored %d, customers %d",
			res.Progress, rows, noCustomer+negPrice, noCustomer, len(invoices), len(customers))
	}
	if res.Errors[0].Reason != "missing customer id" || len(res.Errors) != core.MaxJobErrors {
		t.Errorf("first error %+v, %d errors", res.Errors[0], len(res.Errors))
	}
	var nRefund int
	ctx := context.Background()
	e.db.ScanAllInteractions(ctx, func(in core.Interaction) error {
		if in.Type == core.TypeRefund {
			nRefund++
		}
		return nil
	})
	if nRefund != len(refunds) {
		t.Errorf("%d refunds, want %d", nRefund, len(refunds))
	}
	c := e.customer(t, "17850")
	if c.Address.Country != "United Kingdom" {
		t.Errorf("customer 17850 = %+v", c)
	}
	// The same file again: nothing new.
	res = importFile(t, e, path, filepath.Join("testdata", "online_retail.toml"))
	if res.Stored != 0 || res.Duplicates != int64(len(invoices)) {
		t.Errorf("second run %+v", res.Progress)
	}
}

// TestCDNOW imports the whitespace-separated CDNOW master file.
func TestCDNOW(t *testing.T) {
	path := filepath.Join(dataDir(t), "cdnow", "CDNOW_master.txt")
	e := newEnv(t)
	res := importFile(t, e, path, filepath.Join("testdata", "cdnow.toml"))
	if res.Rows != 69659 || res.Stored != 69659 || res.Rejected != 0 || res.CustomersCreated != 23570 {
		t.Errorf("got %+v, errors %v", res.Progress, res.Errors)
	}
	n, _ := e.db.CountInteractions(context.Background())
	if n != 69659 {
		t.Errorf("%d interactions stored", n)
	}
	var total int64
	e.db.ScanAllInteractions(context.Background(), func(in core.Interaction) error {
		total += in.Amount
		return nil
	})
	if total != 250031563 { // US$2,500,315.63 per SOURCE.md
		t.Errorf("total %d cents", total)
	}
	// Without a mapping, detection and guessing find the same columns.
	pv, err := importer.DryRun(context.Background(), e.svc, mustOpen(t, path), importer.Options{Kind: core.ImportInteractions, Currency: "USD"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !pv.Detection.Header || pv.Detection.Delimiter != importer.DelimWhitespace || len(pv.Interactions) != 5 || pv.Interactions[0].Amount != 1177 {
		t.Errorf("dry run without mapping: %+v", pv)
	}
	res = importFile(t, e, path, filepath.Join("testdata", "cdnow.toml"))
	if res.Stored != 0 || res.Duplicates != 69659 {
		t.Errorf("second run %+v", res.Progress)
	}
}

func mustOpen(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
