package search

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/highlight"
	sfrag "github.com/blevesearch/bleve/v2/search/highlight/fragmenter/simple"
	shl "github.com/blevesearch/bleve/v2/search/highlight/highlighter/simple"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/retain-crm/retain/core"
)

// Limits on a query. Longer input is refused rather than cut, so the caller
// learns that its text was not searched as typed.
const (
	MaxQueryBytes = 512
	MaxQueryWords = 12 // words beyond these are ignored
	MaxLimit      = 100
	MaxOffset     = 10000 // deep pages cost as much as the whole result
	defaultLimit  = 20
	fuzzyMinRunes = 4 // one typo is tolerated in words of at least this many letters
	textPrefixMin = 3 // shorter prefixes over interaction text expand to too many terms
)

// Boosts: an exact whole-value match (name, email, phone, external id)
// outranks a whole-word match, which outranks a prefix, which outranks a
// typo-tolerant match.
const (
	boostExact  = 20
	boostWord   = 4
	boostPrefix = 2
	boostFuzzy  = 1
	boostText   = 1.5
)

// qtoken is one thing typed: a word, or digits typed in groups ("601 23").
type qtoken struct {
	word   string   // the word as typed (a digit group: the digits joined)
	parts  []string // a digit group's parts, each also searched as a word
	digits bool     // only digits
	last   bool     // the word being typed: matched as a prefix in text too
	joined bool     // typed right after punctuation, as in an address ("example.pl")
}

type parsedQuery struct {
	tokens  []qtoken
	phrases [][]string // quoted words, two or more
	whole   string     // the text with spaces collapsed, for exact matches
}

// parseQuery splits the user's text into words, digit groups and quoted
// phrases. Only letters and digits survive, so nothing the user types can
// reach bleve as query syntax.
func parseQuery(text string) parsedQuery {
	text = strings.ToValidUTF8(text, " ")
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\ue000' || r == '\ue001' {
			return ' '
		}
		return r
	}, text)
	var p parsedQuery
	p.whole = strings.Join(strings.Fields(text), " ")

	// Split into quoted and unquoted segments; an unmatched quote is ignored.
	var plain strings.Builder
	rest := text
	for {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			plain.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i+1:], '"')
		if j < 0 {
			plain.WriteString(rest[:i])
			plain.WriteByte(' ')
			plain.WriteString(rest[i+1:])
			break
		}
		plain.WriteString(rest[:i])
		plain.WriteByte(' ')
		words := splitWords(rest[i+1 : i+1+j])
		if len(words) > 1 {
			if len(words) > MaxQueryWords {
				words = words[:MaxQueryWords]
			}
			p.phrases = append(p.phrases, words)
		} else if len(words) == 1 {
			p.tokens = append(p.tokens, qtoken{word: words[0], digits: allDigits(words[0])})
		}
		rest = rest[i+1+j+1:]
	}
	s := plain.String()
	// The last rune, not the last byte: "ą" ends in 0x85, which as a rune is a space.
	lastRune, _ := utf8.DecodeLastRuneInString(text)
	endsOpen := len(text) > 0 && !unicode.IsSpace(lastRune) && lastRune != '"'

	// Words, with runs of digit groups separated only by phone punctuation
	// joined into one token.
	var toks []qtoken
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			i += n
			continue
		}
		j := i
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if !isWordRune(r) {
				break
			}
			j += n
		}
		w := s[i:j]
		if allDigits(w) && len(toks) > 0 {
			prev := &toks[len(toks)-1]
			if prev.digits && onlyPhonePunct(s[prevEnd(s, i):i]) {
				if prev.parts == nil {
					prev.parts = []string{prev.word}
				}
				prev.parts = append(prev.parts, w)
				prev.word += w
				i = j
				continue
			}
		}
		sep := s[prevEnd(s, i):i]
		joined := len(toks) > 0 && sep != "" && strings.TrimFunc(sep, unicode.IsSpace) == sep
		toks = append(toks, qtoken{word: w, digits: allDigits(w), joined: joined})
		i = j
	}
	if len(toks) > 0 && endsOpen {
		toks[len(toks)-1].last = true
	}
	p.tokens = append(p.tokens, toks...)
	if len(p.tokens) > MaxQueryWords {
		p.tokens = p.tokens[:MaxQueryWords]
	}
	return p
}

