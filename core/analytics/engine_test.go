package analytics_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/analytics"
	"github.com/retain-crm/retain/core/importer"
	"github.com/retain-crm/retain/core/retention"
	"github.com/retain-crm/retain/store"
)

// dataDir is ../shared/data relative to the repository root.
func dataDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	d := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared data folder %s is absent", d)
	}
	return d
}

func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "retain.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openEngine(t testing.TB, db core.ChangeFeed, opt analytics.Options) *analytics.Engine {
	t.Helper()
	e, err := analytics.Open(context.Background(), db, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// pence parses a decimal price string into hundredths, rounding half away
// from zero, without floats (written apart from core.ParseAmount).
func pence(s string) int64 {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	v, _ := strconv.ParseInt(ip, 10, 64)
	fp += "000"
	f, _ := strconv.ParseInt(fp[:2], 10, 64)
	v = v*100 + f
	if fp[2] >= '5' {
		v++
	}
	if neg {
		v = -v
	}
	return v
}

type retailInvoice struct {
	customer string
	day      time.Time // local midnight
	amount   int64
}

// cleanRetail writes the cleaned Online Retail rows (customer id present,
// quantity > 0, unit price > 0) to a CSV file for the importer and returns
// the invoices as an independent scan sees them.
func cleanRetail(t *testing.T) (string, map[string]*retailInvoice) {
	f, err := os.Open(filepath.Join(dataDir(t), "online_retail", "online_retail.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	london, _ := time.LoadLocation("Europe/London")
	cr := csv.NewReader(bufio.NewReader(zr))
	out := filepath.Join(t.TempDir(), "clean.csv")
	of, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(of)
	hdr, _ := cr.Read()
	w.Write(hdr)
	inv := map[string]*retailInvoice{}
	for {
		r, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		q, _ := strconv.ParseInt(r[3], 10, 64)
		if r[6] == "" || q <= 0 || pence(r[5]) <= 0 && !strings.Contains(r[5], ".") || strings.HasPrefix(r[5], "-") || r[5] == "0" {
			continue
		}
		p, _ := strconv.ParseFloat(r[5], 64)
		if !(p > 0) {
			continue
		}
		w.Write(r)
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", r[4], london)
		if err != nil {
			t.Fatal(err)
		}
		iv := inv[r[0]]
		if iv == nil {
			iv = &retailInvoice{customer: r[6], day: time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, london)}
			inv[r[0]] = iv
		}
		iv.amount += q * pence(r[5])
	}
	w.Flush()
	of.Close()
	return out, inv
}

func importFile(t *testing.T, db *store.DB, path, mappingFile, currency string) {
	t.Helper()
	mb, err := os.ReadFile(mappingFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := importer.ParseMapping(string(mb))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	svc := core.NewService(db, nil, "")
	res, err := importer.Import(context.Background(), importer.ForService(svc), f, importer.Options{Kind: core.ImportInteractions, Mapping: m, Currency: currency})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.Rejected > 0 {
		t.Fatalf("import rejected %d rows: %v", res.Rejected, res.Errors)
	}
}

// TestOnlineRetail checks cohorts, RFM and the repeat purchase rate of the
// engine, fed through the real importer and store, against a plain second
// scan of the CSV.
func TestOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 400,000 rows")
	}
	path, inv := cleanRetail(t)
	db := openStore(t)
	_, file, _, _ := runtime.Caller(0)
	importFile(t, db, path, filepath.Join(filepath.Dir(file), "..", "importer", "testdata", "online_retail.toml"), "GBP")
	london, _ := time.LoadLocation("Europe/London")
	now := time.Date(2011, 12, 10, 12, 0, 0, 0, london)
	e := openEngine(t, db, analytics.Options{Location: london, Currency: "GBP", Now: func() time.Time { return now }})
	ctx := context.Background()

	// Independent: per customer, invoices by day.
	type acc struct {
		first, last time.Time
		orders      int
		money       int64
		months      map[int]int64 // month number → revenue
	}
	cust := map[string]*acc{}
	monthOf := func(d time.Time) int { return d.Year()*12 + int(d.Month()) - 1 }
	for _, iv := range inv {
		a := cust[strings.TrimSuffix(iv.customer, ".0")]
		if a == nil {
			a = &acc{first: iv.day, last: iv.day, months: map[int]int64{}}
			cust[strings.TrimSuffix(iv.customer, ".0")] = a
		}
		if iv.day.Before(a.first) {
			a.first = iv.day
		}
		if iv.day.After(a.last) {
			a.last = iv.day
		}
		a.orders++
		a.money += iv.amount
		a.months[monthOf(iv.day)] += iv.amount
	}
	if len(cust) != 4338 {
		t.Fatalf("independent scan: %d customers, want 4338", len(cust))
	}
	repeat := 0
	for _, a := range cust {
		if a.orders >= 2 {
			repeat++
		}
	}

	// Cohorts by month.
	rep, err := e.Cohorts(ctx, analytics.CohortQuery{Period: retention.PeriodMonth})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cohorts) != 13 || rep.Customers != len(cust) {
		t.Fatalf("%d cohorts, %d customers", len(rep.Cohorts), rep.Customers)
	}
	for i, c := range rep.Cohorts {
		m0 := monthOf(c.Start)
		size := 0
		active := make([]int, len(c.Active))
		revenue := make([]int64, len(c.Active))
		for _, a := range cust {
			if monthOf(a.first) != m0 {
				continue
			}
			size++
			for m, r := range a.months {
				active[m-m0]++
				revenue[m-m0] += r
			}
		}
		if c.Size != size || fmt.Sprint(c.Active) != fmt.Sprint(active) || fmt.Sprint(c.Revenue) != fmt.Sprint(revenue) {
			t.Errorf("cohort %d (%s): size %d active %v revenue %v; want %d %v %v", i, c.Start.Format("2006-01"), c.Size, c.Active, c.Revenue, size, active, revenue)
		}
	}
	if got, want := rep.RepeatPurchaseRate, float64(repeat)/float64(len(cust)); math.Abs(got-want) > 1e-12 || math.Abs(want-0.656) > 0.0005 {
		t.Errorf("repeat purchase rate %.4f, want %.4f (65.6%%)", got, want)
	}

	// RFM over all time, scored independently by counting.
	res, err := e.RFM(ctx, analytics.RFMQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Customers) != len(cust) {
		t.Fatalf("RFM has %d customers", len(res.Customers))
	}
	ext := map[core.ID]string{}
	for _, c := range res.Customers {
		cs, _ := db.GetCustomers(ctx, []core.ID{c.CustomerID})
		ext[c.CustomerID] = cs[0].ExternalID
	}
	type vals struct {
		rec, freq int
		mon       int64
	}
	all := make([]vals, 0, len(cust))
	byExt := map[string]vals{}
	nowDay := time.Date(2011, 12, 10, 0, 0, 0, 0, london)
	for id, a := range cust {
		v := vals{int(math.Round(nowDay.Sub(a.last).Hours() / 24)), a.orders, a.money}
		all = append(all, v)
		byExt[id] = v
	}
	score := func(worse func(o vals) bool) int {
		L := 0
		for _, o := range all {
			if worse(o) {
				L++
			}
		}
		return 1 + 5*L/len(all)
	}
	bad := 0
	for _, c := range res.Customers {
		v := byExt[ext[c.CustomerID]]
		r := score(func(o vals) bool { return o.rec > v.rec })
		f := score(func(o vals) bool { return o.freq < v.freq })
		m := score(func(o vals) bool { return o.mon < v.mon })
		if c.RecencyDays != v.rec || c.Frequency != v.freq || c.Monetary != v.mon || c.R != r || c.F != f || c.M != m {
			if bad++; bad < 5 {
				t.Errorf("customer %s: %+v, want %+v scores %d %d %d", ext[c.CustomerID], c, v, r, f, m)
			}
		}
	}

	// The year's metrics: buyers of 2011, repeat = at least two orders by now.
	mr, err := e.Metrics(ctx, analytics.MetricsQuery{Period: retention.PeriodYear})
	if err != nil {
		t.Fatal(err)
	}
	buyers, rep2011 := 0, 0
	for _, a := range cust {
		if a.last.Year() == 2011 {
			buyers++
			if a.orders >= 2 {
				rep2011++
			}
		}
	}
	if got, want := mr.Current.RepeatPurchaseRate, float64(rep2011)/float64(buyers); math.Abs(got-want) > 1e-12 {
		t.Errorf("2011 repeat purchase rate %.4f, want %.4f", got, want)
	}
	checkRates(t, mr.Current)
	checkRates(t, mr.Previous)
}

