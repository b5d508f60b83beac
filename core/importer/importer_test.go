package importer_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
	"github.com/retain-crm/retain/store"
)

// env is a real store and service in a temp dir.
type env struct {
	db  *store.DB
	svc *core.Service
	t   importer.Target
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "retain.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := core.NewService(db, nil, "")
	return &env{db: db, svc: svc, t: importer.ForService(svc)}
}

func mapping(t testing.TB, text string) *importer.Mapping {
	t.Helper()
	m, err := importer.ParseMapping(text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) run(t testing.TB, kind core.ImportKind, data []byte, m *importer.Mapping) (importer.Result, error) {
	t.Helper()
	return importer.Import(context.Background(), e.t, bytes.NewReader(data), importer.Options{
		Kind: kind, Mapping: m, Currency: "EUR", TimeZone: "UTC", BatchSize: 3,
	})
}

func (e *env) customer(t testing.TB, ext string) core.Customer {
	t.Helper()
	c, err := e.db.GetCustomerByExternalID(context.Background(), ext)
	if err != nil {
		t.Fatalf("customer %q: %v", ext, err)
	}
	return c
}

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lines(res importer.Result) []int {
	var out []int
	for _, e := range res.Errors {
		out = append(out, e.Line)
	}
	return out
}

// TestFiles imports the small files of testdata/ and checks counts, the
// lines of rejected rows, what was detected and a stored value.
func TestFiles(t *testing.T) {
	for _, tc := range []struct {
		file        string
		kind        core.ImportKind
		mapping     string
		stored, dup int64
		rejected    []int // lines
		enc, delim  string
		check       func(t *testing.T, e *env)
	}{
		{file: "customers_basic.csv", kind: core.ImportCustomers, stored: 2, dup: 1, rejected: []int{4, 5, 6}, enc: "utf-8", delim: ",",
			check: func(t *testing.T, e *env) {
				c := e.customer(t, "c1")
				if c.Name != "Ada Lovelace" || !slices.Equal(c.Emails, []string{"ada@work.example.com", "ada@example.com"}) ||
					!slices.Equal(c.Tags, []string{"early", "vip"}) || c.Attributes["plan"] != "gold" || !c.HasConsent(core.ChannelEmail) ||
					c.Phones[0] != "+442079460000" || c.Address.City != "London" {
					t.Errorf("c1 = %+v", c)
				}
				if c := e.customer(t, "c2"); len(c.Emails) != 2 || c.HasConsent(core.ChannelEmail) {
					t.Errorf("c2 = %+v", c)
				}
			}},
		{file: "customers_win1252.csv", kind: core.ImportCustomers, stored: 2, enc: "windows-1252", delim: ";",
			check: func(t *testing.T, e *env) {
				if c := e.customer(t, "2"); c.Name != "Zoë Straße" || c.Address.City != "Düsseldorf" {
					t.Errorf("got %+v", c)
				}
			}},
		{file: "customers_win1251.csv", kind: core.ImportCustomers, stored: 2, enc: "windows-1251", delim: ",",
			check: func(t *testing.T, e *env) {
				if c := e.customer(t, "2"); c.Name != "Мария Сидорова" || c.Address.City != "Санкт-Петербург" {
					t.Errorf("got %+v", c)
				}
			}},
		{file: "customers_utf16le.csv", kind: core.ImportCustomers, stored: 1, enc: "utf-16le", delim: "\t",
			check: func(t *testing.T, e *env) {
				if c := e.customer(t, "7"); c.Name != "Åsa Öberg" || c.Emails[0] != "asa@example.se" {
					t.Errorf("got %+v", c)
				}
			}},
		{file: "customers_utf16be.csv", kind: core.ImportCustomers, stored: 1, enc: "utf-16be", delim: "|",
			check: func(t *testing.T, e *env) {
				if c := e.customer(t, "8"); c.Name != "Ørjan" {
					t.Errorf("got %+v", c)
				}
			}},
		{file: "customers_bom.csv", kind: core.ImportCustomers, stored: 1, enc: "utf-8-bom", delim: ",",
			check: func(t *testing.T, e *env) {
				if c := e.customer(t, "b1"); c.Name != "Bom Customer" {
					t.Errorf("got %+v", c)
				}
			}},
		{file: "customers.jsonl", kind: core.ImportCustomers, stored: 2, rejected: []int{4, 5, 6}, enc: "utf-8",
			check: func(t *testing.T, e *env) {
				c := e.customer(t, "j1")
				if c.Address.City != "Paris" || !slices.Equal(c.Tags, []string{"a", "b"}) || c.Attributes["plan"] != "pro" ||
					!c.HasConsent(core.ChannelSMS) || c.Emails[0] != "j1@example.com" {
					t.Errorf("got %+v", c)
				}
			}},
		{file: "interactions_orders.csv", kind: core.ImportInteractions, stored: 3, rejected: []int{4, 6, 7}, enc: "utf-8", delim: ",",
			mapping: `currency = "EUR"
[rules]
refund_if_order_key_prefix = "C"`,
			check: func(t *testing.T, e *env) {
				c := e.customer(t, "501")
				if c.Address.Country != "France" {
					t.Errorf("stub customer = %+v", c)
				}
				p, err := e.db.Timeline(context.Background(), c.ID, core.TimelineQuery{})
				if err != nil || len(p.Items) != 2 {
					t.Fatalf("timeline: %v %+v", err, p)
				}
				refund, purchase := p.Items[0], p.Items[1]
				if purchase.Type != core.TypePurchase || purchase.Amount != 1700 || len(purchase.Items) != 2 || purchase.IdempotencyKey != "purchase:1001" {
					t.Errorf("purchase = %+v", purchase)
				}
				if refund.Type != core.TypeRefund || refund.Amount != 700 || refund.Items[0].Quantity != 2 {
					t.Errorf("refund = %+v", refund)
				}
			}},
		{file: "interactions_events.jsonl", kind: core.ImportInteractions, stored: 3, rejected: []int{4}, enc: "utf-8",
			check: func(t *testing.T, e *env) {
				c := e.customer(t, "u1")
				p, _ := e.db.Timeline(context.Background(), c.ID, core.TimelineQuery{})
				if len(p.Items) != 2 || p.Items[0].Properties["device"] != "ios" || p.Items[0].IdempotencyKey == p.Items[1].IdempotencyKey {
					t.Errorf("identical rows should be two interactions with distinct keys: %+v", p.Items)
				}
			}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			e := newEnv(t)
			var m *importer.Mapping
			if tc.mapping != "" {
				m = mapping(t, tc.mapping)
			}
			data := read(t, tc.file)
			res, err := e.run(t, tc.kind, data, m)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if res.Stored != tc.stored || res.Duplicates != tc.dup || !slices.Equal(lines(res), tc.rejected) || res.Rejected != int64(len(tc.rejected)) {
				t.Errorf("stored %d dup %d rejected %d at %v (%+v); want %d %d %v", res.Stored, res.Duplicates, res.Rejected, lines(res), res.Errors, tc.stored, tc.dup, tc.rejected)
			}
			if res.Detection.Encoding != tc.enc || (tc.delim != "" && res.Detection.Delimiter != tc.delim) {
				t.Errorf("detected %+v", res.Detection)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
			// Importing again stores nothing new.
			res2, err := e.run(t, tc.kind, data, m)
			if err != nil || res2.Stored != 0 || res2.Rejected != res.Rejected {
				t.Errorf("second import: %v stored %d rejected %d", err, res2.Stored, res2.Rejected)
			}
		})
	}
}

// TestHostile feeds broken input: every case must end without a panic,
// with the expected rows stored and the bad ones rejected at the right line.
func TestHostile(t *testing.T) {
	huge := strings.Repeat("x", 2<<20)
	for _, tc := range []struct {
		name     string
		data     string
		stored   int64
		rejected []int
		err      bool
		reason   string
	}{
		{name: "empty file", data: "", err: true},
		{name: "blank file", data: "\n\r\n  \n", err: true},
		{name: "header only", data: "external_id,name\r\n"},
		{name: "crlf", data: "external_id,name\r\na,A\r\nb,B\r\n", stored: 2},
		{name: "ragged rows", data: "external_id,name\na,A\nb\nc,C,extra\nd,D\n", stored: 2, rejected: []int{3, 4}, reason: "fields"},
		{name: "unterminated quote", data: "external_id,name\na,A\nb,\"B\nc,C\n", stored: 1, rejected: []int{3}, reason: "quote"},
		{name: "bare quote", data: "external_id,name\na,A\"x\nb,B\n", stored: 1, rejected: []int{2}, reason: "quote"},
		{name: "nul byte", data: "external_id,name\na,A\x00\nb,B\n", stored: 1, rejected: []int{2}, reason: "NUL"},
		{name: "huge unquoted field", data: "external_id,name\na,A\nb," + huge + "\nc,C\n", stored: 2, rejected: []int{3}, reason: "larger than"},
		{name: "huge quoted field", data: "external_id,name\na,A\nb,\"" + huge + "\"\nc,C\n", stored: 2, rejected: []int{3}, reason: "larger than"},
		{name: "field over field cap", data: "external_id,name\na,A\nb," + strings.Repeat("y", 100<<10) + "\nc,C\n", stored: 2, rejected: []int{3}, reason: "larger than"},
		{name: "multi-line quoted field keeps line numbers", data: "external_id,name\na,\"A\nA\"\nb,bad\x01name\nc,C\n", stored: 2, rejected: []int{4}, reason: "control"},
		{name: "duplicate headers", data: "external_id,name,name\na,First,Second\n", stored: 1},
		{name: "empty row", data: "external_id,name\na,A\n,\nb,B\n", stored: 2, rejected: []int{3}, reason: "empty row"},
		{name: "invalid utf-8 in utf-8 file", data: "external_id,name\na,A\n" + strings.Repeat("b,B\n", 20000) + "z,\xff\xfe\n", stored: 2, rejected: []int{20003}, reason: "UTF-8"},
		{name: "formula cells stored as text", data: "external_id,name\nf1,\"=HYPERLINK(\"\"http://x\"\")\"\n", stored: 1},
		{name: "jsonl huge line", data: `{"external_id":"a"}` + "\n" + `{"external_id":"b","name":"` + huge + `"}` + "\n" + `{"external_id":"c"}` + "\n", stored: 2, rejected: []int{2}, reason: "longer than"},
		{name: "jsonl deep nesting", data: `{"external_id":"a","x":` + strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20) + "}\n" + `{"external_id":"b"}` + "\n", stored: 1, rejected: []int{1}, reason: "deeply"},
		{name: "gzip", data: gz("external_id,name\na,A\n"), stored: 1},
		{name: "corrupt gzip", data: gz("external_id,name\na,A\n")[:20], err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			res, err := e.run(t, core.ImportCustomers, []byte(tc.data), nil)
			if tc.err {
				if err == nil {
					t.Fatalf("want an error, got %+v", res)
				}
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if res.Stored != tc.stored || !slices.Equal(lines(res), tc.rejected) {
				t.Errorf("stored %d, rejected at %v (%+v); want %d, %v", res.Stored, lines(res), res.Errors, tc.stored, tc.rejected)
			}
			if tc.reason != "" && (len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Reason, tc.reason)) {
				t.Errorf("reason %+v, want it to mention %q", res.Errors, tc.reason)
			}
		})
	}
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestMappingErrors(t *testing.T) {
	for _, tc := range []struct{ name, mapping, data, field string }{
		{"unknown key", "colums = 1", "a\n1\n", ""},
		{"unknown field", "[columns]\nfavourite = 1", "external_id\n1\n", "columns.favourite"},
		{"missing column", "[columns]\nexternal_id = \"nope\"", "external_id\n1\n", "columns.external_id"},
		{"index out of range", "[columns]\nexternal_id = 3", "external_id\n1\n", "columns.external_id"},
		{"duplicate header named", "[columns]\nname = \"n\"\nexternal_id = 1", "id,n,n\n1,a,b\n", "columns.name"},
		{"no external id", "guess = false", "external_id\n1\n", "columns.external_id"},
		{"bad rule", "[rules]\nzero_price = \"maybe\"", "external_id\n1\n", "rules.zero_price"},
		{"bad zone", "time_zone = \"Mars/Base\"", "external_id\n1\n", "time_zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := importer.ParseMapping(tc.mapping)
			if err == nil {
				_, err = importer.Import(context.Background(), newEnv(t).t, strings.NewReader(tc.data), importer.Options{Kind: core.ImportCustomers, Mapping: m})
			}
			if !errors.Is(err, core.ErrInvalid) || core.ErrorField(err) != tc.field {
				t.Errorf("err = %v (field %q), want ErrInvalid on %q", err, core.ErrorField(err), tc.field)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	svc := core.NewService(nil, nil, "") // preparation needs no store
	pv, err := importer.DryRun(context.Background(), svc, bytes.NewReader(read(t, "interactions_orders.csv")),
		importer.Options{Kind: core.ImportInteractions, Currency: "EUR", Mapping: mapping(t, "[rules]\nrefund_if_order_key_prefix = \"C\"")}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Rows != 4 || len(pv.Interactions) != 2 || len(pv.Errors) != 1 || pv.Errors[0].Line != 4 || pv.Errors[0].Reason != "missing customer id" {
		t.Fatalf("preview = %+v", pv)
	}
	if in := pv.Interactions[0]; in.Amount != 1700 || in.Currency != "EUR" || pv.InteractionCustomers[0] != "501" || in.Time != time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC) {
		t.Errorf("first = %+v", in)
	}
	if pv.Interactions[1].Type != core.TypeRefund {
		t.Errorf("second = %+v", pv.Interactions[1])
	}
	if pv.Columns["order_key"] != "InvoiceNo" || pv.Columns["customer.address.country"] != "Country" {
		t.Errorf("columns = %v", pv.Columns)
	}
}

func TestRejectedWriter(t *testing.T) {
	e := newEnv(t)
	var out bytes.Buffer
	_, err := importer.Import(context.Background(), e.t, strings.NewReader("external_id,name\na,A\n,=cmd|' /C calc'!A0\n"),
		importer.Options{Kind: core.ImportCustomers, Rejected: &out})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"external_id", "name", "line", "reason"}, {"", "'=cmd|' /C calc'!A0", "3", "external_id: missing external id"}}
	if !slicesEqual2(recs, want) {
		t.Errorf("rejected = %q", recs)
	}
}

func slicesEqual2(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// TestResumeAfterKill stops an import half way (as a killed process would)
// and imports the file again: everything is stored exactly once.
func TestResumeAfterKill(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("customer_id,order_id,date,sku,qty,price\n")
	for i := range 3000 {
		for l := range 3 {
			b.WriteString(strings.Join([]string{itoa(i % 97), itoa(i), "2024-01-02 03:04:05", "S" + itoa(l), "1", "1.25"}, ","))
			b.WriteString("\n")
		}
	}
	// Plus rows without order key, two of them identical.
	b.WriteString("5,,2024-02-01,,1,3\n5,,2024-02-01,,1,3\n")
	data := []byte(b.String())
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	_, err := importer.Import(ctx, e.t, bytes.NewReader(data), importer.Options{
		Kind: core.ImportInteractions, Currency: "EUR", BatchSize: 500,
		Progress: func(importer.Progress) {
			if batches++; batches == 2 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want cancellation, got %v", err)
	}
	n, _ := e.db.CountInteractions(context.Background())
	if n == 0 || n >= 3002 {
		t.Fatalf("after the kill %d interactions are stored", n)
	}
	res, err := importer.Import(context.Background(), e.t, bytes.NewReader(data), importer.Options{Kind: core.ImportInteractions, Currency: "EUR", BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	n, _ = e.db.CountInteractions(context.Background())
	c, _ := e.db.CountCustomers(context.Background())
	if n != 3002 || c != 97 || res.Stored+res.Duplicates != 3002 {
		t.Errorf("interactions %d customers %d result %+v; want 3002, 97", n, c, res.Progress)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
