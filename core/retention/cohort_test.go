package retention

import (
	"compress/gzip"
	"encoding/csv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

func TestSegmentsCoverGrid(t *testing.T) {
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			n := 0
			for _, s := range Segments {
				if s.Matches(r, f) {
					n++
				}
			}
			// Lost (1,1) is inside Hibernating's range on purpose and comes first.
			if n != 1 && !(r == 1 && f == 1 && n == 2) {
				t.Errorf("cell R%d F%d matches %d rules", r, f, n)
			}
		}
	}
	if SegmentOf(1, 1) != "Lost" || SegmentOf(2, 1) != "Hibernating" || SegmentOf(5, 5) != "Champions" || SegmentOf(1, 5) != "Can't lose them" {
		t.Error("segment lookup")
	}
	if len(Segments) != 11 {
		t.Errorf("%d segments, want the usual 11", len(Segments))
	}
}

func TestQuintileScores(t *testing.T) {
	vals := []int{10, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	got := quintileScores(len(vals), func(i, j int) bool { return vals[i] < vals[j] })
	want := []int{5, 1, 1, 2, 2, 3, 3, 4, 4, 5}
	if !slices.Equal(got, want) {
		t.Errorf("scores %v, want %v", got, want)
	}
	ties := []int{1, 1, 1, 1, 1, 1, 2, 2, 3, 9}
	got = quintileScores(len(ties), func(i, j int) bool { return ties[i] < ties[j] })
	want = []int{1, 1, 1, 1, 1, 1, 4, 4, 5, 5}
	if !slices.Equal(got, want) {
		t.Errorf("tied scores %v, want %v", got, want)
	}
	if len(quintileScores(0, nil)) != 0 {
		t.Error("empty")
	}
}

func TestCohortsSmall(t *testing.T) {
	ins := []core.Interaction{
		buy(1, "2024-01-05T10:00:00Z", 1000),
		buy(1, "2024-01-20T10:00:00Z", 500), // second order in January
		buy(1, "2024-02-03T10:00:00Z", 2000),
		buy(2, "2024-01-31T23:00:00Z", 300),
		buy(2, "2024-03-10T10:00:00Z", 300), // reactivated in March
		buy(3, "2024-02-10T10:00:00Z", 800),
		{CustomerID: 3, Type: core.TypeRefund, Time: time.Date(2024, 2, 11, 0, 0, 0, 0, time.UTC), Amount: 200, Currency: "EUR"},
		buy(4, "2024-04-01T00:00:00Z", 100), // on End: outside
	}
	rep, err := Cohorts(seqOf(ins), CohortOptions{Period: PeriodMonth, End: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cohorts) != 3 || rep.Customers != 3 {
		t.Fatalf("%+v", rep)
	}
	jan, feb := rep.Cohorts[0], rep.Cohorts[1]
	if jan.Size != 2 || !slices.Equal(jan.Active, []int{2, 1, 1}) || !slices.Equal(jan.Revenue, []int64{1800, 2000, 300}) {
		t.Errorf("January cohort %+v", jan)
	}
	if feb.Size != 1 || !slices.Equal(feb.Revenue, []int64{600, 0}) || feb.CumulativeRevenuePerCustomer[1] != 600 {
		t.Errorf("February cohort %+v", feb)
	}
	if rep.Cohorts[2].Size != 0 || len(rep.Cohorts[2].Active) != 1 {
		t.Errorf("March cohort %+v", rep.Cohorts[2])
	}
	febM, marM := rep.Metrics[1], rep.Metrics[2]
	if febM.S != 2 || febM.E != 2 || febM.N != 1 || febM.Retained != 1 || febM.RetentionRate != 0.5 || febM.ChurnRate != 0.5 || febM.Revenue != 2600 || febM.Sales != 2800 {
		t.Errorf("February metrics %+v", febM)
	}
	if marM.S != 2 || marM.E != 1 || marM.Reactivated != 1 || marM.Retained != 0 || marM.RetentionRate != 0 {
		t.Errorf("March metrics %+v", marM)
	}
	janM := rep.Metrics[0]
	if janM.RepeatCustomers != 1 || janM.RepeatPurchaseRate != 0.5 || janM.PurchaseFrequency != 1.5 || janM.AverageOrderValue != 600 {
		t.Errorf("January metrics %+v", janM)
	}
	if rep.ActiveCustomers != 3 || rep.RepeatCustomers != 2 || rep.Orders != 6 {
		t.Errorf("overall %+v", rep)
	}
	// Weeks start on Monday: 2024-01-01 was a Monday.
	wk, _ := Cohorts(seqOf(ins), CohortOptions{Period: PeriodWeek, End: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)})
	if got := wk.Cohorts[0].Start; !got.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("first week starts %v", got)
	}
	for _, opt := range []CohortOptions{{}, {End: time.Now(), Start: time.Now().Add(time.Hour)}, {End: time.Now(), Period: 9}} {
		if _, err := Cohorts(seqOf(ins), opt); err == nil {
			t.Errorf("%+v accepted", opt)
		}
	}
}

