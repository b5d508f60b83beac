package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/retain-crm/retain/core"
)

// collect runs Generate and keeps everything (fine for test sizes).
func collect(t testing.TB, o Options) ([]core.Customer, []Event) {
	t.Helper()
	var cs []core.Customer
	var es []Event
	err := Generate(context.Background(), o,
		func(b []core.Customer) error {
			if len(b) == 0 || len(b) > CustomerBatch {
				t.Errorf("customer batch of %d", len(b))
			}
			cs = append(cs, b...)
			return nil
		},
		func(b []Event) error {
			if len(b) == 0 || len(b) > EventBatch || len(b) > core.MaxBatch {
				t.Errorf("event batch of %d", len(b))
			}
			if len(cs) != o.Customers {
				t.Errorf("events before all customers were emitted")
			}
			es = append(es, b...)
			return nil
		})
	if err != nil {
		t.Fatalf("Generate(%+v): %v", o, err)
	}
	return cs, es
}

// digest hashes the JSON of everything Generate emits.
func digest(t *testing.T, o Options) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	err := Generate(context.Background(), o,
		func(b []core.Customer) error { return enc.Encode(b) },
		func(b []Event) error { return enc.Encode(b) })
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	for _, ind := range Industries {
		t.Run(string(ind), func(t *testing.T) {
			o := Options{Industry: ind, Customers: 300, Seed: 42}
			a, b := digest(t, o), digest(t, o)
			if a != b {
				t.Fatalf("two runs differ: %s vs %s", a, b)
			}
			o.Seed = 43
			if c := digest(t, o); c == a {
				t.Fatalf("seed 43 gave the same output as seed 42")
			}
		})
	}
}

// TestCounts checks that customers are exact and the event total is within
// 5% of the target (see the package comment for how it is steered).
func TestCounts(t *testing.T) {
	cases := []struct {
		ind          Industry
		customers    int
		interactions int
	}{
		{D2C, 300, 0}, {Bank, 300, 0}, {Game, 300, 0},
		{D2C, 2000, 30000}, {Bank, 1500, 20000}, {Game, 2500, 20000},
		{D2C, 1000, 8000}, {Game, 800, 16000}, {Bank, 500, 40000},
		{D2C, 1, 10},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d-%d", c.ind, c.customers, c.interactions), func(t *testing.T) {
			o := Options{Industry: c.ind, Customers: c.customers, Interactions: c.interactions, Seed: 7}
			cs, es := collect(t, o)
			if len(cs) != c.customers {
				t.Fatalf("customers = %d, want %d", len(cs), c.customers)
			}
			r, _ := o.Resolved()
			if c.customers == 1 {
				if len(es) == 0 {
					t.Fatal("no events for a single customer")
				}
				return
			}
			dev := float64(len(es)-r.Interactions) / float64(r.Interactions)
			t.Logf("%d events for a target of %d (%+.2f%%)", len(es), r.Interactions, 100*dev)
			if dev < -0.05 || dev > 0.05 {
				t.Fatalf("events = %d, target %d: off by %.1f%%", len(es), r.Interactions, 100*dev)
			}
		})
	}
}

