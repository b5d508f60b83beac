package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
)

// nullTarget discards writes: it measures the parser and mapper alone (the
// store has its own benchmarks). It is a stand-in by necessity, since a real
// store would dominate the figure.
type nullTarget struct {
	*core.Service
	mu  sync.Mutex
	ids map[string]core.ID
}

func (n *nullTarget) UpsertCustomers(_ context.Context, in []core.Customer, _ string) ([]core.Customer, []bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	created := make([]bool, len(in))
	for i := range in {
		if _, ok := n.ids[in[i].ExternalID]; !ok {
			n.ids[in[i].ExternalID] = core.ID(len(n.ids) + 1)
			created[i] = true
		}
		in[i].ID = n.ids[in[i].ExternalID]
	}
	return in, created, nil
}

func (n *nullTarget) AppendInteractions(_ context.Context, in []core.Interaction) ([]core.AppendResult, error) {
	return make([]core.AppendResult, len(in)), nil
}

func (n *nullTarget) GetCustomerByExternalID(_ context.Context, id string) (core.Customer, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if v, ok := n.ids[id]; ok {
		return core.Customer{ID: v, ExternalID: id}, nil
	}
	return core.Customer{}, core.ErrNotFound
}

// BenchmarkParseOnlineRetail: set RETAIN_BENCH_LARGE=1. Reports rows/s of
// gunzip + CSV + mapping + grouping + validation of the whole file.
func BenchmarkParseOnlineRetail(b *testing.B) {
	if os.Getenv("RETAIN_BENCH_LARGE") == "" {
		b.Skip("set RETAIN_BENCH_LARGE=1")
	}
	benchFile(b, filepath.Join(dataDir(b), "online_retail", "online_retail.csv.gz"), "testdata/online_retail.toml")
}

// BenchmarkParseCDNOW is small enough to run always (whitespace format).
func BenchmarkParseCDNOW(b *testing.B) {
	benchFile(b, filepath.Join(dataDir(b), "cdnow", "CDNOW_master.txt"), "testdata/cdnow.toml")
}

func benchFile(b *testing.B, path, mappingFile string) {
	mb, err := os.ReadFile(mappingFile)
	if err != nil {
		b.Fatal(err)
	}
	m := mapping(b, string(mb))
	var rows int64
	start := time.Now()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		t := &nullTarget{Service: core.NewService(nil, nil, ""), ids: map[string]core.ID{}}
		res, err := importer.Import(context.Background(), t, f, importer.Options{Kind: core.ImportInteractions, Mapping: m})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Rows
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}