func TestDayN(t *testing.T) {
	sess := func(id core.ID, day int) core.Interaction {
		return core.Interaction{CustomerID: id, Type: core.TypeSession, Time: time.Date(2024, 1, 1+day, 20, 0, 0, 0, time.UTC)}
	}
	ins := []core.Interaction{
		sess(1, 0), sess(1, 1), sess(1, 7),
		sess(2, 0), sess(2, 2), sess(2, 30),
		sess(3, 25), sess(3, 26), // D30 not observable yet
		buy(4, "2024-01-01T10:00:00Z", 100), buy(4, "2024-01-02T10:00:00Z", 100), // purchases are not sessions
	}
	got, err := DayN(seqOf(ins), DayNOptions{End: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	want := []DayNRetention{{1, 3, 2, 2.0 / 3}, {7, 2, 1, 0.5}, {30, 2, 1, 0.5}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := DayN(seqOf(ins), DayNOptions{End: time.Now(), Days: []int{0}}); err == nil {
		t.Error("day 0 accepted")
	}
}

func TestCohortProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for iter := 0; iter < 30; iter++ {
		var ins []core.Interaction
		for i := 0; i < 300; i++ {
			typ := core.TypePurchase
			if rng.IntN(10) == 0 {
				typ = core.TypeRefund
			}
			ins = append(ins, core.Interaction{CustomerID: core.ID(1 + rng.IntN(60)), Type: typ, Time: base.Add(time.Duration(rng.IntN(400*24)) * time.Hour), Amount: int64(rng.IntN(5000)), Currency: "EUR"})
		}
		start := base.AddDate(0, rng.IntN(4), 0)
		end := start.AddDate(0, 1+rng.IntN(8), rng.IntN(20))
		for _, p := range []Period{PeriodDay, PeriodWeek, PeriodMonth} {
			rep, err := Cohorts(seqOf(ins), CohortOptions{Period: p, Start: start, End: end})
			if err != nil {
				t.Fatal(err)
			}
			// Independent count: customers whose first purchase is in [period start of Start, End).
			first := map[core.ID]time.Time{}
			for _, in := range ins {
				if in.Type == core.TypePurchase && in.Time.Before(end) {
					if f, ok := first[in.CustomerID]; !ok || in.Time.Before(f) {
						first[in.CustomerID] = in.Time
					}
				}
			}
			winStart := rep.Cohorts[0].Start
			want := 0
			for _, f := range first {
				if !f.Before(winStart) {
					want++
				}
			}
			sum := 0
			for _, c := range rep.Cohorts {
				sum += c.Size
				for _, r := range c.Retention {
					if r < 0 || r > 1 {
						t.Fatalf("retention %v", r)
					}
				}
			}
			if sum != rep.Customers || sum != want {
				t.Fatalf("%v: cohort sizes add to %d, report %d, independent %d", p, sum, rep.Customers, want)
			}
			for _, m := range rep.Metrics {
				for _, r := range []float64{m.RetentionRate, m.ChurnRate, m.RepeatPurchaseRate} {
					if r < 0 || r > 1 {
						t.Fatalf("%v metrics %+v: rate out of [0,1]", p, m)
					}
				}
				if m.E != m.N+m.Retained+m.Reactivated || m.Retained > m.S || (m.S > 0 && math.Abs(m.RetentionRate+m.ChurnRate-1) > 1e-12) {
					t.Fatalf("%v metrics %+v: counts do not add up", p, m)
				}
			}
			if rep.RepeatPurchaseRate < 0 || rep.RepeatPurchaseRate > 1 {
				t.Fatal("repeat purchase rate")
			}
		}
	}
}

// retailInvoice is one cleaned Online Retail invoice.
type retailInvoice struct {
	no       string
	customer core.ID
	time     time.Time
	amount   int64 // pence
}

var (
	retailOnce sync.Once
	retailData []retailInvoice
	retailErr  error
)

// loadRetail parses online_retail.csv.gz with the usual cleaning
// (CustomerID present, Quantity > 0, UnitPrice > 0) and sums lines into
// invoices. It does not use the importer on purpose.
func loadRetail(t testing.TB) []retailInvoice {
	path := filepath.Join(dataDir(t), "online_retail", "online_retail.csv.gz")
	retailOnce.Do(func() {
		f, err := os.Open(path)
		if err != nil {
			retailErr = err
			return
		}
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			retailErr = err
			return
		}
		r := csv.NewReader(gz)
		r.ReuseRecord = true
		if _, err := r.Read(); err != nil {
			retailErr = err
			return
		}
		idx := map[string]int{}
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				retailErr = err
				return
			}
			cust := strings.TrimSuffix(rec[6], ".0")
			if cust == "" {
				continue
			}
			qty, err1 := strconv.ParseInt(rec[3], 10, 64)
			price, err2 := core.ParseAmount(rec[5], "GBP")
			if err1 != nil || err2 != nil || qty <= 0 || price <= 0 {
				continue
			}
			id, err := strconv.ParseUint(cust, 10, 64)
			if err != nil {
				retailErr = err
				return
			}
			i, ok := idx[rec[0]]
			if !ok {
				ts, err := time.Parse("2006-01-02 15:04:05", rec[4])
				if err != nil {
					retailErr = err
					return
				}
				i = len(retailData)
				idx[rec[0]] = i
				retailData = append(retailData, retailInvoice{no: strings.Clone(rec[0]), customer: core.ID(id), time: ts})
			}
			retailData[i].amount += qty * price
		}
	})
	if retailErr != nil {
		t.Fatal(retailErr)
	}
	return retailData
}