// reserved reports whether an email domain is one RFC 2606 reserves.
func reserved(domain string) bool {
	for _, d := range []string{"example.com", "example.net", "example.org"} {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return strings.HasSuffix(domain, ".example")
}

func TestValidAndOrdered(t *testing.T) {
	for _, ind := range Industries {
		t.Run(string(ind), func(t *testing.T) {
			o := Options{Industry: ind, Customers: 1500, Seed: 3}
			cs, es := collect(t, o)
			r, _ := o.Resolved()
			ids := map[string]bool{}
			emails := map[string]bool{}
			for i := range cs {
				c := cs[i]
				if err := c.Normalize(""); err != nil {
					t.Fatalf("customer %s: %v", c.ExternalID, err)
				}
				if c.ExternalID != externalID(ind, i) || ids[c.ExternalID] {
					t.Fatalf("customer %d has external id %q", i, c.ExternalID)
				}
				ids[c.ExternalID] = true
				if len(c.Emails) != 1 || emails[c.Emails[0]] {
					t.Fatalf("customer %s: emails %v (duplicate or missing)", c.ExternalID, c.Emails)
				}
				emails[c.Emails[0]] = true
				if d := c.Emails[0][strings.LastIndexByte(c.Emails[0], '@')+1:]; !reserved(d) {
					t.Fatalf("customer %s: email domain %q is not reserved", c.ExternalID, d)
				}
				if c.Name == "" || c.Locale == "" || c.TimeZone == "" || c.Address.Country == "" || c.Address.City == "" {
					t.Fatalf("customer %s is missing basics: %+v", c.ExternalID, c)
				}
				if !c.CreatedAt.Before(r.End) {
					t.Fatalf("customer %s created %v, after the window", c.ExternalID, c.CreatedAt)
				}
				if !slicesContains(c.Tags, "demo") {
					t.Fatalf("customer %s has no demo tag: %v", c.ExternalID, c.Tags)
				}
			}
			keys := map[string]bool{}
			seen := map[string]bool{}
			var prev Event
			for i, e := range es {
				if !ids[e.CustomerExternalID] {
					t.Fatalf("event %d refers to unknown customer %q", i, e.CustomerExternalID)
				}
				if e.Time.Before(r.Start) || !e.Time.Before(r.End) {
					t.Fatalf("event %d at %v outside [%v, %v)", i, e.Time, r.Start, r.End)
				}
				if i > 0 && e.CustomerExternalID == prev.CustomerExternalID && e.Time.Before(prev.Time) {
					t.Fatalf("event %d of %s out of time order", i, e.CustomerExternalID)
				}
				if i > 0 && e.CustomerExternalID != prev.CustomerExternalID {
					if seen[e.CustomerExternalID] {
						t.Fatalf("events of %s are not contiguous", e.CustomerExternalID)
					}
					if e.CustomerExternalID < prev.CustomerExternalID {
						t.Fatalf("customers out of order: %s after %s", e.CustomerExternalID, prev.CustomerExternalID)
					}
				}
				seen[e.CustomerExternalID] = true
				if keys[e.IdempotencyKey] || !strings.HasPrefix(e.IdempotencyKey, "demo:"+string(ind)+":3:") {
					t.Fatalf("event %d idempotency key %q duplicate or malformed", i, e.IdempotencyKey)
				}
				keys[e.IdempotencyKey] = true
				in := e.Interaction
				in.CustomerID = 1
				if err := in.Normalize(r.End); err != nil {
					t.Fatalf("event %d (%s): %v", i, e.Type, err)
				}
				if in.Time != e.Time {
					t.Fatalf("event %d: time changed by Normalize", i)
				}
				if (e.Type == core.TypePurchase || e.Type == core.TypeRefund) && (e.Amount <= 0 || len(e.Items) == 0) {
					t.Fatalf("event %d: %s without amount or items: %+v", i, e.Type, e)
				}
				if e.Amount < 0 {
					t.Fatalf("event %d: negative amount %d", i, e.Amount)
				}
				prev = e
			}
		})
	}
}

func slicesContains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

func TestIndustryTypes(t *testing.T) {
	want := map[Industry][]core.InteractionType{
		D2C: {core.TypePurchase, core.TypeRefund, core.TypePageView, core.TypeSession, core.TypeMessageSent, core.TypeOpened,
			core.TypeClicked, core.TypeTicketOpened, core.TypeTicketUpdated, core.TypeTicketClosed, core.TypeNote,
			core.TypeSubscriptionStarted, core.TypeSubscriptionRenewed, core.TypeSubscriptionCancelled, core.TypeSurveyResponse},
		Bank: {core.TypeSubscriptionStarted, core.TypeSubscriptionCancelled, "transaction", "balance", "card_payment",
			core.TypeCall, core.TypeNote, core.TypeTicketOpened, core.TypeTicketClosed, core.TypeSession, core.TypeMessageSent},
		Game: {core.TypeSession, core.TypePurchase, core.TypeSurveyResponse, core.TypeMessageSent, "level_up", "tutorial_completed",
			core.TypeTicketOpened},
	}
	for _, ind := range Industries {
		t.Run(string(ind), func(t *testing.T) {
			_, es := collect(t, Options{Industry: ind, Customers: 2000, Seed: 11})
			got := map[core.InteractionType]int{}
			for _, e := range es {
				got[e.Type]++
			}
			for _, w := range want[ind] {
				if got[w] == 0 {
					t.Errorf("no %s events (have %v)", w, got)
				}
			}
		})
	}
}

// TestShape checks the behaviour an analyst relies on: D2C has one-time
// and repeat buyers, game players mostly leave within days, some bank
// customers close everything.
func TestShape(t *testing.T) {
	t.Run("d2c repeat and one-time buyers", func(t *testing.T) {
		_, es := collect(t, Options{Industry: D2C, Customers: 2000, Seed: 5})
		orders := map[string]int{}
		for _, e := range es {
			if e.Type == core.TypePurchase {
				orders[e.CustomerExternalID]++
			}
		}
		one, many := 0, 0
		for _, n := range orders {
			if n == 1 {
				one++
			}
			if n >= 5 {
				many++
			}
		}
		if one < 400 || many < 100 {
			t.Fatalf("one-time buyers %d, buyers with 5+ orders %d: not a heterogeneous mix", one, many)
		}
	})
	t.Run("game drop-off", func(t *testing.T) {
		cs, es := collect(t, Options{Industry: Game, Customers: 3000, Seed: 5})
		install := map[string]time.Time{}
		for _, c := range cs {
			install[c.ExternalID] = c.CreatedAt
		}
		last := map[string]time.Time{}
		for _, e := range es {
			if e.Type == core.TypeSession {
				last[e.CustomerExternalID] = e.Time
			}
		}
		d7, d30 := 0, 0
		for id, l := range last {
			age := l.Sub(install[id])
			if age >= 7*24*time.Hour {
				d7++
			}
			if age >= 30*24*time.Hour {
				d30++
			}
		}
		if f := float64(d7) / float64(len(last)); f < 0.08 || f > 0.35 {
			t.Fatalf("share still playing after 7 days = %.2f", f)
		}
		if d30 == 0 || d30 >= d7 {
			t.Fatalf("d30 = %d, d7 = %d", d30, d7)
		}
	})
}

func TestNamesAndScripts(t *testing.T) {
	cyr, pl, female := 0, 0, 0
	for _, ind := range Industries {
		cs, _ := collect(t, Options{Industry: ind, Customers: 1500, Seed: 9})
		for _, c := range cs {
			if strings.ContainsFunc(c.Name, func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }) {
				cyr++
				if strings.HasSuffix(c.Name, "ова") || strings.HasSuffix(c.Name, "ева") || strings.HasSuffix(c.Name, "ина") {
					female++
				}
			}
			if strings.ContainsAny(c.Name, "ąćęłńóśźżŁŚŻ") {
				pl++
			}
			if strings.ContainsFunc(c.Emails[0], func(r rune) bool { return r > unicode.MaxASCII }) {
				t.Fatalf("email %q is not ASCII", c.Emails[0])
			}
		}
	}
	if cyr < 50 || pl < 50 || female < 10 {
		t.Fatalf("cyrillic names %d, polish diacritics %d, russian female surnames %d", cyr, pl, female)
	}
}