// prevEnd finds where the separator run before position i starts.
func prevEnd(s string, i int) int {
	j := i
	for j > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:j])
		if isWordRune(r) {
			break
		}
		j -= n
	}
	return j
}

func onlyPhonePunct(sep string) bool {
	for _, r := range sep {
		if !strings.ContainsRune(" -.()/+", r) {
			return false
		}
	}
	return len(sep) <= 3
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !isWordRune(r) })
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func hasCyrillic(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cyrillic, r) {
			return true
		}
	}
	return false
}

func hasLatin(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Latin, r) {
			return true
		}
	}
	return false
}

// builder turns a parsed query into bleve queries for one scope.
type builder struct {
	customers    bool // customer fields take part
	interactions bool // interaction fields take part
	strict       bool // no typo-tolerant clauses (the cheap path)
	word, exact  analysis.Analyzer
}

func (b *builder) analyze(a analysis.Analyzer, s string) string {
	ts := a.Analyze([]byte(s))
	if len(ts) == 0 {
		return ""
	}
	return string(ts[0].Term)
}

func term(field, t string, boost float64) query.Query {
	q := query.NewTermQuery(t)
	q.SetField(field)
	q.SetBoost(boost)
	return q
}

func truncRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n; k++ {
		_, sz := utf8.DecodeRuneInString(s[i:])
		i += sz
	}
	return s[:i]
}

// wordQuery matches one typed word in any field of the scope.
func (b *builder) wordQuery(t qtoken) query.Query {
	f := b.analyze(b.word, t.word) // lower-cased and folded, as indexed
	if f == "" {
		return nil
	}
	runes := utf8.RuneCountInString(f)
	var qs []query.Query
	fuzzy := func(field string, boost float64) {
		if runes >= fuzzyMinRunes && !t.digits && !b.strict {
			q := query.NewFuzzyQuery(f)
			q.SetField(field)
			q.SetFuzziness(1)
			q.SetBoost(boost)
			qs = append(qs, q)
		}
	}
	if b.customers {
		// Every clause is a posting list walked in full, and at a million
		// customers a short prefix matches a fifth of them, so clauses
		// that would only find the same documents again are left out:
		// the word being typed is matched through the name's n-grams (its
		// whole-word term lists the same people), and a one- or two-letter
		// prefix only in names (addresses mostly repeat the name).
		pfx := truncRunes(f, maxPrefixLen)
		qs = append(qs, term(fName, pfx, boostPrefix), term(fExt, f, boostWord))
		if !t.last {
			qs = append(qs, term(fNameWord, f, boostWord))
		}
		if !t.last || runes > 2 || t.joined {
			qs = append(qs, term(fEmail, pfx, boostPrefix))
		}
		fuzzy(fNameWord, boostFuzzy)
		switch n := len(t.word); {
		case !t.digits || n < minDigits || n > 15: // E.164 has at most 15 digits
		case n <= gramMax:
			qs = append(qs, term(fPhone, t.word, boostPrefix))
		default:
			q := query.NewPrefixQuery(t.word)
			q.SetField(fPhone)
			q.SetBoost(boostPrefix)
			qs = append(qs, q)
		}
	}
	if b.interactions {
		lw := strings.ToLower(t.word)
		qs = append(qs,
			term(fText, f, boostText),
			term(fExtra, f, boostText),
			term(fType, lw, boostWord),
			term(fChannel, lw, boostWord),
		)
		if t.last && runes >= textPrefixMin {
			for _, fld := range []string{fText, fExtra} {
				q := query.NewPrefixQuery(f)
				q.SetField(fld)
				q.SetBoost(boostFuzzy)
				qs = append(qs, q)
			}
		}
		fuzzy(fText, boostFuzzy/2)
		// The stemmed copies: the field's own analyzer stems the word.
		if hasCyrillic(t.word) {
			q := query.NewMatchQuery(t.word)
			q.SetField(fTextRu)
			q.SetBoost(boostText)
			qs = append(qs, q)
		}
		if hasLatin(t.word) {
			q := query.NewMatchQuery(t.word)
			q.SetField(fTextPl)
			q.SetBoost(boostText)
			qs = append(qs, q)
		}
	}
	// A digit group also matches as its separate numbers, e.g. "order 123 456".
	if len(t.parts) > 1 {
		var cs []query.Query
		for _, p := range t.parts {
			if q := b.wordQuery(qtoken{word: p, digits: true}); q != nil {
				cs = append(cs, q)
			}
		}
		if len(cs) > 0 {
			qs = append(qs, query.NewConjunctionQuery(cs))
		}
	}
	return query.NewDisjunctionQuery(qs)
}