func retailSeq(inv []retailInvoice) func(func(core.Interaction) bool) {
	return func(yield func(core.Interaction) bool) {
		for _, v := range inv {
			if !yield(core.Interaction{CustomerID: v.customer, Type: core.TypePurchase, Time: v.time, Amount: v.amount, Currency: "GBP"}) {
				return
			}
		}
	}
}

var retailEnd = time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)

// TestOnlineRetailCohorts checks cohort sizes and the repeat purchase rate
// against a second, differently written scan: string month keys and a
// map of invoice sets instead of period numbers and event lists.
func TestOnlineRetailCohorts(t *testing.T) {
	inv := loadRetail(t)
	if len(inv) != 18532 {
		t.Errorf("%d invoices after cleaning, want the well-known 18532", len(inv))
	}
	rep, err := Cohorts(retailSeq(inv), CohortOptions{Period: PeriodMonth, End: retailEnd})
	if err != nil {
		t.Fatal(err)
	}
	firstMonth := map[core.ID]string{}
	invoices := map[core.ID]map[string]bool{}
	for _, v := range inv {
		m := v.time.Format("2006-01")
		if f, ok := firstMonth[v.customer]; !ok || m < f {
			firstMonth[v.customer] = m
		}
		if invoices[v.customer] == nil {
			invoices[v.customer] = map[string]bool{}
		}
		invoices[v.customer][v.no] = true
	}
	sizes := map[string]int{}
	for _, m := range firstMonth {
		sizes[m]++
	}
	if len(firstMonth) != 4338 || rep.Customers != 4338 || rep.ActiveCustomers != 4338 {
		t.Errorf("customers: report %d/%d, independent %d, well-known 4338", rep.Customers, rep.ActiveCustomers, len(firstMonth))
	}
	if len(rep.Cohorts) != 13 {
		t.Fatalf("%d monthly cohorts, want 13 (Dec 2010 .. Dec 2011)", len(rep.Cohorts))
	}
	for _, c := range rep.Cohorts {
		if want := sizes[c.Start.Format("2006-01")]; c.Size != want {
			t.Errorf("cohort %s: %d customers, independent %d", c.Start.Format("2006-01"), c.Size, want)
		}
	}
	repeat := 0
	for _, s := range invoices {
		if len(s) >= 2 {
			repeat++
		}
	}
	if want := float64(repeat) / float64(len(invoices)); math.Abs(rep.RepeatPurchaseRate-want) > 1e-12 {
		t.Errorf("repeat purchase rate %v, independent %v", rep.RepeatPurchaseRate, want)
	}
	t.Logf("Dec 2010 cohort (%d customers) retention: %.3f", rep.Cohorts[0].Size, rep.Cohorts[0].Retention)
	t.Logf("repeat purchase rate %.4f (%d of %d)", rep.RepeatPurchaseRate, rep.RepeatCustomers, rep.ActiveCustomers)
	// Month 0 retention is 1 by definition; later months are a share.
	for _, c := range rep.Cohorts {
		if c.Size > 0 && c.Retention[0] != 1 {
			t.Errorf("cohort %v month 0 retention %v", c.Start, c.Retention[0])
		}
	}
}

