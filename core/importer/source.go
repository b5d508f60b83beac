package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Size caps. A record (one CSV record, which may span lines, or one line of
// JSONL or whitespace-separated text) larger than MaxRecordBytes is rejected
// without ever being held in memory whole; a field larger than MaxFieldBytes
// is rejected too. Both keep a hostile file from exhausting memory.
const (
	DefaultMaxRecordBytes = 1 << 20
	DefaultMaxFieldBytes  = 64 << 10
	maxColumns            = 1000
)

// errTooLarge is returned by the limiter inside a csv.Reader's Read when the
// record being read grew past the cap.
var errTooLarge = errors.New("record too large")

// record is one data record of the file, in whichever format.
type record struct {
	line   int               // 1-based line where the record starts
	fields []string          // CSV and whitespace; reused between records
	obj    map[string]string // JSONL, flattened to dotted keys
	items  []any             // JSONL: the "items" array, if any
	raw    string            // JSONL: the line, for the rejected-rows file
	reason string            // the source could not read this record: reject it
}

// source yields records; io.EOF ends it, any other error is fatal (the file
// itself is unreadable: corrupt gzip, I/O error).
type source interface {
	next() (*record, error)
}

// limiter sits between the decoded text and csv.Reader. It counts newlines
// (so line numbers stay exact after a resync) and cuts off a single Read of
// the csv.Reader once it has pulled more than budget bytes.
type limiter struct {
	r      *bufio.Reader
	budget int
	used   int
	lines  int
}

func (l *limiter) Read(p []byte) (int, error) {
	if l.used >= l.budget {
		return 0, errTooLarge
	}
	if len(p) > l.budget-l.used {
		p = p[:l.budget-l.used]
	}
	n, err := l.r.Read(p)
	l.used += n
	l.lines += bytes.Count(p[:n], []byte{'\n'})
	return n, err
}

// skipLine discards the rest of the current physical line.
func (l *limiter) skipLine() error {
	for {
		b, err := l.r.ReadSlice('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			l.lines++
			return nil
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return err
	}
}

// csvSource reads RFC 4180 CSV with encoding/csv, reusing the record slice.
type csvSource struct {
	lim      *limiter
	cr       *csv.Reader
	comma    rune
	base     int // lines before the current csv.Reader started
	lastEnd  int // absolute line where the last record ended
	maxField int
	rec      record
}

func newCSVSource(text *bufio.Reader, comma rune, maxRecord, maxField int) *csvSource {
	s := &csvSource{lim: &limiter{r: text, budget: maxRecord}, comma: comma, maxField: maxField}
	s.reset()
	return s
}

func (s *csvSource) reset() {
	s.base = s.lim.lines
	s.lastEnd = s.base
	cr := csv.NewReader(s.lim)
	cr.Comma = s.comma
	cr.FieldsPerRecord = -1 // ragged rows are checked (and reported) by the importer
	cr.ReuseRecord = true
	s.cr = cr
}

func (s *csvSource) next() (*record, error) {
	s.lim.used = 0
	fields, err := s.cr.Read()
	s.rec.fields, s.rec.reason = nil, ""
	if err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if errors.Is(err, errTooLarge) {
			s.rec.line = s.lastEnd + 1
			s.rec.reason = fmt.Sprintf("record is larger than %d bytes", s.lim.budget)
			if err := s.lim.skipLine(); err != nil && err != io.EOF {
				return nil, err
			}
			s.reset()
			return &s.rec, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			s.rec.line = s.base + pe.StartLine
			s.lastEnd = s.base + pe.Line
			s.rec.reason = "malformed CSV: " + pe.Err.Error()
			if pe.Err == csv.ErrQuote && pe.Line > pe.StartLine {
				s.rec.reason = "malformed CSV: a quoted field is not closed (or has a stray quote)"
			}
			return &s.rec, nil
		}
		return nil, err
	}
	line, _ := s.cr.FieldPos(0)
	s.rec.line = s.base + line
	endLine, _ := s.cr.FieldPos(len(fields) - 1)
	s.lastEnd = s.base + endLine + strings.Count(fields[len(fields)-1], "\n")
	s.rec.fields = fields
	s.rec.reason = checkFields(fields, s.maxField)
	return &s.rec, nil
}

// checkFields refuses records no mapping can make sense of.
func checkFields(fields []string, maxField int) string {
	if len(fields) > maxColumns {
		return fmt.Sprintf("more than %d columns", maxColumns)
	}
	for i, f := range fields {
		if len(f) > maxField {
			return fmt.Sprintf("column %d is larger than %d bytes", i+1, maxField)
		}
		if strings.IndexByte(f, 0) >= 0 {
			return fmt.Sprintf("column %d contains a NUL byte", i+1)
		}
	}
	return ""
}

// lineReader reads physical lines with a cap, counting them exactly.
type lineReader struct {
	r       *bufio.Reader
	max     int
	line    int
	buf     []byte
	tooLong bool
}

// read returns the next line without its line ending. tooLong is set when
// the line passed the cap (its content is then cut and must be rejected).
func (l *lineReader) read() ([]byte, error) {
	l.buf = l.buf[:0]
	l.tooLong = false
	for {
		b, err := l.r.ReadSlice('\n')
		if !l.tooLong {
			if len(l.buf)+len(b) > l.max {
				l.tooLong = true
			} else {
				l.buf = append(l.buf, b...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(b) == 0 && len(l.buf) == 0 && !l.tooLong {
			return nil, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		l.line++
		return bytes.TrimRight(l.buf, "\r\n"), nil
	}
}

// wsSource splits lines on runs of spaces and tabs (fixed-width-ish text
// such as CDNOW_master.txt).
type wsSource struct {
	lr       lineReader
	maxField int
	rec      record
}

func (s *wsSource) next() (*record, error) {
	for {
		b, err := s.lr.read()
		if err != nil {
			return nil, err
		}
		s.rec.line, s.rec.reason = s.lr.line, ""
		s.rec.fields = s.rec.fields[:0]
		if s.lr.tooLong {
			s.rec.reason = fmt.Sprintf("line is longer than %d bytes", s.lr.max)
			return &s.rec, nil
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		line := string(b)
		for _, f := range strings.Fields(line) {
			s.rec.fields = append(s.rec.fields, f)
		}
		s.rec.reason = checkFields(s.rec.fields, s.maxField)
		return &s.rec, nil
	}
}

// jsonlSource reads one JSON object per line.
type jsonlSource struct {
	lr       lineReader
	maxField int
	rec      record
}

func (s *jsonlSource) next() (*record, error) {
	for {
		b, err := s.lr.read()
		if err != nil {
			return nil, err
		}
		r := &s.rec
		r.line, r.reason, r.items = s.lr.line, "", nil
		if r.obj == nil {
			r.obj = map[string]string{}
		}
		clear(r.obj)
		if s.lr.tooLong {
			r.raw = ""
			r.reason = fmt.Sprintf("line is longer than %d bytes", s.lr.max)
			return r, nil
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		r.raw = string(b)
		if bytes.IndexByte(b, 0) >= 0 {
			r.reason = "line contains a NUL byte"
			return r, nil
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			r.reason = "malformed JSON: " + err.Error()
			return r, nil
		}
		if dec.More() {
			r.reason = "malformed JSON: more than one value on the line"
			return r, nil
		}
		obj, ok := v.(map[string]any)
		if !ok {
			r.reason = "each line must be a JSON object"
			return r, nil
		}
		if it, ok := obj["items"].([]any); ok {
			r.items = it
			delete(obj, "items")
		}
		if err := flatten(r.obj, "", obj, s.maxField, 0); err != nil {
			r.reason = err.Error()
		}
		return r, nil
	}
}

// flatten writes nested objects as dotted keys; arrays of scalars become one
// comma-separated value (so "tags": ["a","b"] and "emails": [...] work).
func flatten(dst map[string]string, prefix string, obj map[string]any, maxField, depth int) error {
	if depth > 8 {
		return errors.New("JSON nested too deeply")
	}
	for k, v := range obj {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			if err := flatten(dst, key, x, maxField, depth+1); err != nil {
				return err
			}
			continue
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := scalarString(e)
				if !ok {
					return fmt.Errorf("%s: only lists of plain values are supported", key)
				}
				parts = append(parts, s)
			}
			dst[key] = strings.Join(parts, ",")
		default:
			s, _ := scalarString(x)
			dst[key] = s
		}
		if len(dst[key]) > maxField {
			return fmt.Errorf("%s is larger than %d bytes", key, maxField)
		}
		if len(dst) > maxColumns {
			return fmt.Errorf("more than %d keys", maxColumns)
		}
	}
	return nil
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