func (b *builder) phraseQuery(words []string) query.Query {
	text := strings.Join(words, " ")
	var qs []query.Query
	add := func(field string) {
		q := query.NewMatchPhraseQuery(text)
		q.SetField(field)
		q.SetBoost(boostWord)
		qs = append(qs, q)
	}
	var name []query.Query
	if b.customers {
		// Names are short and name_w keeps no positions: a quoted name
		// matches when all its words are in the name.
		for _, w := range words {
			if t := b.analyze(b.word, w); t != "" {
				name = append(name, term(fNameWord, t, boostWord))
			}
		}
		if len(name) > 0 {
			qs = append(qs, query.NewConjunctionQuery(name))
		}
	}
	if b.interactions {
		add(fText)
		add(fExtra)
		if hasCyrillic(text) {
			add(fTextRu)
		}
		if hasLatin(text) {
			add(fTextPl)
		}
	}
	return query.NewDisjunctionQuery(qs)
}

// exactQueries reward a query that is a whole name, address, number or
// external id; they only add to the score of documents already matched.
func (b *builder) exactQueries(p parsedQuery) []query.Query {
	if !b.customers || p.whole == "" {
		return nil
	}
	var qs []query.Query
	if v := b.analyze(b.exact, p.whole); v != "" {
		qs = append(qs, term(fNameExact, v, boostExact), term(fEmailX, v, boostExact), term(fExtX, v, boostExact))
	}
	if d := digitsOnly(p.whole); len(d) >= minDigits && strings.Trim(p.whole, "+0123456789 -.()/") == "" {
		qs = append(qs, term(fPhoneX, d, boostExact))
	}
	return qs
}

func validate(q *core.SearchQuery) error {
	if len(q.Text) > MaxQueryBytes {
		return core.FieldErr("q", "at most %d bytes", MaxQueryBytes)
	}
	switch q.Scope {
	case core.ScopeAll, core.ScopeCustomers, core.ScopeInteractions:
	default:
		return core.FieldErr("scope", "must be %q or %q", core.ScopeCustomers, core.ScopeInteractions)
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return core.FieldErr("limit", "must be 1 to %d", MaxLimit)
	}
	if q.Offset < 0 || q.Offset > MaxOffset {
		return core.FieldErr("offset", "must be 0 to %d", MaxOffset)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return core.FieldErr("to", "must be after from")
	}
	if len(q.Types) > 50 || len(q.Tags) > 50 {
		return core.Invalidf("at most 50 types and 50 tags")
	}
	return nil
}

// shortPrefixMax is the longest word being typed that takes the cheap path:
// at a million customers a prefix of up to this many letters matches tens
// of thousands of people, and scoring them all was the slow tail.
const shortPrefixMax = 3

// cheapPlan answers a query whose last word is a short prefix without
// scoring every match: the whole-value matches (a few postings) are scored
// and come first, then the documents that match every word strictly (no
// typo clauses), unscored, in index order, and bleve stops reading postings
// as soon as the page is full. A longer last word takes the scored query
// without its typo clauses first (see scored).
type cheapPlan struct {
	exact  *bleve.SearchRequest // nil when the scope has no customers
	strict *bleve.SearchRequest
	offset int
	limit  int
	// same: no word is long enough for a typo clause, so the scored query
	// matches exactly the strict documents and is not worth running after
	// a strict query that did not fill the page.
	same bool
	// scored: strict is the scored query without its typo clauses (for a
	// last word longer than shortPrefixMax); exact is nil.
	scored bool
}

// wantsCheap reports whether the text typed so far ends in a short prefix
// of letters, the queries whose matches are too many to score.
func (b *builder) wantsCheap(p parsedQuery) bool {
	if len(p.phrases) > 0 || len(p.tokens) == 0 {
		return false
	}
	t := p.tokens[len(p.tokens)-1]
	if !t.last || t.digits || len(t.parts) > 0 {
		return false
	}
	f := b.analyze(b.word, t.word)
	return f != "" && utf8.RuneCountInString(f) <= shortPrefixMax
}