// TestOnlineRetailRFM compares the RFM grid with an independent scoring:
// per-customer values from a sorted slice of invoices, and scores from the
// position of each value's first occurrence in a sorted copy.
func TestOnlineRetailRFM(t *testing.T) {
	inv := loadRetail(t)
	start := time.Date(2010, 12, 9, 0, 0, 0, 0, time.UTC) // one year before the end
	res, err := RFM(retailSeq(inv), RFMOptions{Start: start, End: retailEnd})
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(inv)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].customer != sorted[j].customer {
			return sorted[i].customer < sorted[j].customer
		}
		return sorted[i].time.Before(sorted[j].time)
	})
	type row struct{ rec, freq, mon int64 }
	var rows []row
	endDay := retailEnd.Unix() / 86400
	for i := 0; i < len(sorted); {
		j := i
		var r row
		var last time.Time
		for ; j < len(sorted) && sorted[j].customer == sorted[i].customer; j++ {
			v := sorted[j]
			if v.time.Before(start) {
				continue
			}
			r.freq++
			r.mon += v.amount
			last = v.time
		}
		if r.freq > 0 {
			r.rec = endDay - last.Unix()/86400
			rows = append(rows, r)
		}
		i = j
	}
	if len(rows) != len(res.Customers) {
		t.Fatalf("customers: %d vs independent %d", len(res.Customers), len(rows))
	}
	score := func(get func(row) int64, higherBetter bool) []int {
		vals := make([]int64, len(rows))
		for i, r := range rows {
			vals[i] = get(r)
			if !higherBetter {
				vals[i] = -vals[i]
			}
		}
		s := slices.Clone(vals)
		slices.Sort(s)
		out := make([]int, len(vals))
		for i, v := range vals {
			below, _ := slices.BinarySearch(s, v) // first index of v = number strictly below
			out[i] = below*5/len(vals) + 1
		}
		return out
	}
	rs := score(func(r row) int64 { return r.rec }, false)
	fs := score(func(r row) int64 { return r.freq }, true)
	ms := score(func(r row) int64 { return r.mon }, true)
	var grid [5][5]int
	var mDist [5]int
	for i := range rows {
		grid[rs[i]-1][fs[i]-1]++
		mDist[ms[i]-1]++
	}
	var gotM [5]int
	for i, c := range res.Customers {
		if c.Frequency != int(rows[i].freq) || c.Monetary != rows[i].mon || c.RecencyDays != int(rows[i].rec) {
			t.Fatalf("customer %d: %+v vs independent %+v", c.CustomerID, c, rows[i])
		}
		gotM[c.M-1]++
	}
	total := 0
	for r := 0; r < 5; r++ {
		for f := 0; f < 5; f++ {
			if res.Grid[r][f].Customers != grid[r][f] {
				t.Errorf("cell R%d F%d: %d vs independent %d", r+1, f+1, res.Grid[r][f].Customers, grid[r][f])
			}
			total += res.Grid[r][f].Customers
		}
	}
	if gotM != mDist || total != len(rows) {
		t.Errorf("monetary scores %v vs independent %v; grid total %d", gotM, mDist, total)
	}
	segTotal := 0
	for _, s := range res.SegmentCounts {
		segTotal += s.Customers
		t.Logf("%-20s %5d customers  £%.0f", s.Name, s.Customers, float64(s.Revenue)/100)
	}
	if segTotal != len(rows) {
		t.Errorf("segments hold %d customers, want %d", segTotal, len(rows))
	}
}

