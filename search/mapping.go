package search

import (
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	_ "github.com/blevesearch/bleve/v2/analysis/datetime/optional" // the "dateTimeOptional" parser used for date fields
	"github.com/blevesearch/bleve/v2/analysis/lang/pl"
	"github.com/blevesearch/bleve/v2/analysis/lang/ru"
	"github.com/blevesearch/bleve/v2/analysis/token/edgengram"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/character"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/single"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"
)

// MappingVersion changes whenever the mapping, an analyzer or what a
// document holds changes; an index carrying another version is rebuilt from
// the store when it is opened.
const MappingVersion = 1

// maxPrefixLen is the longest prefix the edge n-gram fields hold. A longer
// last word is matched by its first maxPrefixLen characters.
const maxPrefixLen = 20

// Field names. Short, because scorch stores them per segment, and named here
// once so the mapping, the documents and the queries agree.
const (
	fKind    = "kind"    // "c" or "i"; the scope filter
	fCust    = "cid"     // customer id (both kinds); the customer filter
	fTime    = "time"    // interaction time / customer last seen
	fTags    = "tags"    // customer tags, keyword
	fType    = "type"    // interaction type, keyword
	fChannel = "channel" // interaction channel, keyword
	fTitle   = "title"   // stored only
	fSub     = "sub"     // stored only

	fName      = "name"    // edge n-grams of the words; stored; highlighted
	fNameWord  = "name_w"  // whole words, for exact-word ranking, fuzziness and phrases
	fNameExact = "name_x"  // the whole name, folded, for exact-match ranking
	fEmail     = "email"   // edge n-grams of the words of every address; stored
	fEmailX    = "email_x" // whole addresses
	fPhone     = "phone"   // every digit substring of 3+ digits; stored (E.164)
	fPhoneX    = "phone_x" // whole numbers, digits only
	fExt       = "ext"     // the external id's words; stored
	fExtX      = "ext_x"   // the whole external id
	fText      = "text"    // interaction text, folded words; stored; highlighted
	fTextRu    = "text_ru" // the same text through the Russian analyzer (stemming)
	fTextPl    = "text_pl" // the same text through the Polish analyzer (stemming)
	fExtra     = "extra"   // line item names, SKUs and property values; stored
)

// Analyzer, tokenizer and filter names. They live in bleve's global registry,
// hence the prefix.
const (
	tokAlnum  = "retain_alnum"  // runs of letters and digits
	tokDigits = "retain_digits" // every digit substring of length >= 3
	tfFold    = "retain_fold"   // ASCII folding of each token (Łódź -> lodz)
	tfEdge    = "retain_edge"   // edge n-grams 1..maxPrefixLen
	anWord    = "retain_word"   // alnum + lower + fold
	anPrefix  = "retain_prefix" // anWord + edge n-grams
	anExact   = "retain_exact"  // whole value + lower + fold
	anDigits  = "retain_digits"
	docCust   = "customer"
	docInter  = "interaction"
	kindCust  = "c"
	kindInter = "i"
	minDigits = 3
)

func init() {
	// Letters and digits make words; everything else (dots and @ in emails,
	// apostrophes, hyphens) separates them, so "jan.kowalski@example.pl"
	// yields jan, kowalski, example, pl — and the query side splits the same way.
	must(registry.RegisterTokenizer(tokAlnum, func(map[string]any, *registry.Cache) (analysis.Tokenizer, error) {
		return character.NewCharacterTokenizer(func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }), nil
	}))
	must(registry.RegisterTokenizer(tokDigits, func(map[string]any, *registry.Cache) (analysis.Tokenizer, error) {
		return digitSubstrings{}, nil
	}))
	must(registry.RegisterTokenFilter(tfFold, func(map[string]any, *registry.Cache) (analysis.TokenFilter, error) {
		return foldFilter{asciifolding.New()}, nil
	}))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// foldFilter folds each token's term to ASCII where a folding exists (Polish
// and other Latin diacritics; Cyrillic is left as it is). It works on the
// term, not on the input text as bleve's char filter does, so token offsets
// still point into the original text and highlights land on the right bytes.
type foldFilter struct {
	f *asciifolding.AsciiFoldingFilter
}

