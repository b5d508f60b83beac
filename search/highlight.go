package search

import (
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/search"

	"github.com/retain-crm/retain/core"
)

// marker highlights customer hits from their stored values. Customer fields
// keep no term vectors (at a million customers the n-grams' offsets were
// most of the indexing cost), so the matched words are found again here,
// by the rules the query used: a word of the field that starts with a typed
// word, or is one typo away from a typed word of fuzzyMinRunes or more,
// and for phones every place a typed digit run occurs.
type marker struct {
	words  []string // typed words, analyzed as the index analyzes them
	digits []string // typed digit runs of minDigits or more
	an     analysis.Analyzer
}

func (x *Index) newMarker(text string) *marker {
	m := &marker{an: x.im.AnalyzerNamed(anWord)}
	p := parseQuery(text)
	add := func(w string) {
		if t := m.analyze(w); t != "" {
			m.words = append(m.words, t)
		}
		if allDigits(w) && len(w) >= minDigits {
			m.digits = append(m.digits, w)
		}
	}
	for _, t := range p.tokens {
		add(t.word)
		for _, part := range t.parts {
			add(part)
		}
	}
	for _, ph := range p.phrases {
		for _, w := range ph {
			add(w)
		}
	}
	return m
}

func (m *marker) analyze(s string) string {
	ts := m.an.Analyze([]byte(s))
	if len(ts) == 0 {
		return ""
	}
	return string(ts[0].Term)
}

func (m *marker) customer(dm *search.DocumentMatch, h *core.SearchHit) {
	for _, f := range []string{fName, fEmail, fExt} {
		for _, v := range storedStrings(dm.Fields[f]) {
			if fr, ok := m.markWords(v); ok {
				addFragment(h, f, fr)
			}
		}
	}
	for _, v := range storedStrings(dm.Fields[fPhone]) {
		if fr, ok := m.markDigits(v); ok {
			addFragment(h, fPhone, fr)
		}
	}
}

func storedStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func addFragment(h *core.SearchHit, field, fr string) {
	if h.Fragments == nil {
		h.Fragments = make(map[string][]string)
	}
	h.Fragments[field] = append(h.Fragments[field], fr)
}

type span struct{ start, end int }

func (m *marker) markWords(v string) (string, bool) {
	if len(m.words) == 0 {
		return "", false
	}
	var spans []span
	for _, t := range m.an.Analyze([]byte(v)) {
		term := string(t.Term)
		for _, w := range m.words {
			if strings.HasPrefix(term, w) || (utf8.RuneCountInString(w) >= fuzzyMinRunes && oneEditAway(term, w)) {
				spans = append(spans, span{t.Start, t.End})
				break
			}
		}
	}
	return format(v, spans)
}

func (m *marker) markDigits(v string) (string, bool) {
	if len(m.digits) == 0 {
		return "", false
	}
	var pos []int // byte offset of each digit of v
	var d []byte
	for i := 0; i < len(v); i++ {
		if v[i] >= '0' && v[i] <= '9' {
			pos = append(pos, i)
			d = append(d, v[i])
		}
	}
	ds := string(d)
	var spans []span
	for _, q := range m.digits {
		for from := 0; ; {
			i := strings.Index(ds[from:], q)
			if i < 0 {
				break
			}
			i += from
			spans = append(spans, span{pos[i], pos[i+len(q)-1] + 1})
			from = i + 1
		}
	}
	return format(v, spans)
}

// format wraps the spans (merged where they overlap) in the highlight
// marks, dropping the mark characters from the value itself.
func format(v string, spans []span) (string, bool) {
	if len(spans) == 0 {
		return "", false
	}
	// sort by start; spans are few
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j].start < spans[j-1].start; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	var sb strings.Builder
	clean := func(s string) {
		for _, r := range s {
			if r != '\ue000' && r != '\ue001' {
				sb.WriteRune(r)
			}
		}
	}
	cur := 0
	for i := 0; i < len(spans); i++ {
		s := spans[i]
		for i+1 < len(spans) && spans[i+1].start <= s.end {
			s.end = max(s.end, spans[i+1].end)
			i++
		}
		if s.start < cur {
			s.start = cur
		}
		clean(v[cur:s.start])
		sb.WriteString(core.HighlightStart)
		clean(v[s.start:s.end])
		sb.WriteString(core.HighlightEnd)
		cur = s.end
	}
	clean(v[cur:])
	return sb.String(), true
}

// oneEditAway reports whether a and b differ by at most one insertion,
// deletion or substitution of a rune.
func oneEditAway(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) < len(rb) {
		ra, rb = rb, ra
	}
	if len(ra)-len(rb) > 1 {
		return false
	}
	i := 0
	for i < len(rb) && ra[i] == rb[i] {
		i++
	}
	if len(ra) == len(rb) {
		return string(ra[i+min(1, len(ra)-i):]) == string(rb[i+min(1, len(rb)-i):])
	}
	return string(ra[i+1:]) == string(rb[i:])
}
