package search

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

// fixture is a small shop: customers in Polish, Russian and English, and
// interactions with text, line items and none at all.
type fixture struct {
	feed                                         *memFeed
	anna, jan, annabelle, ivan, lukasz, annaOnly core.Customer
	marta                                        core.Customer
	noteLodz, orderTea, ticket, noteRu, pageView core.Interaction
	notePl                                       core.Interaction
}

var day = func(d int) time.Time { return time.Date(2024, 5, d, 10, 0, 0, 0, time.UTC) }

func newFixture() *fixture {
	f := &fixture{feed: newMemFeed()}
	fd := f.feed
	f.anna = fd.addCustomer(core.Customer{Name: "Anna Kowalska", Emails: []string{"anna.kowalska@example.pl"},
		Phones: []string{"+48601234567"}, Tags: []string{"vip"}, ExternalID: "CUST-0001"})
	f.jan = fd.addCustomer(core.Customer{Name: "Jan Kowalski", Emails: []string{"jan.kowalski@example.pl"},
		Phones: []string{"+48501999888"}})
	f.annabelle = fd.addCustomer(core.Customer{Name: "Annabelle Smith", Emails: []string{"annabelle@example.com"}})
	f.ivan = fd.addCustomer(core.Customer{Name: "Иван Иванов", Emails: []string{"ivan@example.ru"}, Phones: []string{"+79161112233"}})
	f.lukasz = fd.addCustomer(core.Customer{Name: "Łukasz Żółć", Emails: []string{"lukasz@example.pl"}})
	f.annaOnly = fd.addCustomer(core.Customer{Name: "Anna", Emails: []string{"anna@example.com"}, Tags: []string{"vip", "new"}})
	f.marta = fd.addCustomer(core.Customer{Name: "Marta Nowak", Emails: []string{"marta.wisniewska@example.com"}})

	f.noteLodz = fd.addInteraction(core.Interaction{CustomerID: f.anna.ID, Type: core.TypeNote, Time: day(2),
		Text: "Klientka przeprowadziła się do Łódź, nowy adres w systemie."})
	f.notePl = fd.addInteraction(core.Interaction{CustomerID: f.anna.ID, Type: core.TypeNote, Time: day(3),
		Text: "Twoje zamówienia zostały wysłane kurierem."})
	f.orderTea = fd.addInteraction(core.Interaction{CustomerID: f.jan.ID, Type: core.TypePurchase, Time: day(4),
		Amount: 12900, Currency: "PLN", Items: []core.LineItem{{SKU: "TEA-001", Name: "Zielona herbata", Quantity: 1, UnitPrice: 12900}}})
	f.pageView = fd.addInteraction(core.Interaction{CustomerID: f.jan.ID, Type: core.TypePageView, Time: day(5)})
	f.ticket = fd.addInteraction(core.Interaction{CustomerID: f.annabelle.ID, Type: core.TypeTicketOpened, Channel: core.ChannelEmail,
		Time: day(6), Text: "Refund requested for the broken kettle <b>now</b>"})
	f.noteRu = fd.addInteraction(core.Interaction{CustomerID: f.ivan.ID, Type: core.TypeCall, Time: day(7),
		Text: "Клиент позвонил по поводу заказов и доставки."})
	return f
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB, dir string, feed core.ChangeFeed) *Index {
	t.Helper()
	x, err := Open(context.Background(), dir, feed, Options{Logger: quietLogger(), BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	return x
}

func doSearch(t testing.TB, x *Index, q core.SearchQuery) core.SearchResults {
	t.Helper()
	r, err := x.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return r
}

func hitKey(h core.SearchHit) string { return h.KindName[:1] + h.ID.String() }
func ckey(c core.Customer) string    { return "c" + c.ID.String() }
func ikey(i core.Interaction) string { return "i" + i.ID.String() }

func keys(r core.SearchResults) []string {
	var out []string
	for _, h := range r.Hits {
		out = append(out, hitKey(h))
	}
	return out
}

func TestSearchMatching(t *testing.T) {
	f := newFixture()
	x := openTest(t, t.TempDir(), f.feed)
	tests := []struct {
		name    string
		q       core.SearchQuery
		want    []string // all of these among the hits
		notWant []string
		first   string // the top hit, when set
	}{
		{"two letters prefix", core.SearchQuery{Text: "an"}, []string{ckey(f.anna), ckey(f.annabelle), ckey(f.annaOnly)}, nil, ""},
		{"three letters prefix", core.SearchQuery{Text: "ann"}, []string{ckey(f.anna), ckey(f.annabelle), ckey(f.annaOnly)}, []string{ckey(f.jan)}, ""},
		{"word and prefix", core.SearchQuery{Text: "anna k"}, []string{ckey(f.anna)}, []string{ckey(f.annabelle), ckey(f.annaOnly)}, ckey(f.anna)},
		{"case and order", core.SearchQuery{Text: "KOWALSKA anna"}, []string{ckey(f.anna)}, []string{ckey(f.jan)}, ckey(f.anna)},
		{"typo", core.SearchQuery{Text: "kowalsky"}, []string{ckey(f.jan)}, nil, ""},
		{"typo in first name", core.SearchQuery{Text: "jann kowalski"}, []string{ckey(f.jan)}, nil, ckey(f.jan)},
		{"no typo tolerance under 4 letters", core.SearchQuery{Text: "jam"}, nil, []string{ckey(f.jan)}, ""},
		{"phrase", core.SearchQuery{Text: `"zielona herbata"`}, []string{ikey(f.orderTea)}, nil, ""},
		{"phrase out of order", core.SearchQuery{Text: `"herbata zielona"`}, nil, []string{ikey(f.orderTea)}, ""},
		{"sku", core.SearchQuery{Text: "tea-001"}, []string{ikey(f.orderTea)}, nil, ""},
		{"email fragment", core.SearchQuery{Text: "wisniew"}, []string{ckey(f.marta)}, nil, ckey(f.marta)},
		{"email fragment kowal", core.SearchQuery{Text: "kowal"}, []string{ckey(f.jan), ckey(f.anna)}, nil, ""},
		{"email domain", core.SearchQuery{Text: "example.ru"}, []string{ckey(f.ivan)}, []string{ckey(f.jan)}, ""},
		{"whole email first", core.SearchQuery{Text: "anna@example.com"}, []string{ckey(f.annaOnly)}, nil, ckey(f.annaOnly)},
		{"phone groups", core.SearchQuery{Text: "601 23"}, []string{ckey(f.anna)}, []string{ckey(f.jan)}, ckey(f.anna)},
		{"phone digits", core.SearchQuery{Text: "60123"}, []string{ckey(f.anna)}, nil, ckey(f.anna)},
		{"phone international", core.SearchQuery{Text: "+48 601-234-567"}, []string{ckey(f.anna)}, nil, ckey(f.anna)},
		{"phone end", core.SearchQuery{Text: "9888"}, []string{ckey(f.jan)}, nil, ckey(f.jan)},
		{"external id", core.SearchQuery{Text: "cust-0001"}, []string{ckey(f.anna)}, nil, ckey(f.anna)},
		{"russian name", core.SearchQuery{Text: "Иванов"}, []string{ckey(f.ivan)}, nil, ckey(f.ivan)},
		{"russian prefix", core.SearchQuery{Text: "ива"}, []string{ckey(f.ivan)}, nil, ""},
		{"russian stemming", core.SearchQuery{Text: "заказ"}, []string{ikey(f.noteRu)}, nil, ""},
		{"russian stemming 2", core.SearchQuery{Text: "доставка"}, []string{ikey(f.noteRu)}, nil, ""},
		{"polish city", core.SearchQuery{Text: "Łódź"}, []string{ikey(f.noteLodz)}, nil, ""},
		{"polish city folded", core.SearchQuery{Text: "lodz"}, []string{ikey(f.noteLodz)}, nil, ""},
		{"polish stemming", core.SearchQuery{Text: "zamówienie"}, []string{ikey(f.notePl)}, nil, ""},
		{"polish name folded", core.SearchQuery{Text: "lukasz zolc"}, []string{ckey(f.lukasz)}, nil, ckey(f.lukasz)},
		{"polish name exact", core.SearchQuery{Text: "Łukasz"}, []string{ckey(f.lukasz)}, nil, ckey(f.lukasz)},
		{"type word", core.SearchQuery{Text: "purchase"}, []string{ikey(f.orderTea)}, nil, ""},
		{"exact name first", core.SearchQuery{Text: "anna"}, []string{ckey(f.anna), ckey(f.annaOnly)}, nil, ckey(f.annaOnly)},
		{"exact full name first", core.SearchQuery{Text: "anna kowalska"}, []string{ckey(f.anna)}, nil, ckey(f.anna)},
		{"word beats longer prefix", core.SearchQuery{Text: "kettle"}, []string{ikey(f.ticket)}, nil, ikey(f.ticket)},
		{"text prefix while typing", core.SearchQuery{Text: "brok"}, []string{ikey(f.ticket)}, nil, ""},
		{"page views are not indexed", core.SearchQuery{Text: "page_view"}, nil, []string{ikey(f.pageView)}, ""},
		{"nothing", core.SearchQuery{Text: "zzzzqqq"}, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doSearch(t, x, tt.q)
			got := keys(r)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("%q: want %s among %v", tt.q.Text, w, got)
				}
			}
			for _, w := range tt.notWant {
				if slices.Contains(got, w) {
					t.Errorf("%q: did not want %s among %v", tt.q.Text, w, got)
				}
			}
			if tt.first != "" && (len(got) == 0 || got[0] != tt.first) {
				t.Errorf("%q: want %s first, got %v", tt.q.Text, tt.first, got)
			}
			if tt.want == nil && tt.notWant == nil && len(got) != 0 {
				t.Errorf("%q: want no hits, got %v", tt.q.Text, got)
			}
			if r.Total < len(r.Hits) {
				t.Errorf("total %d < %d hits", r.Total, len(r.Hits))
			}
		})
	}
}