func checkRates(t *testing.T, m analytics.Metrics) {
	t.Helper()
	for name, v := range map[string]float64{"retention": m.RetentionRate, "churn": m.ChurnRate, "repeat": m.RepeatPurchaseRate, "renewal": m.RenewalRate} {
		if !(v >= 0 && v <= 1) {
			t.Errorf("%s rate %v outside [0, 1] in %+v", name, v, m)
		}
	}
	for name, v := range map[string]float64{"frequency": m.PurchaseFrequency, "aov": m.AverageOrderValue, "lifetime": m.AverageLifetime, "nrr": m.NetRevenueRetention} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 && name != "aov" {
			t.Errorf("%s = %v in %+v", name, v, m)
		}
	}
}

// TestCDNOW fits the models through the engine on the CDNOW 1/10 sample
// stored in a real store and checks the published estimates.
func TestCDNOW(t *testing.T) {
	f, err := os.Open(filepath.Join(dataDir(t), "cdnow", "cdnowElog.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t)
	ctx := context.Background()
	ids := map[string]core.ID{}
	var batch []core.Interaction
	for _, r := range rows[1:] {
		id, ok := ids[r[1]]
		if !ok {
			c, err := db.CreateCustomer(ctx, core.Customer{ExternalID: "cdnow-" + r[1], Name: "CDNOW " + r[1]})
			if err != nil {
				t.Fatal(err)
			}
			id, ids[r[1]] = c.ID, c.ID
		}
		day, err := time.Parse("20060102", r[2])
		if err != nil {
			t.Fatal(err)
		}
		amt, err := core.ParseAmount(r[4], "USD")
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, core.Interaction{CustomerID: id, Type: core.TypePurchase, Time: day.Add(13 * time.Hour), Amount: amt, Currency: "USD", CreatedAt: time.Now()})
	}
	// Out of order on purpose: history imports arrive in any order.
	for i, j := 0, len(batch)-1; i < j; i, j = i+2, j-2 {
		batch[i], batch[j] = batch[j], batch[i]
	}
	for i := 0; i < len(batch); i += 1000 {
		if _, err := db.AppendInteractions(ctx, batch[i:min(i+1000, len(batch))]); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
	e := openEngine(t, db, analytics.Options{Currency: "USD", Unit: retention.Week, Now: func() time.Time { return now }})
	rep, err := e.Fit(ctx, analytics.FitQuery{CalibrationEnd: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), HoldoutEnd: time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Trusted || rep.BGNBD == nil || rep.GammaGamma == nil {
		t.Fatalf("not trusted: %+v", rep)
	}
	bg, gg := rep.BGNBD, rep.GammaGamma
	want := []struct {
		name      string
		got, want float64
		digits    int
	}{
		{"r", bg.R, 0.243, 3}, {"alpha", bg.Alpha, 4.414, 3}, {"a", bg.A, 0.793, 3}, {"b", bg.B, 2.426, 3},
		{"p", gg.P, 6.25, 2}, {"q", gg.Q, 3.74, 2}, {"gamma (dollars)", gg.Gamma / 100, 15.44, 2},
	}
	for _, w := range want {
		if r := math.Round(w.got*math.Pow10(w.digits)) / math.Pow10(w.digits); r != w.want {
			t.Errorf("%s = %.5f, want %v", w.name, w.got, w.want)
		}
	}
	if rep.Customers != 2357 || rep.Validation == nil || rep.Validation.Customers != 2357 {
		t.Errorf("customers %d, validation %+v", rep.Customers, rep.Validation)
	}
	// The engine's own fit (holdout chosen by itself) is trusted too, and
	// predictions come from it. The second refit starts from the first's
	// estimates and lands on the same optimum.
	first, err := e.Refit(ctx)
	if err != nil || !first.Trusted || first.Fit.Starts != 3 {
		t.Fatalf("refit %+v, %v", first.Fit, err)
	}
	second, err := e.Refit(ctx)
	if err != nil || second.Fit.Starts != 1 || math.Abs(second.BGNBD.R-first.BGNBD.R) > 1e-5*first.BGNBD.R ||
		math.Abs(second.BGNBD.B-first.BGNBD.B) > 1e-4*first.BGNBD.B {
		t.Errorf("warm refit %+v %+v, first %+v, %v", second.Fit, second.BGNBD, first.BGNBD, err)
	}
	p, err := e.Predict(ctx, ids["1"])
	if err != nil || !p.Available || !(p.PAlive > 0 && p.PAlive <= 1) || !(p.CLV >= 0) || p.R < 1 {
		t.Errorf("prediction %+v, %v", p, err)
	}
	f1, _ := e.Facts(ids["1"])
	f2, _ := e.Facts(ids["1"])
	if f1.CLV != f2.CLV || math.Abs(f1.CLV-p.CLV) > 1e-6*p.CLV || f1.PAlive != p.PAlive || f1.R != p.R {
		t.Errorf("facts %+v and prediction %+v disagree", f1, p)
	}
	if _, err := e.Predict(ctx, 999999); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown customer: %v", err)
	}
	// Churn by P(alive) once a trusted model is there; the at-risk list
	// then ranks by it.
	pe := openEngine(t, db, analytics.Options{Currency: "USD", Unit: retention.Week, Churn: analytics.ChurnPAlive, Now: func() time.Time { return now }})
	if _, err := pe.Refit(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := pe.Metrics(ctx, analytics.MetricsQuery{Period: retention.PeriodQuarter, At: time.Date(1997, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || m.Churn != analytics.ChurnPAlive || m.Current.CustomersAtStart == 0 {
		t.Errorf("p_alive metrics %+v, %v", m, err)
	}
	checkRates(t, m.Current)
	list, err := pe.AtRisk(ctx, 5)
	if err != nil || len(list) != 5 || !list[0].Available || list[0].Name == "" || !(list[0].PAlive < 0.7) {
		t.Errorf("at risk %+v, %v", list, err)
	}
	d, err := pe.Dashboard(ctx, retention.PeriodMonth)
	if err != nil || !d.Model.Trusted || len(d.AtRisk) != 10 || d.Model.Validation == nil {
		t.Errorf("dashboard %+v, %v", d, err)
	}
}

var _ = bytes.NewReader
