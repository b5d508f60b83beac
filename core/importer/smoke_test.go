package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
	"github.com/retain-crm/retain/store"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := core.NewService(db, nil, "")
	for _, c := range []struct{ file, mapping string }{
		{"../../../shared/data/online_retail/online_retail.csv.gz", "testdata/online_retail.toml"},
		{"../../../shared/data/cdnow/CDNOW_master.txt", "testdata/cdnow.toml"},
	} {
		mb, _ := os.ReadFile(c.mapping)
		m, err := importer.ParseMapping(string(mb))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(c.file)
		if err != nil {
			t.Fatal(err)
		}
		st := time.Now()
		res, err := importer.Import(ctx, importer.ForService(svc), f, importer.Options{Kind: core.ImportInteractions, Mapping: m, Currency: "USD"})
		f.Close()
		t.Logf("%s: %v err=%v prog=%+v det=%+v cols=%v", c.file, time.Since(st), err, res.Progress, res.Detection, res.Columns)
		reasons := map[string]int{}
		for _, e := range res.Errors {
			reasons[e.Field+": "+e.Reason]++
		}
		t.Logf("reasons(first %d): %v", len(res.Errors), reasons)
	}
}