// TestBuildersMatch checks the incremental builders against the one-shot
// functions on random data, including customers added and taken out again.
func TestBuildersMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	var ins []core.Interaction
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3000; i++ {
		in := core.Interaction{CustomerID: core.ID(1 + rng.IntN(300)), Type: core.TypePurchase,
			Time: base.Add(time.Duration(rng.IntN(400*24)) * time.Hour), Amount: int64(100 + rng.IntN(5000)), Currency: "EUR"}
		if rng.IntN(10) == 0 {
			in.Type = core.TypeRefund
		}
		ins = append(ins, in)
	}
	end := base.AddDate(0, 0, 400)
	res, err := RFM(seqOf(ins), RFMOptions{End: end, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	b := NewRFMGridBuilder("EUR")
	for _, c := range res.Customers {
		b.Add(c.RecencyDays, c.Frequency, c.Monetary, 1)
		b.Add(c.RecencyDays+3, c.Frequency*2, 7, 1) // a ghost, removed below
	}
	for _, c := range res.Customers {
		b.Add(c.RecencyDays+3, c.Frequency*2, 7, -1)
	}
	g := b.Result()
	if g.Grid != res.Grid || !slices.Equal(g.SegmentCounts, res.SegmentCounts) {
		t.Errorf("grid builder %v\nwant %v", g.Grid, res.Grid)
	}
	sc := ScoreRFM(slices.Clone(res.Customers), "EUR")
	if !slices.Equal(sc.Customers, res.Customers) {
		t.Error("ScoreRFM differs from RFM")
	}
	for _, p := range []Period{PeriodWeek, PeriodQuarter, PeriodYear} {
		rep, err := Cohorts(seqOf(ins), CohortOptions{Period: p, End: end, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range rep.Cohorts {
			n += c.Size
		}
		if n != rep.Customers || rep.Customers == 0 {
			t.Errorf("%v: cohort sizes %d, customers %d", p, n, rep.Customers)
		}
		if got := p.Start(p.Of(DayIndex(end, nil)), time.UTC); got.After(end) || !p.Start(p.Of(DayIndex(end, nil))+1, time.UTC).After(end) {
			t.Errorf("%v: start of the period of %v is %v", p, end, got)
		}
	}
}
