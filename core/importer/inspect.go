package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/retain-crm/retain/core"
)

// Inspection is what the import page shows about an uploaded file before
// the user settles the mapping: what detection found, the first records as
// raw cells, and which field the importer would map each column to.
type Inspection struct {
	Detection Detection   `json:"detection"`
	Rows      []SampleRow `json:"rows"`
	// Guess holds, per column of Detection.Columns, the field the mapping
	// (or, for columns it leaves out, header guessing) maps it to; "" for
	// a column that is not imported.
	Guess []string `json:"guess"`
	// Problem says why the mapping cannot import the file yet (a required
	// field is not mapped, a column does not exist, ...); "" when it can.
	Problem string `json:"problem,omitempty"`
	// ProblemField is the mapping key Problem is about, when it names one.
	ProblemField string `json:"problem_field,omitempty"`
}

// SampleRow is one record of the file as read, before mapping.
type SampleRow struct {
	Line   int      `json:"line"`
	Cells  []string `json:"cells"`            // one per column of Detection.Columns
	Reason string   `json:"reason,omitempty"` // why the importer would reject the record as read
}

// Inspect detects r's shape like an import would (opts.Mapping's format
// keys and columns apply) and returns the first n records (0: 20) as cells
// and the field each column maps to. Unlike Import it refuses a file that
// is not text at all (NUL bytes, many control characters), which is what
// an upload of the wrong file looks like. Nothing is validated or stored.
func Inspect(ctx context.Context, r io.Reader, opts Options, n int) (Inspection, error) {
	if n <= 0 {
		n = DefaultPreviewRows
	}
	opts.Rejected = nil
	ru, m, err := begin(ctx, nil, r, opts, checkText)
	if err != nil {
		return Inspection{}, err
	}
	ins := Inspection{Detection: ru.det, Guess: make([]string, len(ru.det.Columns))}
	p, err := compile(opts.Kind, m, ru.det, opts.TimeZone)
	if err != nil {
		ins.Problem = err.Error()
		var fe *core.FieldError
		if errors.As(err, &fe) {
			ins.Problem, ins.ProblemField = fe.Message, fe.Field
		}
		if p == nil {
			// The mapping itself is unusable: show what guessing alone finds.
			m.Columns = nil
			p, _ = compile(opts.Kind, m, ru.det, opts.TimeZone)
		}
	}
	if p != nil {
		for _, fr := range p.refs {
			i := fr.ref.idx
			if ru.det.Format == FormatJSONL {
				i = slices.Index(ru.det.Columns, fr.ref.key)
			}
			if i < 0 || i >= len(ins.Guess) || ins.Guess[i] != "" {
				continue
			}
			f := fr.field
			if strings.Contains(f, "consent.") {
				f = strings.TrimSuffix(f, ".granted")
			}
			ins.Guess[i] = f
		}
	}
	for len(ins.Rows) < n {
		if err := ctx.Err(); err != nil {
			return Inspection{}, err
		}
		rec, err := ru.src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Inspection{}, fmt.Errorf("%w: reading the file near line %d: %v", core.ErrInvalid, ru.lastLine(), err)
		}
		row := SampleRow{Line: rec.line, Reason: rec.reason}
		if rec.obj != nil {
			row.Cells = make([]string, len(ru.det.Columns))
			for i, k := range ru.det.Columns {
				row.Cells[i] = rec.obj[k]
			}
		} else {
			row.Cells = slices.Clone(rec.fields)
		}
		ins.Rows = append(ins.Rows, row)
	}
	return ins, nil
}

// checkText refuses a decoded sample that is not text: a NUL byte, or more
// than 1% control characters other than tab, CR and LF.
func checkText(sample []byte) error {
	if bytes.IndexByte(sample, 0) >= 0 {
		return core.Invalidf("this is not a text file (it contains NUL bytes): upload a CSV or JSONL file, plain or gzip-compressed")
	}
	ctl := 0
	for _, b := range sample {
		if b < 0x20 && b != '\t' && b != '\r' && b != '\n' || b == 0x7f {
			ctl++
		}
	}
	if ctl > 0 && ctl*100 > len(sample) {
		return core.Invalidf("this does not look like a text file (%d control characters in the first %d bytes): upload a CSV or JSONL file", ctl, len(sample))
	}
	return nil
}

// fieldRef is one column assignment of a compiled mapping.
type fieldRef struct {
	field string
	ref   *colRef
}

// Fields lists the fields a column can map to for an import of kind, in the
// order a form shows them. Keyed fields are listed by their prefix only
// ("attributes.", "properties.") except consent, whose channels are known.
func Fields(kind core.ImportKind) []string {
	cust := slices.Clone(customerFields)
	for _, ch := range core.KnownChannels {
		cust = append(cust, "consent."+string(ch))
	}
	if kind == core.ImportCustomers {
		return append(cust, "attributes.")
	}
	out := slices.Clone(interactionFields)
	out = append(out, "properties.")
	for _, f := range cust {
		if f != "external_id" {
			out = append(out, "customer."+f)
		}
	}
	return append(out, "customer.attributes.")
}