func (f foldFilter) Filter(in analysis.TokenStream) analysis.TokenStream {
	for _, t := range in {
		if !isASCII(t.Term) {
			t.Term = f.f.Filter(t.Term)
		}
	}
	return in
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// digitSubstrings turns a phone number into the terms that let a fragment
// typed from anywhere in it ("601 23", "60123") be found at a million
// customers: every 3- and 4-digit substring (a short fragment is one term
// lookup) and every suffix of 5 or more digits (a longer fragment is a
// prefix query over suffixes, which expands to a few dozen terms at most).
// Indexing every substring instead made the phone half the indexing cost,
// since nearly all long substrings are unique terms.
type digitSubstrings struct{}

// gramMax is the longest substring indexed as such; longer fragments are
// matched as prefixes of suffixes.
const gramMax = 4

func (digitSubstrings) Tokenize(input []byte) analysis.TokenStream {
	// offsets of the digits in input, so highlights cover the right bytes
	var pos []int
	for i, c := range input {
		if c >= '0' && c <= '9' {
			pos = append(pos, i)
		}
	}
	n := len(pos)
	var ts analysis.TokenStream
	emit := func(i, l int) {
		term := make([]byte, l)
		for k := 0; k < l; k++ {
			term[k] = input[pos[i+k]]
		}
		ts = append(ts, &analysis.Token{
			Term: term, Start: pos[i], End: pos[i+l-1] + 1,
			Position: i + 1, Type: analysis.Numeric,
		})
	}
	for i := 0; i < n; i++ {
		for l := minDigits; l <= gramMax && i+l <= n; l++ {
			emit(i, l)
		}
		if n-i > gramMax {
			emit(i, n-i)
		}
	}
	return ts
}

// buildMapping is the explicit mapping: the default mapping is off, so only
// the fields named here are indexed, whatever a document carries.
func buildMapping() (*mapping.IndexMappingImpl, error) {
	im := bleve.NewIndexMapping()
	if err := im.AddCustomTokenFilter(tfEdge, map[string]any{
		"type": edgengram.Name, "min": 1.0, "max": float64(maxPrefixLen),
	}); err != nil {
		return nil, err
	}
	for name, cfg := range map[string]map[string]any{
		anWord:   {"type": custom.Name, "tokenizer": tokAlnum, "token_filters": []any{lowercase.Name, tfFold}},
		anPrefix: {"type": custom.Name, "tokenizer": tokAlnum, "token_filters": []any{lowercase.Name, tfFold, tfEdge}},
		anExact:  {"type": custom.Name, "tokenizer": single.Name, "token_filters": []any{lowercase.Name, tfFold}},
		anDigits: {"type": custom.Name, "tokenizer": tokDigits},
	} {
		if err := im.AddCustomAnalyzer(name, cfg); err != nil {
			return nil, err
		}
	}
	im.DefaultMapping = mapping.NewDocumentDisabledMapping()
	im.DefaultAnalyzer = keyword.Name
	im.StoreDynamic = false
	im.IndexDynamic = false
	im.DocValuesDynamic = false

	kw := func(store bool) *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store = store
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = false
		return f
	}
	text := func(analyzer string, store, vectors bool) *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Analyzer = analyzer
		f.Store = store
		f.IncludeTermVectors = vectors
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	storedOnly := func() *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Index = false
		f.Store = true
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = false
		return f
	}
	date := func() *mapping.FieldMapping {
		f := mapping.NewDateTimeFieldMapping()
		f.Store = true
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	add := func(dm *mapping.DocumentMapping, name string, f *mapping.FieldMapping) {
		f.Name = name
		dm.AddFieldMappingsAt(name, f)
	}
	common := func() *mapping.DocumentMapping {
		dm := mapping.NewDocumentStaticMapping()
		// No composite _all field: every query names its fields, and
		// building _all cost a seventh of the indexing time.
		dm.AddSubDocumentMapping("_all", mapping.NewDocumentDisabledMapping())
		add(dm, fKind, kw(false))
		add(dm, fCust, kw(true))
		add(dm, fTime, date())
		add(dm, fTitle, storedOnly())
		add(dm, fSub, storedOnly())
		return dm
	}

	cust := common()
	// No term vectors on customer fields: they were most of the indexing
	// cost (every n-gram's offsets). Customer hits are highlighted by
	// markCustomer from the stored values instead.
	add(cust, fName, text(anPrefix, true, false))
	add(cust, fNameWord, text(anWord, false, false))
	add(cust, fNameExact, text(anExact, false, false))
	add(cust, fEmail, text(anPrefix, true, false))
	add(cust, fEmailX, text(anExact, false, false))
	add(cust, fPhone, text(anDigits, true, false))
	add(cust, fPhoneX, kw(false))
	add(cust, fExt, text(anWord, true, false))
	add(cust, fExtX, text(anExact, false, false))
	add(cust, fTags, kw(false))
	im.AddDocumentMapping(docCust, cust)

	inter := common()
	add(inter, fType, kw(false))
	add(inter, fChannel, kw(false))
	add(inter, fText, text(anWord, true, true))
	add(inter, fTextRu, text(ru.AnalyzerName, false, true))
	add(inter, fTextPl, text(pl.AnalyzerName, false, true))
	add(inter, fExtra, text(anWord, true, true))
	im.AddDocumentMapping(docInter, inter)
	return im, nil
}