func TestTransliteration(t *testing.T) {
	cases := []struct{ in, lang, want string }{
		{"Łukasz", "pl", "lukasz"}, {"Wiśniewska", "pl", "wisniewska"}, {"Wójcik", "pl", "wojcik"},
		{"Фёдоров", "ru", "fedorov"}, {"Наталья", "ru", "natalia"}, {"Щербаков", "ru", "shcherbakov"},
		{"Олександр", "uk", "oleksandr"}, {"Григорій", "uk", "hryhorii"},
		{"Müller", "de", "mueller"}, {"Groß", "de", "gross"}, {"O'Brien", "en", "obrien"},
		{"Núñez", "es", "nunez"}, {"佐藤|sato", "ja", "sato"},
	}
	for _, c := range cases {
		if got := latin(c.in, c.lang); got != c.want {
			t.Errorf("latin(%q, %s) = %q, want %q", c.in, c.lang, got, c.want)
		}
	}
	fem := []struct{ lang, in, want string }{
		{"pl", "Kowalski", "Kowalska"}, {"pl", "Nowak", "Nowak"}, {"pl", "Wiśniewski", "Wiśniewska"}, {"pl", "Zawadzki", "Zawadzka"},
		{"ru", "Петров", "Петрова"}, {"ru", "Смирнов", "Смирнова"}, {"ru", "Никитин", "Никитина"}, {"ru", "Достоевский", "Достоевская"},
		{"ru", "Черных", "Черных"}, {"uk", "Шевченко", "Шевченко"}, {"uk", "Ковальський", "Ковальська"},
	}
	for _, c := range fem {
		if got := femaleSurname(c.lang, c.in); got != c.want {
			t.Errorf("femaleSurname(%s, %q) = %q, want %q", c.lang, c.in, got, c.want)
		}
	}
}