var resultFields = []string{fTitle, fSub, fCust, fTime, fName, fEmail, fPhone, fExt, fText, fExtra}

// buildRequest turns a SearchQuery into a bleve request; nil means the
// query can match nothing (no words and no filters). A non-nil cheapPlan is
// what Search runs instead of the request.
func (x *Index) buildRequest(q core.SearchQuery) (*bleve.SearchRequest, *cheapPlan, error) {
	if err := validate(&q); err != nil {
		return nil, nil, err
	}
	word, exact := x.im.AnalyzerNamed(anWord), x.im.AnalyzerNamed(anExact)
	if word == nil || exact == nil {
		return nil, nil, fmt.Errorf("search: analyzers %s/%s missing from the mapping", anWord, anExact)
	}
	b := &builder{word: word, exact: exact,
		customers:    q.Scope != core.ScopeInteractions && len(q.Types) == 0,
		interactions: q.Scope != core.ScopeCustomers && len(q.Tags) == 0,
	}

	// Filters narrow without scoring.
	var filters []query.Query
	switch {
	case q.Scope == core.ScopeCustomers || (b.customers && !b.interactions):
		filters = append(filters, term(fKind, kindCust, 1))
	case q.Scope == core.ScopeInteractions || (b.interactions && !b.customers):
		filters = append(filters, term(fKind, kindInter, 1))
	}
	if !b.customers && !b.interactions {
		return nil, nil, nil // tags (customers only) with types (interactions only)
	}
	if q.CustomerID != 0 {
		filters = append(filters, term(fCust, q.CustomerID.String(), 1))
	}
	if len(q.Types) > 0 {
		var ts []query.Query
		for _, t := range q.Types {
			ts = append(ts, term(fType, strings.ToLower(string(t)), 1))
		}
		filters = append(filters, query.NewDisjunctionQuery(ts))
	}
	for _, t := range q.Tags {
		filters = append(filters, term(fTags, strings.ToLower(strings.TrimSpace(t)), 1))
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		incl, excl := true, false
		dq := query.NewDateRangeInclusiveQuery(q.From.UTC(), q.To.UTC(), &incl, &excl)
		dq.SetField(fTime)
		filters = append(filters, dq)
	}

	p := parseQuery(q.Text)
	var must []query.Query
	for _, t := range p.tokens {
		if wq := b.wordQuery(t); wq != nil {
			must = append(must, wq)
		}
	}
	for _, ph := range p.phrases {
		must = append(must, b.phraseQuery(ph))
	}

	limit := q.Limit
	if limit == 0 {
		limit = defaultLimit
	}
	var bq query.Query
	sortByTime := false
	switch {
	case len(must) > 0:
		bool := query.NewBooleanQuery(must, b.exactQueries(p), nil)
		if len(filters) > 0 {
			bool.AddFilter(query.NewConjunctionQuery(filters))
		}
		bq = bool
	case len(filters) > 0 && strings.TrimSpace(p.whole) == "":
		// No words, only filters (a customer's history): newest first.
		bq = query.NewConjunctionQuery(filters)
		sortByTime = true
	default:
		return nil, nil, nil
	}
	req := bleve.NewSearchRequestOptions(bq, limit, q.Offset, false)
	req.Fields = resultFields
	req.IncludeLocations = !sortByTime
	if sortByTime {
		req.SortBy([]string{"-" + fTime, "_id"})
	}
	if len(must) == 0 {
		return req, nil, nil
	}

	cp := &cheapPlan{offset: q.Offset, limit: limit, same: true}
	sb := *b
	sb.strict = true
	var smust []query.Query
	for _, t := range p.tokens {
		if !t.digits && utf8.RuneCountInString(b.analyze(b.word, t.word)) >= fuzzyMinRunes {
			cp.same = false
		}
		if wq := sb.wordQuery(t); wq != nil {
			smust = append(smust, wq)
		}
	}
	for _, ph := range p.phrases {
		smust = append(smust, sb.phraseQuery(ph))
	}
	if !b.wantsCheap(p) {
		if cp.same {
			return req, nil, nil // no typo clauses: the strict query is req
		}
		// Typo clauses expand to many terms whose postings are all
		// walked; they rank below the strict matches, so when those fill
		// the first page the typo clauses would add nothing to see.
		sq := query.NewBooleanQuery(smust, b.exactQueries(p), nil)
		if len(filters) > 0 {
			sq.AddFilter(query.NewConjunctionQuery(filters))
		}
		cp.scored = true
		cp.strict = bleve.NewSearchRequestOptions(sq, limit, q.Offset, false)
		cp.strict.Fields = resultFields
		cp.strict.IncludeLocations = true
		return req, cp, nil
	}
	sq := query.NewBooleanQuery(smust, nil, nil)
	if len(filters) > 0 {
		sq.AddFilter(query.NewConjunctionQuery(filters))
	}
	// Score "none" with the default sort lets bleve stop after Size hits.
	cp.strict = bleve.NewSearchRequestOptions(sq, q.Offset+limit, 0, false)
	cp.strict.Score = bleve.ScoreNone
	cp.strict.Fields = resultFields
	// Interaction highlights need term locations; customer hits are
	// highlighted from stored values, and without locations bleve can
	// merge the posting lists as bitmaps.
	cp.strict.IncludeLocations = b.interactions
	if eq := b.exactQueries(p); len(eq) > 0 {
		var e query.Query = query.NewDisjunctionQuery(eq)
		if len(filters) > 0 {
			e = query.NewConjunctionQuery(append([]query.Query{e}, filters...))
		}
		cp.exact = bleve.NewSearchRequestOptions(e, q.Offset+limit, 0, false)
		cp.exact.Fields = resultFields
	}
	return req, cp, nil
}

