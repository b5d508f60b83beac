package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

// Benchmarks. The default sizes keep `go test -bench` short; the 1M-customer
// figures need RETAIN_BENCH_LARGE=1, e.g.
//
//	RETAIN_BENCH_LARGE=1 go test ./search -run '^$' -bench . -benchtime 1x -timeout 60m
//
// and take a few minutes and several GB of memory.

func largeBench() bool { return os.Getenv("RETAIN_BENCH_LARGE") == "1" }

// A small deterministic generator of customers in Polish, Russian, English
// and German, with a long tail of generated surnames so that a million
// customers do not share a few thousand names.
var (
	plFirstF = []string{"Anna", "Maria", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Krystyna", "Elżbieta", "Zofia", "Joanna", "Magdalena", "Aleksandra", "Dorota", "Beata"}
	plFirstM = []string{"Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Jan", "Michał", "Marcin", "Łukasz", "Grzegorz", "Józef", "Stanisław", "Wojciech", "Jakub", "Mateusz"}
	plLastM  = []string{"Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Kwiatkowski", "Krawczyk", "Piotrowski", "Grabowski", "Pawłowski", "Michalski", "Zając", "Wieczorek", "Jabłoński", "Król", "Majewski"}
	ruFirstF = []string{"Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Анна", "Мария", "Екатерина", "Юлия"}
	ruFirstM = []string{"Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим", "Иван", "Михаил", "Николай", "Владимир"}
	ruLastM  = []string{"Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков", "Федоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семенов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев"}
	enFirst  = []string{"James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth", "David", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Emily", "Daniel"}
	enLast   = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis"}
	deFirst  = []string{"Lukas", "Leon", "Finn", "Jonas", "Emma", "Mia", "Hannah", "Sophie", "Jürgen", "Käthe"}
	deLast   = []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Schäfer", "Koch"}
	sylLat   = []string{"ka", "ro", "wi", "len", "ber", "mas", "tor", "ski", "dal", "mon", "rek", "sza", "gor", "lin", "bra", "ne", "vo", "zy", "man", "del"}
	sylCyr   = []string{"ка", "ро", "ви", "лен", "бер", "мас", "тор", "ско", "дал", "мон", "рек", "ша", "гор", "лин", "бра", "не", "во", "зи", "ман", "дел"}
	ruLat    = map[rune]string{'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ж': "zh", 'з': "z", 'и': "i", 'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t", 'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "sch", 'ы': "y", 'ь': "", 'э': "e", 'ю': "yu", 'я': "ya"}
	domains  = []string{"gmail.com", "wp.pl", "onet.pl", "interia.pl", "mail.ru", "yandex.ru", "outlook.com", "web.de", "example.com"}
	notesPl  = []string{"Klientka pyta o status zamówienia", "Reklamacja: uszkodzona paczka, wysłano nową", "Prosi o fakturę na firmę", "Zmiana adresu dostawy do Łódź"}
	notesRu  = []string{"Клиент спрашивает о статусе заказа", "Жалоба на задержку доставки", "Просит выставить счёт на компанию"}
	notesEn  = []string{"Customer asked about the order status", "Complaint: damaged parcel, replacement sent", "Wants an invoice for the company"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func translit(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if l, ok := ruLat[r]; ok {
			b.WriteString(l)
		} else if r < 0x80 {
			b.WriteRune(r)
		} else {
			b.WriteString(strings.ToLower(foldString(string(r))))
		}
	}
	return b.String()
}

func foldString(s string) string {
	f := foldFilter{}
	_ = f
	repl := strings.NewReplacer("ą", "a", "ć", "c", "ę", "e", "ł", "l", "ń", "n", "ó", "o", "ś", "s", "ź", "z", "ż", "z", "ü", "u", "ä", "a", "ö", "o", "ß", "ss",
		"Ą", "A", "Ć", "C", "Ę", "E", "Ł", "L", "Ń", "N", "Ó", "O", "Ś", "S", "Ź", "Z", "Ż", "Z", "Ü", "U", "Ä", "A", "Ö", "O")
	return repl.Replace(s)
}

func genSurname(r *rand.Rand, syl []string) string {
	n := 2 + r.IntN(2)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(pick(r, syl))
	}
	s := b.String()
	first, size := []rune(s)[0], len(string([]rune(s)[0]))
	return strings.ToUpper(string(first)) + s[size:]
}

// genCustomer makes customer number i; the same i gives the same customer.
func genCustomer(i int) core.Customer {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	var first, last, cc string
	var digits int
	female := r.IntN(2) == 0
	switch lang := r.IntN(10); {
	case lang < 4: // Polish
		last = pick(r, plLastM)
		if r.IntN(10) < 4 {
			last = genSurname(r, sylLat)
		}
		if female {
			first = pick(r, plFirstF)
			if strings.HasSuffix(last, "ski") || strings.HasSuffix(last, "cki") {
				last = last[:len(last)-1] + "a"
			}
		} else {
			first = pick(r, plFirstM)
		}
		cc, digits = "48", 9
	case lang < 7: // Russian
		last = pick(r, ruLastM)
		if r.IntN(10) < 4 {
			last = genSurname(r, sylCyr) + "ов"
		}
		if female {
			first, last = pick(r, ruFirstF), last+"а"
		} else {
			first = pick(r, ruFirstM)
		}
		cc, digits = "7", 10
	case lang < 9:
		first, last = pick(r, enFirst), pick(r, enLast)
		if r.IntN(10) < 4 {
			last = genSurname(r, sylLat)
		}
		cc, digits = "44", 10
	default:
		first, last = pick(r, deFirst), pick(r, deLast)
		cc, digits = "49", 10
	}
	local := translit(first) + "." + translit(last)
	if r.IntN(3) == 0 {
		local += fmt.Sprint(r.IntN(1000))
	}
	phone := "+" + cc + fmt.Sprint(5+r.IntN(4))
	for k := 1; k < digits; k++ {
		phone += fmt.Sprint(r.IntN(10))
	}
	return core.Customer{
		ID:         core.ID(i + 1),
		ExternalID: fmt.Sprintf("C%07d", i+1),
		Name:       first + " " + last,
		Emails:     []string{local + "@" + pick(r, domains)},
		Phones:     []string{phone},
		Tags:       []string{pick(r, []string{"vip", "new", "wholesale", "retail"})},
		LastSeen:   time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(365*24)) * time.Hour),
	}
}