// TestTables checks every language table: phones normalize to E.164 for
// the right calling code, time zones load, domains are reserved.
func TestTables(t *testing.T) {
	g := newGen(Options{Industry: D2C, Customers: 1, Seed: 1, Currency: "EUR"})
	for _, l := range allLanguages {
		for _, c := range l.cities {
			if _, err := time.LoadLocation(c.tz); err != nil {
				t.Errorf("%s %s: %v", l.locale, c.name, err)
			}
			for range 20 {
				p := phone(g.r, l, &c)
				n, err := core.NormalizePhone(p, "")
				if err != nil || n != p || !strings.HasPrefix(p, "+"+l.cc) {
					t.Errorf("%s %s: phone %q: %v", l.locale, c.name, p, err)
				}
			}
		}
		for _, d := range l.domains {
			if !reserved(d) {
				t.Errorf("%s: domain %q not reserved", l.locale, d)
			}
		}
		if textsByCode[l.code] == nil {
			t.Errorf("%s: no texts", l.code)
		}
	}
}

func TestCurrencies(t *testing.T) {
	for _, cur := range []string{"EUR", "PLN", "USD", "JPY", "KWD", "GBP"} {
		for _, ind := range Industries {
			_, es := collect(t, Options{Industry: ind, Customers: 200, Seed: 2, Currency: cur})
			for _, e := range es {
				if e.Amount != 0 && e.Currency != cur {
					t.Fatalf("%s/%s: event in %q", ind, cur, e.Currency)
				}
				for _, it := range e.Items {
					if it.UnitPrice <= 0 {
						t.Fatalf("%s/%s: item %+v has no price", ind, cur, it)
					}
				}
			}
		}
	}
}

func TestOptions(t *testing.T) {
	day := 24 * time.Hour
	bad := []Options{
		{},
		{Industry: "casino", Customers: 10},
		{Industry: D2C, Customers: 0},
		{Industry: D2C, Customers: MaxCustomers + 1},
		{Industry: D2C, Customers: 10, Interactions: -1},
		{Industry: D2C, Customers: 10, Interactions: MaxInteractions + 1},
		{Industry: D2C, Customers: 10, Currency: "XXX"},
		{Industry: D2C, Customers: 10, Currency: "eur"},
		{Industry: D2C, Customers: 10, Start: DefaultEnd, End: DefaultEnd.Add(3 * day)},
		{Industry: D2C, Customers: 10, Start: DefaultEnd, End: DefaultEnd.Add(-30 * day)},
		{Industry: D2C, Customers: 10, Start: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), End: DefaultEnd},
	}
	for i, o := range bad {
		err := Generate(context.Background(), o, func([]core.Customer) error { return nil }, func([]Event) error { return nil })
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("case %d %+v: err = %v, want ErrInvalid", i, o, err)
		}
	}
	r, err := Options{Industry: Bank, Customers: 1_000_000}.Resolved()
	if err != nil || r.Interactions != 10_000_000 || r.Currency != "PLN" || !r.End.Equal(DefaultEnd) || !r.Start.Equal(DefaultEnd.AddDate(-2, 0, 0)) {
		t.Fatalf("defaults: %+v, %v", r, err)
	}
	start := time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC)
	r, _ = Options{Industry: Game, Customers: 10, Start: start}.Resolved()
	if !r.End.Equal(start.AddDate(2, 0, 0)) || r.Currency != "USD" || r.Interactions != 120 {
		t.Fatalf("start only: %+v", r)
	}
	// A short custom window still works and stays inside it.
	o := Options{Industry: D2C, Customers: 50, Start: start, End: start.Add(10 * day)}
	_, es := collect(t, o)
	for _, e := range es {
		if e.Time.Before(o.Start) || !e.Time.Before(o.End) {
			t.Fatalf("event at %v outside the short window", e.Time)
		}
	}
}