// Search runs a query as the user types it. Input that is too long or
// filters out of range are core.ErrInvalid; anything else typed is searched
// for as words, never interpreted as query syntax.
func (x *Index) Search(ctx context.Context, q core.SearchQuery) (core.SearchResults, error) {
	start := time.Now()
	req, cheap, err := x.buildRequest(q)
	if err != nil {
		return core.SearchResults{}, err
	}
	out := core.SearchResults{Hits: []core.SearchHit{}}
	if req == nil {
		out.Took = time.Since(start)
		return out, nil
	}
	var hits search.DocumentMatchCollection
	done := false
	if cheap != nil {
		hits, out.Total, done, err = x.runCheap(ctx, cheap)
		if err != nil {
			return core.SearchResults{}, err
		}
	}
	if !done {
		res, err := x.run(ctx, req)
		if err != nil {
			return core.SearchResults{}, err
		}
		hits, out.Total = res.Hits, int(res.Total)
	}
	marks := x.newMarker(q.Text)
	for _, dm := range hits {
		if h, ok := x.toHit(dm, marks); ok {
			out.Hits = append(out.Hits, h)
		}
	}
	out.Took = time.Since(start)
	return out, nil
}

func (x *Index) run(ctx context.Context, req *bleve.SearchRequest) (*bleve.SearchResult, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, errClosed
	}
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("search: %w", err)
	}
	return res, nil
}

// runCheap runs a cheapPlan: whole-value matches first, then the strict
// matches in index order, without duplicates, cut to the page. When the
// strict matches do not fill the first page there are few of them, and done is
// false (unless the scored query would find the same): the scored query,
// with its typo-tolerant clauses, is then cheap enough and finds more. Total counts the strict matches read, so with
// done it is a lower bound: at least the hits up to the end of the page.
func (x *Index) runCheap(ctx context.Context, cp *cheapPlan) (hits search.DocumentMatchCollection, total int, done bool, err error) {
	if cp.scored {
		res, err := x.run(ctx, cp.strict)
		if err != nil || int(res.Total) < cp.limit {
			return nil, 0, false, err
		}
		return res.Hits, int(res.Total), true, nil
	}
	var first search.DocumentMatchCollection
	if cp.exact != nil {
		res, err := x.run(ctx, cp.exact)
		if err != nil {
			return nil, 0, false, err
		}
		first = res.Hits
	}
	// Exact matches also match strictly; read as many more as may repeat.
	want := cp.offset + cp.limit + len(first)
	strict := *cp.strict
	strict.Size = want
	res, err := x.run(ctx, &strict)
	if err != nil {
		return nil, 0, false, err
	}
	// The choice depends on the first page only, so that every page of one
	// query comes from the same ordering.
	if len(res.Hits) < cp.limit+len(first) && !cp.same {
		return nil, 0, false, nil
	}
	// Unscored hits tie, and bleve's heap leaves ties in no fixed order;
	// the order they were read in is the same for every page size.
	slices.SortFunc(res.Hits, func(a, b *search.DocumentMatch) int { return cmp.Compare(a.HitNumber, b.HitNumber) })
	seen := make(map[string]bool, len(first))
	all := make(search.DocumentMatchCollection, 0, len(first)+len(res.Hits))
	for _, dm := range first {
		seen[dm.ID] = true
		all = append(all, dm)
	}
	for _, dm := range res.Hits {
		if !seen[dm.ID] {
			all = append(all, dm)
		}
	}
	total = max(int(res.Total), len(all))
	if cp.offset >= len(all) {
		return nil, total, true, nil
	}
	return all[cp.offset:min(len(all), cp.offset+cp.limit)], total, true, nil
}