func genNote(i int, c core.Customer) core.Interaction {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	var text string
	switch r.IntN(3) {
	case 0:
		text = pick(r, notesPl)
	case 1:
		text = pick(r, notesRu)
	default:
		text = pick(r, notesEn)
	}
	return core.Interaction{
		ID: core.ID(10_000_000 + i), CustomerID: c.ID, Type: core.TypeNote,
		Time: c.LastSeen, Text: fmt.Sprintf("%s (#%d)", text, i),
	}
}

// fillFeed puts n customers (and one note for every fifth) into a feed.
func fillFeed(n int, notes bool) *memFeed {
	f := newMemFeed()
	f.log = make([]core.Change, 0, n+n/5)
	for i := 0; i < n; i++ {
		c := genCustomer(i)
		f.custs[c.ID] = c
		f.record(core.KindCustomer, c.ID, c.ID, false)
		if notes && i%5 == 0 {
			in := genNote(i, c)
			f.inters[in.ID] = in
			f.record(core.KindInteraction, in.ID, c.ID, false)
		}
	}
	f.nextID = core.ID(n + 1)
	return f
}

func BenchmarkCatchUp(b *testing.B) {
	n := 20_000
	if largeBench() {
		n = 200_000
	}
	for _, bs := range []int{500, 2000, 5000} {
		b.Run(fmt.Sprintf("docs=%d/batch=%d", n, bs), func(b *testing.B) {
			feed := fillFeed(n, true)
			docs := len(feed.custs) + len(feed.inters)
			ctx := context.Background()
			b.ResetTimer()
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				x, err := Open(ctx, dir, feed, Options{BatchSize: bs, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := x.CatchUp(ctx); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				_ = x.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(docs*b.N)/elapsed.Seconds(), "docs/s")
		})
	}
}

func BenchmarkRebuild(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("RETAIN_BENCH_N")); err == nil {
		n = v
	}
	if largeBench() {
		n = 200_000
	}
	feed := fillFeed(n, true)
	docs := len(feed.custs) + len(feed.inters)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x, err := Open(ctx, b.TempDir(), feed, Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if err := x.Rebuild(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = x.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(docs*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// benchIndex builds one index per size per process: at a million customers
// the build takes minutes, and every benchmark run would repeat it.
var benchIndexes sync.Map // size -> *benchIdx

type benchIdx struct {
	once sync.Once
	x    *Index
	took time.Duration
	err  error
}

func getBenchIndex(b *testing.B, n int) *Index {
	v, _ := benchIndexes.LoadOrStore(n, &benchIdx{})
	bi := v.(*benchIdx)
	bi.once.Do(func() {
		// RETAIN_BENCH_INDEX_DIR keeps the built index between runs (for
		// query work; delete it after changing the mapping).
		var dir string
		var err error
		if d := os.Getenv("RETAIN_BENCH_INDEX_DIR"); d != "" {
			dir = fmt.Sprintf("%s/%d", d, n)
		} else if dir, err = os.MkdirTemp("", "retain-search-bench-"); err != nil {
			bi.err = err
			return
		} else {
			benchDirs = append(benchDirs, dir)
		}
		feed := fillFeed(n, false)
		start := time.Now()
		bi.x, bi.err = Open(context.Background(), dir, feed, Options{BatchSize: 5000, Logger: quietLogger()})
		if st, _ := bi.x.Status(context.Background()); bi.err == nil && (st.Documents != uint64(n) || bi.x.needRebuild.Load()) {
			bi.err = bi.x.Rebuild(context.Background())
		}
		bi.took = time.Since(start)
		b.Logf("built the %d-customer index in %s", n, bi.took.Round(time.Second))
	})
	if bi.err != nil {
		b.Fatal(bi.err)
	}
	return bi.x
}

var benchDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range benchDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// typedQueries are what people type into the search box: growing prefixes
// of names, a name and the start of a surname, emails and phone fragments,
// and a surname with one typo.
var queryClasses = []string{"2 letters", "3 letters", "name + 2 letters", "surname", "email fragment", "phone fragment", "surname typo"}

func typedQueries(n, count int) ([]string, []int) {
	r := rand.New(rand.NewPCG(1, 2))
	var qs []string
	var cls []int
	for len(qs) < count {
		cls = append(cls, len(qs)) // fixed below
		k := r.IntN(7)
		cls[len(cls)-1] = k
		c := genCustomer(r.IntN(n))
		words := strings.Fields(c.Name)
		first, last := []rune(words[0]), []rune(words[len(words)-1])
		switch k {
		case 0:
			qs = append(qs, string(first[:min(2, len(first))]))
		case 1:
			qs = append(qs, string(first[:min(3, len(first))]))
		case 2:
			qs = append(qs, string(first)+" "+string(last[:min(2, len(last))]))
		case 3:
			qs = append(qs, string(last))
		case 4:
			e := c.Emails[0]
			at := strings.IndexByte(e, '@')
			s := r.IntN(max(1, at-5))
			qs = append(qs, e[s:min(at, s+5)])
		case 5:
			d := digitsOnly(c.Phones[0])
			s := 2 + r.IntN(len(d)-7)
			qs = append(qs, d[s:s+3]+" "+d[s+3:s+5])
		case 6:
			l := slices.Clone(last)
			if len(l) > 4 {
				l[len(l)-2] = 'y'
			}
			qs = append(qs, string(l))
		}
	}
	return qs, cls
}

func BenchmarkSearchAsYouType(b *testing.B) {
	sizes := []int{50_000}
	if largeBench() {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			x := getBenchIndex(b, n)
			qs, cls := typedQueries(n, 2000)
			ctx := context.Background()
			// warm up: the first queries page the index in
			for _, q := range qs[:200] {
				if _, err := x.Search(ctx, core.SearchQuery{Text: q}); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, b.N)
			byClass := make([][]time.Duration, len(queryClasses))
			var hits int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q := qs[i%len(qs)]
				start := time.Now()
				res, err := x.Search(ctx, core.SearchQuery{Text: q})
				d := time.Since(start)
				lat = append(lat, d)
				byClass[cls[i%len(qs)]] = append(byClass[cls[i%len(qs)]], d)
				if err != nil {
					b.Fatal(err)
				}
				hits += len(res.Hits)
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(float64(hits)/float64(b.N), "hits/op")
			for c, ls := range byClass {
				if len(ls) == 0 {
					continue
				}
				slices.Sort(ls)
				b.Logf("%-18s n=%4d p50 %6.2f ms  p99 %6.2f ms", queryClasses[c], len(ls),
					float64(ls[len(ls)/2].Microseconds())/1000, float64(ls[min(len(ls)-1, len(ls)*99/100)].Microseconds())/1000)
			}
		})
	}
}
