package retention

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

func buy(id core.ID, ts string, amount int64) core.Interaction {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		panic(err)
	}
	return core.Interaction{CustomerID: id, Type: core.TypePurchase, Time: t, Amount: amount, Currency: "EUR"}
}

func TestSummarize(t *testing.T) {
	calEnd := time.Date(2024, 1, 29, 12, 0, 0, 0, time.UTC) // the whole day 29 Jan is in
	ins := []core.Interaction{
		buy(1, "2024-01-01T09:00:00Z", 1000),
		buy(1, "2024-01-01T18:00:00Z", 500), // same day: merged into the first transaction
		buy(1, "2024-01-08T10:00:00Z", 2000),
		buy(1, "2024-01-15T10:00:00Z", 4000),
		buy(1, "2024-01-15T11:00:00Z", 1000),
		buy(1, "2024-02-01T10:00:00Z", 700), // holdout
		buy(2, "2024-01-29T23:59:00Z", 300), // first purchase on the last calibration day
		buy(3, "2024-02-02T10:00:00Z", 300), // first purchase after calibration: left out
		buy(4, "2024-03-02T10:00:00Z", 300), // after the holdout: ignored
		{CustomerID: 1, Type: core.TypeRefund, Time: calEnd, Amount: 4000, Currency: "EUR"},
		{CustomerID: 5, Type: core.TypeSession, Time: calEnd},
	}
	opt := SummaryOptions{Unit: Week, CalibrationEnd: calEnd, HoldoutEnd: time.Date(2024, 2, 12, 0, 0, 0, 0, time.UTC)}
	got, err := Summarize(seqOf(ins), opt)
	if err != nil {
		t.Fatal(err)
	}
	want := []Summary{
		{CustomerID: 1, X: 2, Tx: 2, T: 4, Monetary: 3500, FirstSpend: 1500, First: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), HoldoutX: 1, HoldoutSpend: 700},
		{CustomerID: 2, T: 0, FirstSpend: 300, First: time.Date(2024, 1, 29, 0, 0, 0, 0, time.UTC)},
	}
	if !reflect.DeepEqual(got.Customers, want) {
		t.Errorf("got %+v\nwant %+v", got.Customers, want)
	}
	if got.HoldoutLength != 2 || got.AfterCalibration != 1 || got.Purchases != 8 || got.Currency != "EUR" {
		t.Errorf("meta: %+v", got)
	}
	// Order does not matter.
	shuffled := append([]core.Interaction(nil), ins...)
	rand.New(rand.NewPCG(1, 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	got2, err := Summarize(seqOf(shuffled), opt)
	if err != nil || !reflect.DeepEqual(got2.Customers, got.Customers) {
		t.Errorf("shuffled input: %+v, %v", got2, err)
	}
	// Days: t_x and T in days.
	opt.Unit = Day
	got3, _ := Summarize(seqOf(ins), opt)
	if c := got3.Customers[0]; c.Tx != 14 || c.T != 28 || got3.HoldoutLength != 14 {
		t.Errorf("days: %+v holdout %v", c, got3.HoldoutLength)
	}
}

func TestSummarizeLocation(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	// 02:00 UTC on 2 Jan is the evening of 1 Jan in New York: the same local
	// day as the 15:00 UTC purchase on 1 Jan.
	ins := []core.Interaction{buy(1, "2024-01-01T15:00:00Z", 100), buy(1, "2024-01-02T02:00:00Z", 100), buy(1, "2024-01-03T15:00:00Z", 100)}
	end := time.Date(2024, 1, 10, 12, 0, 0, 0, ny)
	utc, _ := Summarize(seqOf(ins), SummaryOptions{Unit: Day, CalibrationEnd: end})
	loc, _ := Summarize(seqOf(ins), SummaryOptions{Unit: Day, CalibrationEnd: end, Location: ny})
	if utc.Customers[0].X != 2 || loc.Customers[0].X != 1 || loc.Customers[0].Tx != 2 || loc.Customers[0].T != 9 {
		t.Errorf("UTC %+v, New York %+v", utc.Customers[0], loc.Customers[0])
	}
}

func TestSummarizeCurrencyAndErrors(t *testing.T) {
	end := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	usd := buy(1, "2024-01-10T10:00:00Z", 999)
	usd.Currency = "USD"
	ins := []core.Interaction{buy(1, "2024-01-01T10:00:00Z", 100), usd, buy(1, "2024-01-20T10:00:00Z", 300)}
	if _, err := Summarize(seqOf(ins), SummaryOptions{CalibrationEnd: end}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("mixed currencies without a choice: %v", err)
	}
	s, err := Summarize(seqOf(ins), SummaryOptions{CalibrationEnd: end, Currency: "EUR"})
	if err != nil || s.OtherCurrency != 1 || s.Customers[0].X != 1 || s.Customers[0].Monetary != 300 {
		t.Errorf("EUR only: %+v %v", s, err)
	}
	for _, opt := range []SummaryOptions{
		{},
		{CalibrationEnd: end, Unit: Unit(7)},
		{CalibrationEnd: end, HoldoutEnd: end},
	} {
		if _, err := Summarize(seqOf(ins), opt); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%+v: %v", opt, err)
		}
	}
	// No interactions at all: an empty result, not an error; the fit says why.
	s, err = Summarize(seqOf(nil), SummaryOptions{CalibrationEnd: end})
	if err != nil || len(s.Customers) != 0 {
		t.Errorf("empty: %+v %v", s, err)
	}
}

// FuzzSummarize feeds arbitrary purchase streams and checks the invariants
// the models rely on.
func FuzzSummarize(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, int64(30))
	f.Add([]byte{0, 0, 0, 0, 255, 255, 255}, int64(-5))
	f.Fuzz(func(t *testing.T, raw []byte, endDay int64) {
		base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		end := base.AddDate(0, 0, int(endDay%400))
		var ins []core.Interaction
		for i := 0; i+2 < len(raw); i += 3 {
			ins = append(ins, core.Interaction{
				CustomerID: core.ID(raw[i] % 8), Type: core.TypePurchase,
				Time:   base.Add(time.Duration(raw[i+1])*31*time.Hour - 1000*time.Hour),
				Amount: int64(raw[i+2]) - 20, Currency: "EUR",
			})
		}
		s, err := Summarize(seqOf(ins), SummaryOptions{Unit: Week, CalibrationEnd: end, HoldoutEnd: end.AddDate(0, 0, 30)})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range s.Customers {
			if err := checkSummary(i, c); err != nil {
				t.Fatal(err)
			}
			if c.HoldoutX < 0 || (c.X == 0 && c.Monetary != 0) {
				t.Fatalf("%+v", c)
			}
		}
	})
}