// highlighted maps each stored interaction field to the index fields whose
// matches it shows: the stemmed copies of a text point into the stored text.
var highlighted = []struct {
	stored string
	from   []string
	frag   int // fragments per field
}{
	{fText, []string{fText, fTextRu, fTextPl}, 3},
	{fExtra, []string{fExtra}, 3},
}

var highlighter = shl.NewHighlighter(sfrag.NewFragmenter(160), markFormatter{}, "…")

func (x *Index) toHit(dm *search.DocumentMatch, mk *marker) (core.SearchHit, bool) {
	kind, id, ok := parseDocID(dm.ID)
	if !ok {
		return core.SearchHit{}, false
	}
	h := core.SearchHit{Kind: kind, KindName: kind.String(), ID: id, Score: dm.Score}
	h.Title, _ = dm.Fields[fTitle].(string)
	h.Subtitle, _ = dm.Fields[fSub].(string)
	if s, ok := dm.Fields[fCust].(string); ok {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			h.CustomerID = core.ID(n)
		}
	}
	if s, ok := dm.Fields[fTime].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			h.Time = t.UTC()
		}
	}
	if kind == core.KindCustomer {
		mk.customer(dm, &h)
		return h, true
	}
	if len(dm.Locations) == 0 {
		return h, true
	}
	doc := document.NewDocument(dm.ID)
	for _, hf := range highlighted {
		merged := search.TermLocationMap{}
		for _, f := range hf.from {
			for t, locs := range dm.Locations[f] {
				merged[t] = append(merged[t], locs...)
			}
		}
		if len(merged) == 0 {
			continue
		}
		switch v := dm.Fields[hf.stored].(type) {
		case string:
			// A one-element array comes back as a plain value; its
			// locations still carry the element's array position.
			var ap []uint64
			for _, locs := range merged {
				if len(locs) > 0 {
					ap = locs[0].ArrayPositions
					break
				}
			}
			doc.AddField(document.NewTextField(hf.stored, ap, []byte(v)))
		case []any:
			for i, e := range v {
				if s, ok := e.(string); ok {
					doc.AddField(document.NewTextField(hf.stored, []uint64{uint64(i)}, []byte(s)))
				}
			}
		default:
			continue
		}
		dm.Locations[hf.stored] = merged
		if fr := highlighter.BestFragmentsInField(dm, doc, hf.stored, hf.frag); len(fr) > 0 {
			if h.Fragments == nil {
				h.Fragments = make(map[string][]string)
			}
			h.Fragments[hf.stored] = fr
		}
	}
	return h, true
}

// markFormatter wraps matched terms in core.HighlightStart/End. It never
// produces HTML, and it drops the two mark characters from the stored text
// itself, so a stored value cannot forge or unbalance a highlight.
type markFormatter struct{}

func (markFormatter) Format(f *highlight.Fragment, locs highlight.TermLocations) string {
	var sb strings.Builder
	clean := func(b []byte) {
		for _, r := range string(b) {
			if r != '\ue000' && r != '\ue001' {
				sb.WriteRune(r)
			}
		}
	}
	curr := f.Start
	for _, l := range locs {
		if l == nil || !l.ArrayPositions.Equals(f.ArrayPositions) || l.Start < curr {
			continue
		}
		if l.End > f.End {
			break
		}
		clean(f.Orig[curr:l.Start])
		sb.WriteString(core.HighlightStart)
		clean(f.Orig[l.Start:l.End])
		sb.WriteString(core.HighlightEnd)
		curr = l.End
	}
	clean(f.Orig[curr:f.End])
	return sb.String()
}