func TestSearchFilters(t *testing.T) {
	f := newFixture()
	x := openTest(t, t.TempDir(), f.feed)
	tests := []struct {
		name string
		q    core.SearchQuery
		want []string // exactly these, in any order
	}{
		{"scope customers", core.SearchQuery{Text: "kowal", Scope: core.ScopeCustomers}, []string{ckey(f.anna), ckey(f.jan)}},
		{"scope interactions", core.SearchQuery{Text: "herbata", Scope: core.ScopeInteractions}, []string{ikey(f.orderTea)}},
		{"customer history", core.SearchQuery{CustomerID: f.anna.ID, Scope: core.ScopeInteractions}, []string{ikey(f.notePl), ikey(f.noteLodz)}},
		{"customer and words", core.SearchQuery{Text: "lodz", CustomerID: f.anna.ID}, []string{ikey(f.noteLodz)}},
		{"other customer", core.SearchQuery{Text: "lodz", CustomerID: f.jan.ID}, nil},
		{"types", core.SearchQuery{Text: "kowal", Types: []core.InteractionType{core.TypeNote}}, nil},
		{"types only", core.SearchQuery{Types: []core.InteractionType{core.TypeNote, core.TypeCall}}, []string{ikey(f.noteRu), ikey(f.notePl), ikey(f.noteLodz)}},
		{"tags", core.SearchQuery{Text: "anna", Tags: []string{"vip"}}, []string{ckey(f.anna), ckey(f.annaOnly)}},
		{"two tags", core.SearchQuery{Text: "anna", Tags: []string{"vip", "new"}}, []string{ckey(f.annaOnly)}},
		{"tags and types exclude each other", core.SearchQuery{Text: "anna", Tags: []string{"vip"}, Types: []core.InteractionType{core.TypeNote}}, nil},
		{"date range", core.SearchQuery{Scope: core.ScopeInteractions, From: day(3), To: day(6)}, []string{ikey(f.notePl), ikey(f.orderTea)}},
		{"date from", core.SearchQuery{Text: "клиент", From: day(7)}, []string{ikey(f.noteRu)}},
		{"date from later", core.SearchQuery{Text: "клиент", From: day(8)}, nil},
		{"date to", core.SearchQuery{Text: "klient", To: day(3)}, []string{ikey(f.noteLodz)}},
		{"last seen", core.SearchQuery{Scope: core.ScopeCustomers, From: day(6)}, []string{ckey(f.annabelle), ckey(f.ivan)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keys(doSearch(t, x, tt.q))
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	// A customer's history with no words comes newest first.
	got := keys(doSearch(t, x, core.SearchQuery{CustomerID: f.anna.ID, Scope: core.ScopeInteractions}))
	if want := []string{ikey(f.notePl), ikey(f.noteLodz)}; !slices.Equal(got, want) {
		t.Errorf("history order %v, want %v", got, want)
	}
}

func TestSearchHitsAndHighlights(t *testing.T) {
	f := newFixture()
	// A stored value holding the mark characters must not forge highlights.
	forged := f.feed.addCustomer(core.Customer{Name: "Eve \ue000Forger\ue001 Zed"})
	x := openTest(t, t.TempDir(), f.feed)

	r := doSearch(t, x, core.SearchQuery{Text: "anna kowal"})
	if len(r.Hits) == 0 || r.Hits[0].ID != f.anna.ID {
		t.Fatalf("hits %v", keys(r))
	}
	h := r.Hits[0]
	if h.Kind != core.KindCustomer || h.KindName != "customer" || h.CustomerID != f.anna.ID ||
		h.Title != "Anna Kowalska" || h.Subtitle != "anna.kowalska@example.pl" || h.Score <= 0 {
		t.Errorf("hit %+v", h)
	}
	if got := h.Fragments["name"]; len(got) != 1 || got[0] != "\ue000Anna\ue001 \ue000Kowalska\ue001" {
		t.Errorf("name fragments %q", got)
	}
	if got := h.Fragments["email"]; len(got) != 1 || !strings.Contains(got[0], "\ue000kowalska\ue001") {
		t.Errorf("email fragments %q", got)
	}

	r = doSearch(t, x, core.SearchQuery{Text: "601 23"})
	if got := r.Hits[0].Fragments["phone"]; len(got) != 1 || got[0] != "+48\ue00060123\ue0014567" {
		t.Errorf("phone fragments %q", got)
	}

	r = doSearch(t, x, core.SearchQuery{Text: "kettle"})
	h = r.Hits[0]
	if h.Kind != core.KindInteraction || h.ID != f.ticket.ID || h.CustomerID != f.annabelle.ID ||
		h.Title != "ticket opened" || h.Subtitle != "Annabelle Smith" || !h.Time.Equal(f.ticket.Time) {
		t.Errorf("interaction hit %+v", h)
	}
	frag := h.Fragments["text"]
	if len(frag) == 0 || !strings.Contains(frag[0], "\ue000kettle\ue001") || !strings.Contains(frag[0], "<b>now</b>") {
		t.Errorf("text fragments %q (stored text comes back as text, for the caller to escape)", frag)
	}

	r = doSearch(t, x, core.SearchQuery{Text: "herbata"})
	if h := r.Hits[0]; h.Title != "purchase · 129.00 PLN" || h.Subtitle != "Jan Kowalski" {
		t.Errorf("purchase hit %+v", h)
	}
	r = doSearch(t, x, core.SearchQuery{Text: "заказ"})
	if frag := r.Hits[0].Fragments["text"]; len(frag) == 0 || !strings.Contains(frag[0], "\ue000заказов\ue001") {
		t.Errorf("stemmed highlight %q", frag)
	}

	r = doSearch(t, x, core.SearchQuery{Text: "forger"})
	if len(r.Hits) != 1 || r.Hits[0].ID != forged.ID {
		t.Fatalf("forged: %v", keys(r))
	}
	if got := r.Hits[0].Fragments["name"]; len(got) != 1 || got[0] != "Eve \ue000Forger\ue001 Zed" {
		t.Errorf("forged fragments %q", got)
	}
}

func TestLimitOffsetAndTotal(t *testing.T) {
	feed := newMemFeed()
	for i := 0; i < 30; i++ {
		feed.addCustomer(core.Customer{Name: "Zofia Test"})
	}
	x := openTest(t, t.TempDir(), feed)
	r := doSearch(t, x, core.SearchQuery{Text: "zofia"})
	if r.Total != 30 || len(r.Hits) != 20 {
		t.Errorf("total %d hits %d", r.Total, len(r.Hits))
	}
	r2 := doSearch(t, x, core.SearchQuery{Text: "zofia", Limit: 25, Offset: 20})
	if len(r2.Hits) != 10 {
		t.Errorf("second page %d hits", len(r2.Hits))
	}
}

// A short last word over many matches takes the cheap path (unscored,
// stops after the page): whole-value matches still come first, pages do not
// overlap, highlights stay, and typo matches are left to longer words.
func TestShortPrefixCheapPath(t *testing.T) {
	feed := newMemFeed()
	for i := 0; i < 40; i++ {
		feed.addCustomer(core.Customer{Name: fmt.Sprintf("Zofia Test%d", i), Emails: []string{fmt.Sprintf("zofia%d@example.com", i)}})
	}
	hanna := feed.addCustomer(core.Customer{Name: "Hanna Zorro"})
	exact := feed.addCustomer(core.Customer{Name: "Zo"}) // added last: index order puts it last
	x := openTest(t, t.TempDir(), feed)

	r := doSearch(t, x, core.SearchQuery{Text: "zo", Limit: 10})
	if len(r.Hits) != 10 || r.Hits[0].ID != exact.ID {
		t.Fatalf("exact match must come first: %v", keys(r))
	}
	if r.Total < 10 {
		t.Errorf("total %d < page", r.Total)
	}
	if got := r.Hits[1].Fragments["name"]; len(got) != 1 || !strings.Contains(got[0], "\ue000Zofia\ue001") {
		t.Errorf("highlight %q", got)
	}
	// Unscored hits come in index order, which background merges of a
	// freshly written index still change; once it settles, pages follow
	// one order and neither repeat nor skip.
	walk := func() []string {
		var all []string
		for off := 0; off < 60; off += 10 {
			all = append(all, keys(doSearch(t, x, core.SearchQuery{Text: "zo", Limit: 10, Offset: off}))...)
		}
		return all
	}
	var pages []string
	for try, prev := 0, walk(); try < 100; try++ {
		time.Sleep(20 * time.Millisecond)
		if pages = walk(); slices.Equal(pages, prev) {
			break
		}
		prev = pages
	}
	uniq := slices.Clone(pages)
	slices.Sort(uniq)
	if len(pages) != 42 || len(slices.Compact(uniq)) != 42 {
		t.Errorf("paged through %d hits, %d distinct, of 42: %v", len(pages), len(uniq), pages)
	}

	// "anna zo": strict matches are none, so the scored query runs and
	// its typo clause finds Hanna.
	if got := keys(doSearch(t, x, core.SearchQuery{Text: "anna zo"})); !slices.Contains(got, ckey(hanna)) {
		t.Errorf("anna zo: %v", got)
	}
	// Few matches: the scored query runs, and the total is exact.
	if r := doSearch(t, x, core.SearchQuery{Text: "han"}); r.Total != 1 || len(r.Hits) != 1 {
		t.Errorf("han: total %d hits %v", r.Total, keys(r))
	}
}

// Typo clauses run only when the strict words leave the first page short.
func TestTypoClausesOnlyWhenFew(t *testing.T) {
	feed := newMemFeed()
	typo := feed.addCustomer(core.Customer{Name: "Olga Kowalsky"})
	for i := 0; i < 3; i++ {
		feed.addCustomer(core.Customer{Name: fmt.Sprintf("Jan Kowalski%d", i)})
	}
	x := openTest(t, t.TempDir(), feed)
	if r := doSearch(t, x, core.SearchQuery{Text: "kowalski"}); !slices.Contains(keys(r), ckey(typo)) {
		t.Errorf("few strict matches must bring the typo match: %v", keys(r))
	}
	for i := 0; i < 30; i++ {
		feed.addCustomer(core.Customer{Name: fmt.Sprintf("Ewa Kowalski%d", i)})
	}
	if err := x.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := doSearch(t, x, core.SearchQuery{Text: "kowalski"})
	if len(r.Hits) != 20 || r.Total != 33 || slices.Contains(keys(r), ckey(typo)) {
		t.Errorf("a full page of strict matches: total %d %v", r.Total, keys(r))
	}
}

func TestDeletion(t *testing.T) {
	f := newFixture()
	x := openTest(t, t.TempDir(), f.feed)
	if got := keys(doSearch(t, x, core.SearchQuery{Text: "lodz"})); !slices.Contains(got, ikey(f.noteLodz)) {
		t.Fatalf("before erase: %v", got)
	}
	f.feed.erase(f.anna.ID)
	if err := x.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"kowalska", "lodz", "zamówienie", "601"} {
		got := keys(doSearch(t, x, core.SearchQuery{Text: q}))
		if slices.Contains(got, ckey(f.anna)) || slices.Contains(got, ikey(f.noteLodz)) || slices.Contains(got, ikey(f.notePl)) {
			t.Errorf("%q still finds the erased customer: %v", q, got)
		}
	}
	if got := keys(doSearch(t, x, core.SearchQuery{Text: "kowalski"})); !slices.Contains(got, ckey(f.jan)) {
		t.Errorf("others must stay: %v", got)
	}
}

func TestWatermarkPersists(t *testing.T) {
	f := newFixture()
	dir := t.TempDir()
	ctx := context.Background()
	x, err := Open(ctx, dir, f.feed, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := x.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := f.feed.LastChange(ctx)
	if st.Watermark != last || st.Lag != 0 || st.Version != MappingVersion || st.Documents == 0 {
		t.Fatalf("status %+v, last change %d", st, last)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Search(ctx, core.SearchQuery{Text: "anna"}); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("search after close: %v", err)
	}

	// Changes made while closed are picked up from the stored watermark;
	// the log before it may be gone.
	_ = f.feed.TrimChanges(ctx, last)
	zed := f.feed.addCustomer(core.Customer{Name: "Zenon Zegarek"})
	x2, err := Open(ctx, dir, f.feed, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer x2.Close()
	if x2.needRebuild.Load() {
		t.Fatal("a clean reopen must not rebuild")
	}
	st2, _ := x2.Status(ctx)
	if st2.Watermark != last || st2.Lag != 1 {
		t.Errorf("reopened status %+v, want watermark %d lag 1", st2, last)
	}
	if err := x2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := keys(doSearch(t, x2, core.SearchQuery{Text: "zegarek"})); !slices.Equal(got, []string{ckey(zed)}) {
		t.Errorf("after reopen: %v", got)
	}
	if got := keys(doSearch(t, x2, core.SearchQuery{Text: "kowalska"})); !slices.Contains(got, ckey(f.anna)) {
		t.Errorf("old documents lost: %v", got)
	}
}

// TestCrashRecovery copies the index directory while the index is open and
// writing (what a power cut leaves on disk), opens the copy and checks it
// catches up to the same answers: the watermark on disk is never ahead of
// the documents on disk.
func TestCrashRecovery(t *testing.T) {
	f := newFixture()
	dir := t.TempDir()
	ctx := context.Background()
	x, err := Open(ctx, dir, f.feed, Options{Logger: quietLogger(), BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := x.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		f.feed.addCustomer(core.Customer{Name: "Crash Test"})
	}
	if err := x.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	y, err := Open(ctx, crashed, f.feed, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	st, _ := y.Status(ctx)
	last, _ := f.feed.LastChange(ctx)
	if st.Watermark > last {
		t.Fatalf("watermark %d ahead of the log %d", st.Watermark, last)
	}
	if err := y.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"crash", "anna", "lodz", "herbata"} {
		a := keys(doSearch(t, x, core.SearchQuery{Text: q, Limit: 100}))
		b := keys(doSearch(t, y, core.SearchQuery{Text: q, Limit: 100}))
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("%q: original %v, recovered %v", q, a, b)
		}
	}
}

func TestVersionChangeAndCorruptionRebuild(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, x *Index)
	}{
		{"version", func(t *testing.T, dir string, x *Index) {
			if err := x.idx.SetInternal(keyVersion, []byte("0")); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage index", func(t *testing.T, dir string, x *Index) {
			_ = x.Close()
			root := filepath.Join(dir, x.name)
			_ = os.RemoveAll(root)
			_ = os.MkdirAll(root, 0o750)
			_ = os.WriteFile(filepath.Join(root, "index_meta.json"), []byte("{not json"), 0o600)
		}},
		{"garbage CURRENT", func(t *testing.T, dir string, x *Index) {
			_ = os.WriteFile(filepath.Join(dir, currentFile), []byte("../../etc"), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			dir := t.TempDir()
			x, err := Open(ctx, dir, f.feed, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if err := x.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir, x)
			_ = x.Close()
			// The log is trimmed: only a rebuild from the entities can work.
			last, _ := f.feed.LastChange(ctx)
			_ = f.feed.TrimChanges(ctx, last)

			y, err := Open(ctx, dir, f.feed, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer y.Close()
			if !y.needRebuild.Load() {
				t.Fatal("want a rebuild")
			}
			if err := y.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			st, _ := y.Status(ctx)
			if st.Watermark != last || st.Version != MappingVersion || st.Documents != 12 {
				t.Errorf("status %+v", st)
			}
			if got := keys(doSearch(t, y, core.SearchQuery{Text: "lodz"})); !slices.Equal(got, []string{ikey(f.noteLodz)}) {
				t.Errorf("after rebuild: %v", got)
			}
			ents, _ := os.ReadDir(dir)
			var dirs int
			for _, e := range ents {
				if e.IsDir() {
					dirs++
				}
			}
			if dirs != 1 {
				t.Errorf("%d index directories left", dirs)
			}
		})
	}
}

func TestRebuildEqualsIncremental(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	x := openTest(t, t.TempDir(), f.feed)
	f.feed.erase(f.marta.ID)
	f.feed.addInteraction(core.Interaction{CustomerID: f.jan.ID, Type: core.TypeNote, Text: "Prosi o fakturę"})
	if err := x.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	queries := []core.SearchQuery{
		{Text: "an"}, {Text: "kowal"}, {Text: "faktura"}, {Text: "wisniew"}, {Text: "601"},
		{Text: "заказ"}, {CustomerID: f.jan.ID}, {Scope: core.ScopeCustomers, Tags: []string{"vip"}},
	}
	before := make([][]string, len(queries))
	for i, q := range queries {
		before[i] = keys(doSearch(t, x, q))
	}
	stBefore, _ := x.Status(ctx)
	if err := x.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	stAfter, _ := x.Status(ctx)
	if stBefore.Documents != stAfter.Documents || stAfter.Watermark != stBefore.Watermark {
		t.Errorf("status before %+v after %+v", stBefore, stAfter)
	}
	for i, q := range queries {
		after := keys(doSearch(t, x, q))
		a, b := slices.Clone(before[i]), slices.Clone(after)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("%+v: incremental %v, rebuilt %v", q, before[i], after)
		}
	}
}

func TestRunTailsAndTrims(t *testing.T) {
	f := newFixture()
	ctx, cancel := context.WithCancel(context.Background())
	x, err := Open(ctx, t.TempDir(), f.feed, Options{Logger: quietLogger(), PollInterval: 5 * time.Millisecond, TrimInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	c := f.feed.addCustomer(core.Customer{Name: "Wiesław Runner"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := doSearch(t, x, core.SearchQuery{Text: "wieslaw"})
		if len(r.Hits) == 1 && r.Hits[0].ID == c.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not index the new customer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for f.feed.trimmedUpTo() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.feed.trimmedUpTo() == 0 {
		t.Error("Run never trimmed the change log")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func (f *memFeed) trimmedUpTo() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.trimmed
}

func TestHostileQueries(t *testing.T) {
	f := newFixture()
	x := openTest(t, t.TempDir(), f.feed)
	tests := []struct {
		name    string
		q       core.SearchQuery
		invalid bool
	}{
		{"empty", core.SearchQuery{}, false},
		{"spaces", core.SearchQuery{Text: "   \t\n "}, false},
		{"punctuation", core.SearchQuery{Text: `!@#$%^&*()_+{}|:"<>?~`}, false},
		{"bleve syntax", core.SearchQuery{Text: `+name:x* -foo ^2 ~ name:/.*/ title:"a`}, false},
		{"wildcards", core.SearchQuery{Text: "*"}, false},
		{"regexp bomb", core.SearchQuery{Text: "(a+)+$ .*.*.*.*"}, false},
		{"unbalanced quotes", core.SearchQuery{Text: `"anna`}, false},
		{"empty quotes", core.SearchQuery{Text: `"" anna ""`}, false},
		{"invalid utf-8", core.SearchQuery{Text: "ann\xff\xfe a"}, false},
		{"marks", core.SearchQuery{Text: "\ue000anna\ue001"}, false},
		{"long word", core.SearchQuery{Text: strings.Repeat("a", 500)}, false},
		{"many words", core.SearchQuery{Text: strings.Repeat("anna ", 100)}, false},
		{"long digits", core.SearchQuery{Text: strings.Repeat("1", 400)}, false},
		{"10KB", core.SearchQuery{Text: strings.Repeat("kowalski ", 1200)}, true},
		{"bad scope", core.SearchQuery{Text: "anna", Scope: "everything"}, true},
		{"limit too big", core.SearchQuery{Text: "anna", Limit: 1000}, true},
		{"negative limit", core.SearchQuery{Text: "anna", Limit: -1}, true},
		{"negative offset", core.SearchQuery{Text: "anna", Offset: -1}, true},
		{"deep offset", core.SearchQuery{Text: "anna", Offset: 1 << 30}, true},
		{"reversed dates", core.SearchQuery{Text: "anna", From: day(5), To: day(1)}, true},
		{"weird tag", core.SearchQuery{Text: "anna", Tags: []string{"*", "\x00"}}, false},
		{"weird type", core.SearchQuery{Types: []core.InteractionType{"+type:*"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := x.Search(context.Background(), tt.q)
			if tt.invalid {
				if !errors.Is(err, core.ErrInvalid) {
					t.Errorf("want ErrInvalid, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if r.Hits == nil {
				t.Error("hits must be an empty list, not nil")
			}
		})
	}
	// Syntax is searched as words: "+name:x*" looks for the words name and x.
	r := doSearch(t, x, core.SearchQuery{Text: "kowalska:"})
	if !slices.Contains(keys(r), ckey(f.anna)) {
		t.Errorf("punctuation around a word: %v", keys(r))
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		in      string
		words   []string
		last    bool
		phrases int
	}{
		{"anna k", []string{"anna", "k"}, true, 0},
		{"anna k ", []string{"anna", "k"}, false, 0},
		{"601 23", []string{"60123"}, true, 0},
		{"+48 (601) 234-567", []string{"48601234567"}, true, 0},
		{"order 123   456", []string{"order", "123456"}, true, 0},
		{"abc 123, 456", []string{"abc", "123", "456"}, true, 0},
		{`"zielona herbata" tea`, []string{"tea"}, true, 1},
		{`"one" two`, []string{"one", "two"}, true, 0},
		{`a "b`, []string{"a", "b"}, true, 0},
		{"jan.kowalski@example.pl", []string{"jan", "kowalski", "example", "pl"}, true, 0},
		{"Anna Dą", []string{"Anna", "Dą"}, true, 0}, // ą ends in byte 0x85 (NEL as a rune)
		{"Анна Ка", []string{"Анна", "Ка"}, true, 0},
		{"Anna Dą ", []string{"Anna", "Dą"}, false, 0},
	}
	for _, tt := range tests {
		p := parseQuery(tt.in)
		var words []string
		for _, w := range p.tokens {
			words = append(words, w.word)
		}
		if !slices.Equal(words, tt.words) || len(p.phrases) != tt.phrases {
			t.Errorf("%q: words %q phrases %v", tt.in, words, p.phrases)
		}
		if len(p.tokens) > 0 && p.tokens[len(p.tokens)-1].last != tt.last {
			t.Errorf("%q: last=%v", tt.in, !tt.last)
		}
	}
}

func FuzzSearchQuery(f *testing.F) {
	fx := newFixture()
	x := openTest(f, f.TempDir(), fx.feed)
	for _, s := range []string{"anna k", `"zielona herbata"`, "601 23", "+name:x* -foo ^2 ~", "Иванов", "Łódź", "\xff", `"`, "a@b.c"} {
		f.Add(s, "", 0, 0)
	}
	f.Add("kowal", "customers", 5, 2)
	f.Fuzz(func(t *testing.T, text, scope string, limit, offset int) {
		r, err := x.Search(context.Background(), core.SearchQuery{Text: text, Scope: core.SearchScope(scope), Limit: limit, Offset: offset})
		if err != nil {
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("%q: %v", text, err)
			}
			return
		}
		for _, h := range r.Hits {
			for _, frs := range h.Fragments {
				for _, fr := range frs {
					if strings.Count(fr, core.HighlightStart) != strings.Count(fr, core.HighlightEnd) {
						t.Fatalf("unbalanced marks in %q", fr)
					}
				}
			}
		}
	})
}