func TestCancel(t *testing.T) {
	for _, phase := range []string{"customers", "events"} {
		t.Run(phase, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			started := time.Now()
			err := Generate(ctx, Options{Industry: Game, Customers: 200_000, Seed: 1},
				func([]core.Customer) error {
					if phase == "customers" {
						calls++
						cancel()
					}
					return nil
				},
				func([]Event) error {
					calls++
					cancel()
					return nil
				})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if calls != 1 {
				t.Fatalf("sink called %d times after cancel", calls)
			}
			// Generous bound: the work after cancel is at most a batch.
			if phase == "customers" && time.Since(started) > 5*time.Second {
				t.Fatalf("took %v to stop", time.Since(started))
			}
		})
	}
}

func TestSinkError(t *testing.T) {
	boom := errors.New("boom")
	err := Generate(context.Background(), Options{Industry: D2C, Customers: 3000},
		func([]core.Customer) error { return nil },
		func([]Event) error { return boom })
	if err != boom {
		t.Fatalf("err = %v, want the sink's error", err)
	}
	err = Generate(context.Background(), Options{Industry: D2C, Customers: 3000},
		func([]core.Customer) error { return boom },
		func([]Event) error { t.Fatal("events after a failed customer batch"); return nil })
	if err != boom {
		t.Fatalf("err = %v, want the sink's error", err)
	}
}

// FuzzOptions feeds arbitrary options: Generate either refuses them with
// ErrInvalid or produces valid output inside the window.
func FuzzOptions(f *testing.F) {
	f.Add("d2c", 5, 0, int64(1), int64(0), int64(0), "")
	f.Add("bank", 3, 100, int64(-7), int64(1600000000), int64(1700000000), "JPY")
	f.Add("game", 2, 1, int64(0), int64(0), int64(1), "USD")
	f.Fuzz(func(t *testing.T, ind string, customers, interactions int, seed, start, end int64, cur string) {
		if customers > 20 || interactions > 2000 {
			return // keep each run small
		}
		o := Options{Industry: Industry(ind), Customers: customers, Interactions: interactions, Seed: seed, Currency: cur}
		if start != 0 {
			o.Start = time.Unix(start%(1<<35), 0)
		}
		if end != 0 {
			o.End = time.Unix(end%(1<<35), 0)
		}
		err := Generate(context.Background(), o,
			func(b []core.Customer) error {
				for _, c := range b {
					if err := c.Normalize(""); err != nil {
						t.Fatalf("customer %+v: %v", c, err)
					}
				}
				return nil
			},
			func(b []Event) error {
				for _, e := range b {
					e.CustomerID = 1
					if err := e.Normalize(time.Unix(0, 0)); err != nil {
						t.Fatalf("event %+v: %v", e, err)
					}
				}
				return nil
			})
		if err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("err = %v", err)
		}
	})
}

// BenchmarkGenerate measures generation alone (sinks discard). Set
// RETAIN_BENCH_LARGE=1 for the full 1M customers / 10M interactions run.
func BenchmarkGenerate(b *testing.B) {
	sizes := []struct{ customers, interactions int }{{20_000, 200_000}}
	if os.Getenv("RETAIN_BENCH_LARGE") != "" {
		sizes = append(sizes, struct{ customers, interactions int }{1_000_000, 10_000_000})
	}
	for _, s := range sizes {
		for _, ind := range Industries {
			b.Run(fmt.Sprintf("%s/%d", ind, s.interactions), func(b *testing.B) {
				var n int
				for b.Loop() {
					err := Generate(context.Background(), Options{Industry: ind, Customers: s.customers, Interactions: s.interactions, Seed: 1},
						func([]core.Customer) error { return nil },
						func(es []Event) error { n += len(es); return nil })
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "interactions/s")
			})
		}
	}
}
