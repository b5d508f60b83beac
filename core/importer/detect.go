package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/retain-crm/retain/core"
)

// Detection is what the importer found out about a file (or was told by the
// mapping). The UI shows it next to the preview.
type Detection struct {
	Gzip      bool     `json:"gzip"`
	Encoding  string   `json:"encoding"`  // utf-8, utf-8-bom, utf-16le, utf-16be, windows-1252, windows-1251
	Format    string   `json:"format"`    // csv or jsonl
	Delimiter string   `json:"delimiter"` // "," ";" "\t" "|" or "whitespace" (csv only)
	Header    bool     `json:"header"`
	Columns   []string `json:"columns"` // header names, or "1", "2", ... without a header; JSONL: keys of the first object
}

// The names used in Detection and in mapping files.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"

	DelimWhitespace = "whitespace"

	EncUTF8    = "utf-8"
	EncUTF8BOM = "utf-8-bom"
	EncUTF16LE = "utf-16le"
	EncUTF16BE = "utf-16be"
	EncWin1252 = "windows-1252"
	EncWin1251 = "windows-1251"
)

// sampleSize is how much of the start of a file the detection looks at.
const sampleSize = 64 << 10

// countingReader counts the bytes read from the file itself (compressed
// bytes for a .gz), which is what progress compares with the file size.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// opened is a file after gzip and encoding handling: a UTF-8 stream plus what
// was detected.
type opened struct {
	counter *countingReader
	text    *bufio.Reader // decoded UTF-8
	det     Detection
}

// open unwraps gzip and decodes the text to UTF-8. encName forces an encoding
// ("" or "auto" detects).
func open(r io.Reader, encName string) (*opened, error) {
	cr := &countingReader{r: r}
	raw := bufio.NewReaderSize(cr, sampleSize)
	o := &opened{counter: cr}
	var src io.Reader = raw
	if magic, _ := raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, core.Invalidf("gzip: %v", err)
		}
		zr.Multistream(true)
		o.det.Gzip = true
		src = bufio.NewReaderSize(zr, sampleSize)
	}
	br := src.(*bufio.Reader)
	sample, err := br.Peek(sampleSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: reading the file: %v", core.ErrInvalid, err)
	}
	enc := strings.ToLower(strings.TrimSpace(encName))
	if enc == "" || enc == "auto" {
		enc = detectEncoding(sample)
	}
	var dec *encoding.Decoder
	switch enc {
	case EncUTF8, "utf8":
		enc = EncUTF8
		if bytes.HasPrefix(sample, []byte("\xef\xbb\xbf")) {
			enc = EncUTF8BOM
			br.Discard(3)
		}
	case EncUTF8BOM:
		if bytes.HasPrefix(sample, []byte("\xef\xbb\xbf")) {
			br.Discard(3)
		}
	case EncUTF16LE:
		dec = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder()
	case EncUTF16BE:
		dec = unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder()
	case EncWin1252, "cp1252":
		enc, dec = EncWin1252, charmap.Windows1252.NewDecoder()
	case EncWin1251, "cp1251":
		enc, dec = EncWin1251, charmap.Windows1251.NewDecoder()
	default:
		return nil, core.FieldErr("encoding", "unknown encoding %q (use utf-8, utf-16le, utf-16be, windows-1252 or windows-1251)", encName)
	}
	o.det.Encoding = enc
	if dec == nil {
		o.text = br
	} else {
		o.text = bufio.NewReaderSize(transform.NewReader(br, dec), sampleSize)
	}
	return o, nil
}

// detectEncoding decides by the byte-order mark, else by whether the sample
// is valid UTF-8, else between the two legacy code pages we support.
func detectEncoding(s []byte) string {
	switch {
	case bytes.HasPrefix(s, []byte("\xef\xbb\xbf")):
		return EncUTF8BOM
	case bytes.HasPrefix(s, []byte("\xff\xfe")):
		return EncUTF16LE
	case bytes.HasPrefix(s, []byte("\xfe\xff")):
		return EncUTF16BE
	}
	// UTF-16 without a BOM: ASCII text has a NUL in every other byte.
	if len(s) >= 4 {
		evenNUL, oddNUL := 0, 0
		n := min(len(s), 4096) &^ 1
		for i := 0; i < n; i += 2 {
			if s[i] == 0 {
				evenNUL++
			}
			if s[i+1] == 0 {
				oddNUL++
			}
		}
		switch half := n / 2; {
		case oddNUL > half*3/4 && evenNUL == 0:
			return EncUTF16LE
		case evenNUL > half*3/4 && oddNUL == 0:
			return EncUTF16BE
		}
	}
	if validUTF8Prefix(s) {
		return EncUTF8
	}
	// Cyrillic text in Windows-1251 is mostly letters 0xC0..0xFF written next
	// to each other; Western text in Windows-1252 has an accented letter here
	// and there between ASCII ones.
	high, adjacent := 0, 0
	for i, b := range s {
		if b >= 0x80 {
			high++
			if i > 0 && s[i-1] >= 0xC0 && b >= 0xC0 {
				adjacent++
			}
		}
	}
	if high > 0 && adjacent*3 > high {
		return EncWin1251
	}
	return EncWin1252
}

