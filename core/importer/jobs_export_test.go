package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
)

var quiet = slog.New(slog.DiscardHandler)

func writeFile(t testing.TB, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload.csv")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestManager(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m := importer.NewManager(e.db, e.t, importer.ManagerOptions{Logger: quiet, Currency: "EUR", TimeZone: "UTC"})
	defer m.Close()

	path := writeFile(t, "external_id,name,email\na,A,a@example.com\n,No id,\nb,B,bad\nc,C,\n")
	job, err := m.Start(ctx, core.ImportJob{Kind: core.ImportCustomers, FileName: "people.csv", FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	m.Wait()
	job, err = m.Get(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != core.ImportDone || job.Rows != 4 || job.Stored != 2 || job.Rejected != 2 || len(job.Errors) != 2 ||
		job.Errors[0].Line != 3 || job.Format != "csv" || job.SizeBytes == 0 || job.BytesRead != job.SizeBytes || job.FinishedAt.IsZero() {
		t.Errorf("job = %+v", job)
	}
	rp, err := m.RejectedPath(ctx, job.ID)
	if err != nil || rp != path+importer.RejectedSuffix {
		t.Fatalf("rejected path %q %v", rp, err)
	}
	b, _ := os.ReadFile(rp)
	recs, _ := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if len(recs) != 3 || recs[1][3] != "3" {
		t.Errorf("rejected file %q", recs)
	}
	if err := m.Cancel(ctx, job.ID); !errors.Is(err, core.ErrConflict) {
		t.Errorf("cancel a finished job: %v", err)
	}
	list, _ := m.List(ctx, 10)
	if len(list) != 1 {
		t.Errorf("list %+v", list)
	}

	// A bad mapping is refused at start; a missing file too.
	if _, err := m.Start(ctx, core.ImportJob{Kind: core.ImportCustomers, FilePath: path, Mapping: "nope = 1"}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("bad mapping: %v", err)
	}
	if _, err := m.Start(ctx, core.ImportJob{Kind: core.ImportCustomers, FilePath: path + ".gone"}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("missing file: %v", err)
	}
	// A file that cannot be imported fails the job with a message.
	job, _ = m.Start(ctx, core.ImportJob{Kind: core.ImportCustomers, FilePath: writeFile(t, "")})
	m.Wait()
	job, _ = m.Get(ctx, job.ID)
	if job.State != core.ImportFailed || !strings.Contains(job.Message, "empty") {
		t.Errorf("empty file job = %+v", job)
	}
}

func bigFile(n int) string {
	var b strings.Builder
	b.WriteString("customer_id,date,amount\n")
	for i := range n {
		b.WriteString(itoa(i%1000) + ",2024-01-02," + itoa(i%50) + ".5\n")
	}
	return b.String()
}

func TestManagerCancelAndResume(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	path := writeFile(t, bigFile(30000))
	m := importer.NewManager(e.db, e.t, importer.ManagerOptions{Logger: quiet, Currency: "EUR", BatchSize: 1000})
	job, err := m.Start(ctx, core.ImportJob{Kind: core.ImportInteractions, FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Cancel(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	m.Wait()
	job, _ = m.Get(ctx, job.ID)
	if job.State != core.ImportCancelled {
		t.Errorf("after cancel: %+v", job)
	}

	// A job stopped by shutdown stays running and is resumed by the next
	// manager; the file ends up stored exactly once.
	job2, err := m.Start(ctx, core.ImportJob{Kind: core.ImportInteractions, FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	m.Close()
	j, _ := m.Get(ctx, job2.ID)
	if j.State != core.ImportRunning && j.State != core.ImportDone {
		t.Fatalf("after shutdown: %+v", j)
	}
	m2 := importer.NewManager(e.db, e.t, importer.ManagerOptions{Logger: quiet, Currency: "EUR", BatchSize: 1000})
	defer m2.Close()
	n, err := m2.Resume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m2.Wait()
	j, _ = m2.Get(ctx, job2.ID)
	count, _ := e.db.CountInteractions(ctx)
	if (j.State == core.ImportDone) != true || count != 30000 || (n != 1 && j.Stored != 0) {
		t.Errorf("resumed %d: %+v; %d interactions", n, j, count)
	}
}

// TestExport writes customers and interactions as CSV and JSONL, checks
// formula cells are neutralized, and imports the exports back into a fresh
// store with the same result.
func TestExport(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.run(t, core.ImportCustomers, []byte("external_id,name,tags,attributes.plan,consent.email\n"+
		"x1,\"=SUM(A1:A9)\",vip,gold,yes\nx2,+Plus,,\"@at\",no\nx3,-minus,,\"\tTab\",\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.run(t, core.ImportInteractions, read(t, "interactions_orders.csv"), mapping(t, "[rules]\nrefund_if_order_key_prefix = \"C\""))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := importer.ExportCustomers(ctx, e.db, &buf, importer.FormatCSV)
	if err != nil || n != 5 {
		t.Fatalf("export: %d %v", n, err)
	}
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("formula-looking cell %q exported as is", cell)
			}
		}
	}
	if recs[1][1] != "'=SUM(A1:A9)" {
		t.Errorf("row %q", recs[1])
	}
	for _, format := range []string{importer.FormatCSV, importer.FormatJSONL} {
		t.Run(format, func(t *testing.T) {
			var cb, ib bytes.Buffer
			if _, err := importer.ExportCustomers(ctx, e.db, &cb, format); err != nil {
				t.Fatal(err)
			}
			ni, err := importer.ExportInteractions(ctx, e.db, &ib, format)
			if err != nil || ni != 3 {
				t.Fatalf("interactions export %d %v", ni, err)
			}
			e2 := newEnv(t)
			rc, err := e2.run(t, core.ImportCustomers, cb.Bytes(), nil)
			if err != nil || rc.Stored != 5 || rc.Rejected != 0 {
				t.Fatalf("re-import customers: %v %+v", err, rc)
			}
			ri, err := e2.run(t, core.ImportInteractions, ib.Bytes(), nil)
			if err != nil || ri.Stored != 3 || ri.Rejected != 0 {
				t.Fatalf("re-import interactions: %v %+v %s", err, ri, ib.String())
			}
			c := e2.customer(t, "x1")
			if !c.HasConsent(core.ChannelEmail) || c.Attributes["plan"] != "gold" || c.Tags[0] != "vip" {
				t.Errorf("round trip x1 = %+v", c)
			}
			var got []core.Interaction
			e2.db.ScanAllInteractions(ctx, func(in core.Interaction) error { got = append(got, in); return nil })
			var sum int64
			for _, in := range got {
				sum += in.Amount
			}
			if sum != 1700+700+0 {
				t.Errorf("amounts after round trip: %+v", got)
			}
		})
	}
}