// validUTF8Prefix is utf8.Valid, forgiving a rune cut off at the end of the
// sample.
func validUTF8Prefix(s []byte) bool {
	if utf8.Valid(s) {
		return true
	}
	for cut := 1; cut < utf8.UTFMax && cut < len(s); cut++ {
		if utf8.Valid(s[:len(s)-cut]) && !utf8.FullRune(s[len(s)-cut:]) {
			return true
		}
	}
	return false
}

// detectFormat says JSONL when the first non-blank character opens an object.
func detectFormat(s []byte) string {
	t := bytes.TrimLeft(s, " \t\r\n")
	if len(t) > 0 && t[0] == '{' {
		return FormatJSONL
	}
	return FormatCSV
}

// sampleLines returns up to n complete lines of the sample (the last,
// possibly cut, line is dropped unless the sample is the whole file).
func sampleLines(s []byte, n int, whole bool) []string {
	var out []string
	for len(s) > 0 && len(out) < n {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			if whole {
				out = append(out, strings.TrimRight(string(s), "\r"))
			}
			break
		}
		line := strings.TrimRight(string(s[:i]), "\r")
		s = s[i+1:]
		if strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	return out
}

// countOutsideQuotes counts delim in line, ignoring quoted parts (roughly:
// a quote toggles, which is exact for well-formed RFC 4180 lines).
func countOutsideQuotes(line string, delim byte) int {
	n, q := 0, false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			q = !q
		case delim:
			if !q {
				n++
			}
		}
	}
	return n
}

// detectDelimiter picks the candidate that splits the sample lines into the
// same number (> 1) of fields most consistently; failing that, runs of
// whitespace when they do; else a comma (a one-column file).
func detectDelimiter(lines []string) string {
	best, bestScore := "", 0.0
	for _, d := range []byte{',', ';', '\t', '|'} {
		counts := map[int]int{}
		for _, l := range lines {
			counts[countOutsideQuotes(l, d)]++
		}
		mode, modeN := 0, 0
		for c, k := range counts {
			if k > modeN || (k == modeN && c > mode) {
				mode, modeN = c, k
			}
		}
		if mode == 0 {
			continue
		}
		// Consistency first, then more fields.
		score := float64(modeN)/float64(len(lines)) + float64(mode)/1000
		if score > bestScore {
			best, bestScore = string(d), score
		}
	}
	if best != "" && bestScore >= 0.6 {
		return best
	}
	if len(lines) > 0 {
		same, n0 := 0, len(strings.Fields(lines[0]))
		for _, l := range lines {
			if len(strings.Fields(l)) == n0 {
				same++
			}
		}
		if n0 > 1 && same*10 >= len(lines)*8 {
			return DelimWhitespace
		}
	}
	if best != "" {
		return best
	}
	return ","
}

// looksLikeValue reports whether a cell reads as data rather than a column
// name: a number, an amount, a date or an id made of digits.
func looksLikeValue(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	if _, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64); err == nil {
		return true
	}
	if _, ok := parseTimeAuto(s, nil); ok {
		return true
	}
	if strings.Contains(s, "@") {
		return true
	}
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return digits*2 >= utf8.RuneCountInString(s)
}

// detectHeader decides whether the first row names the columns: it does when
// any cell is a column name we know, or when no cell of it looks like a value
// while the second row has values.
func detectHeader(first, second []string) bool {
	for _, c := range first {
		if _, ok := aliasIndex[normHeader(c)]; ok {
			return true
		}
	}
	for _, c := range first {
		if looksLikeValue(c) || strings.TrimSpace(c) == "" {
			return false
		}
	}
	if second == nil {
		return true
	}
	for _, c := range second {
		if looksLikeValue(c) {
			return true
		}
	}
	return false
}

// normHeader folds a column name for matching: lower case, letters and
// digits only ("Customer ID", "customer_id" and "CustomerID" are one name).
func normHeader(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f && r != 0xfeff {
			b.WriteRune(r)
		}
	}
	return b.String()
}
