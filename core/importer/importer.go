package importer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/retain-crm/retain/core"
)

// Preparer validates and normalizes single records the way the service will
// store them; *core.Service implements it. A dry run needs nothing more.
type Preparer interface {
	PrepareUpsert(c *core.Customer, now time.Time, source string) error
	PrepareInteraction(in *core.Interaction, now time.Time) error
}

// Target is where an import writes. *core.Service with its Store satisfies
// it through ForService; tests may supply their own.
type Target interface {
	Preparer
	// UpsertCustomers creates or merges (core.MergeCustomer) by external id.
	UpsertCustomers(ctx context.Context, in []core.Customer, source string) ([]core.Customer, []bool, error)
	// AppendInteractions stores a batch; known idempotency keys are duplicates.
	AppendInteractions(ctx context.Context, in []core.Interaction) ([]core.AppendResult, error)
	// GetCustomerByExternalID finds an interaction's customer (core.ErrNotFound
	// when there is none yet).
	GetCustomerByExternalID(ctx context.Context, externalID string) (core.Customer, error)
}

// ForService adapts the domain service (and, for look-ups by external id,
// its Store) to Target.
func ForService(s *core.Service) Target { return serviceTarget{s} }

type serviceTarget struct{ *core.Service }

func (t serviceTarget) GetCustomerByExternalID(ctx context.Context, id string) (core.Customer, error) {
	return t.Store.GetCustomerByExternalID(ctx, id)
}

// UpsertCustomers and AppendInteractions go straight to the store: the
// importer prepares (normalizes and validates) every record with the
// service's Prepare* when it reads the row, and its batches never exceed
// core.MaxBatch, so the service's second pass would only repeat that work
// on the import's hot path.
func (t serviceTarget) UpsertCustomers(ctx context.Context, in []core.Customer, _ string) ([]core.Customer, []bool, error) {
	return t.Store.UpsertCustomers(ctx, in, core.MergeCustomer)
}

func (t serviceTarget) AppendInteractions(ctx context.Context, in []core.Interaction) ([]core.AppendResult, error) {
	return t.Store.AppendInteractions(ctx, in)
}

// Source is the consent source recorded for imported consent.
const Source = "import"

// Options configure one import.
type Options struct {
	Kind    core.ImportKind // customers or interactions (required)
	Mapping *Mapping        // nil: detect and guess everything
	// Currency and TimeZone are the business defaults (config business.*),
	// used when neither the mapping nor a column says.
	Currency string
	TimeZone string
	// BatchSize is how many records go to the store per call (default 5000,
	// at most core.MaxBatch).
	BatchSize int
	// Size is the file's size in bytes, for progress (0: unknown).
	Size int64
	// Rejected, when set, receives the rejected rows as CSV: the original
	// fields, then line and reason.
	Rejected io.Writer
	// Progress is called after every batch and at the end.
	Progress func(Progress)
	// OnReject, when set, is called for every rejected row as it happens.
	OnReject func(core.RowError)
	// Limits; zero means the defaults.
	MaxRecordBytes int
	MaxFieldBytes  int
	// Now is the clock (tests set it).
	Now func() time.Time
}

// Progress counts an import's work. Rows and Rejected count data rows of the
// file; Stored and Duplicates count records (a customer, or an interaction,
// which may be an order of several rows): new ones, and ones that were
// already stored (or repeated within the file).
type Progress struct {
	BytesRead        int64 `json:"bytes_read"`
	BytesTotal       int64 `json:"bytes_total"`
	Rows             int64 `json:"rows"`
	Stored           int64 `json:"stored"`
	Duplicates       int64 `json:"duplicates"`
	Rejected         int64 `json:"rejected"`
	CustomersCreated int64 `json:"customers_created"` // stubs created for interactions
}

// Result is the outcome of an import.
type Result struct {
	Progress
	Detection Detection         `json:"detection"`
	Columns   map[string]string `json:"columns"` // field -> column used
	Errors    []core.RowError   `json:"errors"`  // the first core.MaxJobErrors rejected rows
}

// Preview is a dry run: the first rows as they would be stored.
type Preview struct {
	Detection    Detection          `json:"detection"`
	Columns      map[string]string  `json:"columns"`
	Rows         int64              `json:"rows"`
	Customers    []core.Customer    `json:"customers,omitempty"`
	Interactions []core.Interaction `json:"interactions,omitempty"`
	// InteractionCustomers holds each interaction's customer external id
	// (CustomerID is only known once stored).
	InteractionCustomers []string        `json:"interaction_customers,omitempty"`
	Errors               []core.RowError `json:"errors,omitempty"`
}

// DefaultPreviewRows is how many rows a dry run reads by default.
const DefaultPreviewRows = 20

// Import reads r and stores its rows through t. Bad rows are rejected and
// reported; the error is only for what stops the whole run (unreadable file,
// unusable mapping, a store failure, ctx cancelled), and then the Result
// holds the progress so far.
func Import(ctx context.Context, t Target, r io.Reader, opts Options) (Result, error) {
	ru, err := start(ctx, t, r, opts)
	if err != nil {
		return Result{}, err
	}
	err = ru.loop(0)
	if err == nil {
		err = ru.finish()
	}
	// Whatever stopped the run, the write in flight ends before Import
	// returns, and its outcome is counted.
	if werr := ru.awaitWrite(); err == nil {
		err = werr
	}
	ru.report()
	res := Result{Progress: ru.prog, Detection: ru.det, Errors: ru.errs}
	if ru.p != nil {
		res.Columns = ru.p.describe()
	}
	if ru.rej != nil {
		ru.rej.Flush()
		if err == nil {
			err = ru.rej.Error()
		}
	}
	return res, err
}

// DryRun parses and validates the first n data rows (0: DefaultPreviewRows)
// and returns them as they would be stored. Nothing is written.
func DryRun(ctx context.Context, prep Preparer, r io.Reader, opts Options, n int) (Preview, error) {
	if n <= 0 {
		n = DefaultPreviewRows
	}
	opts.Rejected = nil
	ru, err := start(ctx, nil, r, opts)
	if err != nil {
		return Preview{}, err
	}
	ru.prep = prep
	ru.preview = &Preview{Detection: ru.det, Columns: ru.p.describe()}
	if err := ru.loop(int64(n)); err != nil {
		return Preview{}, err
	}
	ru.closeAll()
	ru.preview.Rows = ru.prog.Rows
	ru.preview.Errors = ru.errs
	return *ru.preview, nil
}

// run is one import in progress.
type run struct {
	ctx     context.Context
	t       Target
	prep    Preparer
	opts    Options
	o       *opened
	src     source
	det     Detection
	p       *plan
	now     time.Time
	batchN  int
	prog    Progress
	errs    []core.RowError
	rej     *csv.Writer
	rejHead []string
	preview *Preview
	tp      timeParser

	// customers
	cbatch []core.Customer
	cidx   map[string]int

	// interactions
	open   []*group // orders still collecting rows, oldest first
	keyOcc map[uint64]uint32
	batch  []pendingIn
	stubs  map[string]core.Customer
	cache  map[string]core.ID
	occ    map[uint64]uint32
	hbuf   bytes.Buffer
	recBuf []rowCopy
	// inflight is the batch of interactions being written while the next
	// batch is parsed: parsing and the store's commit (CPU and fsync) then
	// overlap on two cores. At most one write is in flight, so batches stay
	// in file order and a crash loses at most the batches not yet committed.
	inflight *write
}

// write is one AppendInteractions call running in the background.
type write struct {
	done chan struct{}
	res  []core.AppendResult
	err  error
}

type rowCopy struct {
	line   int
	fields []string
	raw    string
}

type pendingIn struct {
	ext string
	in  core.Interaction
}

// group is the interaction being assembled from one or more rows.
type group struct {
	key       string
	ext       string
	in        core.Interaction
	typeCol   bool // the type came from a column (rules do not override it)
	qtySum    int64
	amountSum int64
	firstLine int
	lines     int
	rows      []rowCopy
}

func start(ctx context.Context, t Target, r io.Reader, opts Options) (*run, error) {
	ru, m, err := begin(ctx, t, r, opts, nil)
	if err != nil {
		return nil, err
	}
	p, err := compile(opts.Kind, m, ru.det, opts.TimeZone)
	if err != nil {
		return nil, err
	}
	ru.p = p
	ru.tp = timeParser{layout: m.TimeLayout, loc: p.loc}
	if opts.Rejected != nil {
		ru.rej = csv.NewWriter(opts.Rejected)
	}
	return ru, nil
}

// begin opens the file and detects its shape (encoding, format, delimiter,
// header, columns), stopping before the mapping is compiled. checkSample,
// when set, may refuse the decoded start of the file (Inspect uses it).
func begin(ctx context.Context, t Target, r io.Reader, opts Options, checkSample func([]byte) error) (*run, Mapping, error) {
	if opts.Kind != core.ImportCustomers && opts.Kind != core.ImportInteractions {
		return nil, Mapping{}, core.FieldErr("kind", "must be customers or interactions")
	}
	var m Mapping
	if opts.Mapping != nil {
		m = *opts.Mapping
	}
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if opts.MaxFieldBytes <= 0 {
		opts.MaxFieldBytes = DefaultMaxFieldBytes
	}
	ru := &run{ctx: ctx, t: t, opts: opts, batchN: opts.BatchSize}
	if t != nil {
		ru.prep = t
	}
	if ru.batchN <= 0 {
		ru.batchN = 5000
	}
	ru.batchN = min(ru.batchN, core.MaxBatch)
	ru.now = time.Now().UTC()
	if opts.Now != nil {
		ru.now = opts.Now().UTC()
	}
	ru.prog.BytesTotal = opts.Size

	o, err := open(r, m.Encoding)
	if err != nil {
		return nil, m, err
	}
	ru.o = o
	ru.det = o.det
	sample, err := o.text.Peek(sampleSize)
	whole := err != nil
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, m, fmt.Errorf("%w: reading the file: %v", core.ErrInvalid, err)
	}
	if len(bytes.TrimSpace(sample)) == 0 {
		return nil, m, core.Invalidf("the file is empty")
	}
	if checkSample != nil {
		if err := checkSample(sample); err != nil {
			return nil, m, err
		}
	}
	switch f := strings.ToLower(m.Format); f {
	case "", "auto":
		ru.det.Format = detectFormat(sample)
	case FormatCSV, FormatJSONL:
		ru.det.Format = f
	default:
		return nil, m, core.FieldErr("format", "must be csv or jsonl")
	}
	if ru.det.Format == FormatJSONL {
		ru.src = &jsonlSource{lr: lineReader{r: o.text, max: opts.MaxRecordBytes}, maxField: opts.MaxFieldBytes}
		ru.det.Columns = jsonlKeys(sample, whole)
		ru.rejHead = []string{"record", "line", "reason"}
	} else if err := ru.startCSV(m, sample, whole); err != nil {
		return nil, m, err
	}
	return ru, m, nil
}

func (ru *run) startCSV(m Mapping, sample []byte, whole bool) error {
	lines := sampleLines(sample, 50, whole)
	d := m.Delimiter
	switch d {
	case "", "auto":
		d = detectDelimiter(lines)
	case "tab", `\t`:
		d = "\t"
	case "space", "spaces":
		d = DelimWhitespace
	}
	if d != DelimWhitespace && (len([]rune(d)) != 1 || d == "\"" || d == "\n" || d == "\r") {
		return core.FieldErr("delimiter", "must be one character (\",\" \";\" \"\\t\" \"|\") or \"whitespace\"")
	}
	ru.det.Delimiter = d
	// Parse the first two records of the sample to decide on a header.
	var first, second []string
	if d == DelimWhitespace {
		if len(lines) > 0 {
			first = strings.Fields(lines[0])
		}
		if len(lines) > 1 {
			second = strings.Fields(lines[1])
		}
		ru.src = &wsSource{lr: lineReader{r: ru.o.text, max: ru.opts.MaxRecordBytes}, maxField: ru.opts.MaxFieldBytes}
	} else {
		cr := csv.NewReader(bytes.NewReader(sample))
		cr.Comma = []rune(d)[0]
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		if rec, err := cr.Read(); err == nil {
			first = rec
			if rec, err := cr.Read(); err == nil {
				second = rec
			}
		}
		ru.src = newCSVSource(ru.o.text, []rune(d)[0], ru.opts.MaxRecordBytes, ru.opts.MaxFieldBytes)
	}
	if m.Header != nil {
		ru.det.Header = *m.Header
	} else {
		ru.det.Header = detectHeader(first, second)
	}
	if ru.det.Header {
		rec, err := ru.src.next()
		if err == io.EOF {
			return core.Invalidf("the file is empty")
		}
		if err != nil {
			return fmt.Errorf("%w: reading the header: %v", core.ErrInvalid, err)
		}
		if rec.reason != "" {
			return core.Invalidf("line %d: the header row is unreadable: %s", rec.line, rec.reason)
		}
		ru.det.Columns = make([]string, len(rec.fields))
		for i, h := range rec.fields {
			ru.det.Columns[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		}
	} else {
		ru.det.Columns = make([]string, len(first))
		for i := range first {
			ru.det.Columns[i] = strconv.Itoa(i + 1)
		}
	}
	ru.rejHead = append(slices.Clone(ru.det.Columns), "line", "reason")
	return nil
}

// jsonlKeys lists the keys of the sample's objects (flattened), sorted, for
// guessing the mapping.
func jsonlKeys(sample []byte, whole bool) []string {
	seen := map[string]bool{}
	flat := map[string]string{}
	for _, l := range sampleLines(sample, 50, whole) {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			continue
		}
		delete(obj, "items")
		clear(flat)
		_ = flatten(flat, "", obj, math.MaxInt, 0)
		for k := range flat {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// loop reads records until the end (or until limit rows when limit > 0).
func (ru *run) loop(limit int64) error {
	for {
		if ru.prog.Rows&1023 == 0 {
			if err := ru.ctx.Err(); err != nil {
				return err
			}
		}
		if limit > 0 && ru.prog.Rows >= limit {
			return nil
		}
		rec, err := ru.src.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: reading the file near line %d: %v", core.ErrInvalid, ru.lastLine(), err)
		}
		ru.prog.Rows++
		if err := ru.row(rec); err != nil {
			return err
		}
	}
}

func (ru *run) lastLine() int {
	switch s := ru.src.(type) {
	case *csvSource:
		return s.lastEnd
	case *wsSource:
		return s.lr.line
	case *jsonlSource:
		return s.lr.line
	}
	return 0
}

func (ru *run) row(rec *record) error {
	if rec.reason != "" {
		ru.reject(rec, "", rec.reason)
		return nil
	}
	if rec.obj == nil {
		if ru.p.ncols > 0 && len(rec.fields) != ru.p.ncols {
			ru.reject(rec, "", fmt.Sprintf("has %d fields, expected %d", len(rec.fields), ru.p.ncols))
			return nil
		}
		blank := true
		for _, f := range rec.fields {
			if strings.TrimSpace(f) != "" {
				blank = false
				break
			}
		}
		if blank {
			ru.reject(rec, "", "empty row")
			return nil
		}
	}
	if ru.p.kind == core.ImportCustomers {
		return ru.customerRow(rec)
	}
	return ru.interactionRow(rec)
}

// reject records a rejected row.
func (ru *run) reject(rec *record, field, reason string) {
	ru.rejectCopy(rowCopy{line: rec.line, fields: rec.fields, raw: rec.raw}, field, reason)
}

func (ru *run) rejectCopy(rc rowCopy, field, reason string) {
	ru.prog.Rejected++
	re := core.RowError{Line: rc.line, Field: field, Reason: reason}
	if len(ru.errs) < core.MaxJobErrors {
		ru.errs = append(ru.errs, re)
	}
	if ru.opts.OnReject != nil {
		ru.opts.OnReject(re)
	}
	if ru.rej == nil {
		return
	}
	if ru.rejHead != nil {
		ru.rej.Write(neutralizeAll(ru.rejHead))
		ru.rejHead = nil
	}
	msg := reason
	if field != "" {
		msg = field + ": " + reason
	}
	var out []string
	if ru.det.Format == FormatJSONL {
		out = []string{rc.raw}
	} else {
		out = slices.Clone(rc.fields)
	}
	out = append(out, strconv.Itoa(rc.line), msg)
	ru.rej.Write(neutralizeAll(out))
}

func rejectErr(err error) (string, string) {
	var fe *core.FieldError
	if errors.As(err, &fe) {
		return fe.Field, fe.Message
	}
	return "", err.Error()
}

// customerRow turns a row into a customer and batches it.
func (ru *run) customerRow(rec *record) error {
	p := ru.p
	cu, err := p.cust.customer(rec, p.m.Rules.KeepFloatIDs, p.tagSep, p.m.Types, p.m.AddTags, "")
	if err != nil {
		f, m := rejectErr(err)
		ru.reject(rec, f, m)
		return nil
	}
	if cu.ExternalID == "" {
		ru.reject(rec, "external_id", "missing external id")
		return nil
	}
	if err := ru.prep.PrepareUpsert(&cu, ru.now, Source); err != nil {
		f, m := rejectErr(err)
		ru.reject(rec, f, m)
		return nil
	}
	if ru.preview != nil {
		ru.preview.Customers = append(ru.preview.Customers, cu)
		return nil
	}
	if ru.cidx == nil {
		ru.cidx = map[string]int{}
	}
	if i, ok := ru.cidx[cu.ExternalID]; ok {
		// The same customer twice in one batch: merge here, since one
		// upsert call should see each external id once.
		ru.cbatch[i] = core.MergeCustomer(ru.cbatch[i], cu)
		ru.prog.Duplicates++
		return nil
	}
	ru.cidx[cu.ExternalID] = len(ru.cbatch)
	ru.cbatch = append(ru.cbatch, cu)
	if len(ru.cbatch) >= ru.batchN {
		return ru.flushCustomers()
	}
	return nil
}

func (ru *run) flushCustomers() error {
	if len(ru.cbatch) == 0 {
		return nil
	}
	if err := ru.ctx.Err(); err != nil {
		return err
	}
	_, created, err := ru.t.UpsertCustomers(ru.ctx, ru.cbatch, Source)
	if err != nil {
		return fmt.Errorf("storing customers: %w", err)
	}
	for _, c := range created {
		if c {
			ru.prog.Stored++
		} else {
			ru.prog.Duplicates++
		}
	}
	ru.cbatch = ru.cbatch[:0]
	clear(ru.cidx)
	ru.report()
	return nil
}

func (ru *run) report() {
	ru.prog.BytesRead = ru.o.counter.n
	if ru.opts.Progress != nil && ru.preview == nil {
		ru.opts.Progress(ru.prog)
	}
}

// interactionRow adds a row to the current order group (or starts one).
func (ru *run) interactionRow(rec *record) error {
	p := ru.p
	rules := &p.m.Rules
	ext := cleanID(p.custExt.get(rec), rules.KeepFloatIDs)
	key := ""
	if p.orderKey != nil {
		key = strings.TrimSpace(p.orderKey.get(rec))
	}
	var g *group
	if key != "" {
		for _, og := range ru.open {
			if og.key == key {
				g = og
				break
			}
		}
	}
	if g == nil && len(ru.open) >= openOrders {
		if err := ru.closeOldest(); err != nil {
			return err
		}
	}
	if ext == "" {
		ru.reject(rec, "customer_external_id", "missing customer id")
		return nil
	}
	if g != nil && ext != g.ext {
		ru.reject(rec, "customer_external_id", fmt.Sprintf("order %s already belongs to customer %s", key, g.ext))
		return nil
	}
	cell := strings.TrimSpace(p.tm.get(rec))
	if cell == "" {
		ru.reject(rec, "time", "missing time")
		return nil
	}
	tm, ok := ru.tp.parse(cell)
	if !ok {
		ru.reject(rec, "time", fmt.Sprintf("cannot read %q as a time", cell))
		return nil
	}
	cur := ""
	if p.currency != nil {
		cur = strings.ToUpper(strings.TrimSpace(p.currency.get(rec)))
	}
	if cur == "" {
		cur = strings.ToUpper(strings.TrimSpace(p.m.Currency))
	}
	if cur == "" {
		cur = strings.ToUpper(strings.TrimSpace(ru.opts.Currency))
	}
	if _, ok := core.CurrencyExponent(cur); !ok && (p.amount != nil || p.price != nil) {
		if cur == "" {
			ru.reject(rec, "currency", "no currency: map a currency column or set currency")
		} else {
			ru.reject(rec, "currency", fmt.Sprintf("unknown ISO 4217 code %q", cur))
		}
		return nil
	}
	if g != nil && cur != g.in.Currency {
		ru.reject(rec, "currency", "currency differs from the rest of the order")
		return nil
	}
	var amount int64
	if p.amount != nil {
		if s := strings.TrimSpace(p.amount.get(rec)); s != "" {
			v, err := core.ParseAmount(s, cur)
			if err != nil {
				ru.reject(rec, "amount", err.Error())
				return nil
			}
			amount = v
		}
	}
	var item core.LineItem
	if p.items {
		item.Quantity = 1
		if p.qty != nil {
			s := strings.TrimSpace(p.qty.get(rec))
			if s != "" {
				q, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					f, ferr := strconv.ParseFloat(s, 64)
					if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1e15 {
						ru.reject(rec, "quantity", fmt.Sprintf("%q is not a whole number", s))
						return nil
					}
					q = int64(f)
				}
				if q > 1e9 || q < -1e9 {
					ru.reject(rec, "quantity", fmt.Sprintf("%d is out of range", q))
					return nil
				}
				item.Quantity = q
			}
		}
		if item.Quantity < 0 && rules.NegativeQuantity == "reject" {
			ru.reject(rec, "quantity", "negative quantity")
			return nil
		}
		if p.price != nil {
			if s := strings.TrimSpace(p.price.get(rec)); s != "" {
				v, err := core.ParseAmount(s, cur)
				if err != nil {
					ru.reject(rec, "unit_price", err.Error())
					return nil
				}
				if v > 1e15 || v < -1e15 {
					ru.reject(rec, "unit_price", "out of range")
					return nil
				}
				item.UnitPrice = v
			}
			if item.UnitPrice < 0 && rules.NegativePrice == "reject" {
				ru.reject(rec, "unit_price", "negative unit price")
				return nil
			}
			if item.UnitPrice == 0 && rules.ZeroPrice == "reject" {
				ru.reject(rec, "unit_price", "zero unit price")
				return nil
			}
		}
		item.SKU = strings.TrimSpace(p.sku.get(rec))
		item.Name = strings.TrimSpace(p.itemName.get(rec))
	}
	if g == nil {
		ng, ok := ru.newGroup(rec, key, ext, tm, cur)
		if !ok {
			return nil
		}
		g = ng
	}
	if p.items {
		if len(g.in.Items) >= core.MaxLineItems {
			ru.reject(rec, "items", fmt.Sprintf("an order holds at most %d line items", core.MaxLineItems))
			return nil
		}
		g.in.Items = append(g.in.Items, item)
		g.qtySum += item.Quantity
	}
	if g.lines == 0 || rules.OrderAmount == "sum" {
		g.amountSum += amount
	}
	g.lines++
	if ru.rej != nil {
		g.rows = append(g.rows, rowCopy{line: rec.line, fields: slices.Clone(rec.fields), raw: rec.raw})
	}
	if key == "" {
		// Without an order key every row is its own interaction.
		ru.open = slices.DeleteFunc(ru.open, func(o *group) bool { return o == g })
		ru.closeGroup(g)
		if len(ru.batch) >= ru.batchN {
			return ru.flushInteractions()
		}
	}
	return nil
}

// newGroup starts an interaction from its first row. ok is false when the
// row was rejected.
func (ru *run) newGroup(rec *record, key, ext string, tm time.Time, cur string) (*group, bool) {
	p := ru.p
	g := &group{key: key, ext: ext, firstLine: rec.line}
	in := &g.in
	in.Time = tm
	in.Currency = cur
	if p.typ != nil {
		in.Type = core.InteractionType(strings.ToLower(strings.TrimSpace(p.typ.get(rec))))
		g.typeCol = in.Type != ""
	}
	if in.Type == "" {
		in.Type = core.InteractionType(strings.ToLower(strings.TrimSpace(p.m.Type)))
	}
	if in.Type == "" {
		in.Type = core.TypePurchase
	}
	if p.channel != nil {
		in.Channel = core.Channel(p.channel.get(rec))
	}
	if in.Channel == "" {
		in.Channel = core.Channel(p.m.Channel)
	}
	in.Text = p.text.get(rec)
	for _, pr := range p.props {
		if v := pr.col.get(rec); v != "" {
			if in.Properties == nil {
				in.Properties = map[string]string{}
			}
			in.Properties[pr.name] = v
		}
	}
	if p.idem != nil {
		in.IdempotencyKey = strings.TrimSpace(p.idem.get(rec))
	}
	if rec.items != nil && !p.items {
		items, err := jsonItems(rec.items, cur)
		if err != nil {
			ru.reject(rec, "items", err.Error())
			return nil, false
		}
		in.Items = items
	}
	// The customer this interaction needs, in case it is not stored yet.
	if _, cached := ru.cache[ext]; !cached && ru.preview == nil {
		if _, have := ru.stubs[ext]; !have {
			stub := core.Customer{ExternalID: ext}
			if p.cust.any {
				c, err := p.cust.customer(rec, p.m.Rules.KeepFloatIDs, p.tagSep, p.m.Types, nil, "customer.")
				if err != nil {
					f, m := rejectErr(err)
					ru.reject(rec, f, m)
					return nil, false
				}
				c.ExternalID = ext
				stub = c
			}
			stub.Tags = append(stub.Tags, p.m.AddTags...)
			if err := ru.prep.PrepareUpsert(&stub, ru.now, Source); err != nil {
				f, m := rejectErr(err)
				if f != "" {
					f = "customer." + f
				}
				ru.reject(rec, f, m)
				return nil, false
			}
			if ru.stubs == nil {
				ru.stubs = map[string]core.Customer{}
			}
			ru.stubs[ext] = stub
		}
	}
	ru.open = append(ru.open, g)
	return g, true
}

// jsonItems reads a JSONL "items" array: objects with sku, name, quantity
// and unit_price (a decimal in the interaction's currency).
func jsonItems(raw []any, cur string) ([]core.LineItem, error) {
	if len(raw) > core.MaxLineItems {
		return nil, fmt.Errorf("at most %d line items", core.MaxLineItems)
	}
	out := make([]core.LineItem, 0, len(raw))
	for i, e := range raw {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d is not an object", i+1)
		}
		var it core.LineItem
		it.SKU, _ = scalarString(o["sku"])
		it.Name, _ = scalarString(o["name"])
		it.Quantity = 1
		if q, ok := scalarString(o["quantity"]); ok && q != "" {
			v, err := strconv.ParseInt(q, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("item %d: quantity %q is not a whole number", i+1, q)
			}
			it.Quantity = v
		}
		if pr, ok := scalarString(o["unit_price"]); ok && pr != "" {
			v, err := core.ParseAmount(pr, cur)
			if err != nil {
				return nil, fmt.Errorf("item %d: unit_price: %v", i+1, err)
			}
			it.UnitPrice = v
		}
		out = append(out, it)
	}
	return out, nil
}

// openOrders is how many orders collect rows at once: rows of one order
// are grouped when they are consecutive or interleaved with a few other
// orders (Online Retail interleaves invoice 542806 with another).
const openOrders = 16

// closeOldest finishes the oldest open order and flushes a full batch.
func (ru *run) closeOldest() error {
	if len(ru.open) == 0 {
		return nil
	}
	g := ru.open[0]
	ru.open = slices.Delete(ru.open, 0, 1)
	ru.closeGroup(g)
	if len(ru.batch) >= ru.batchN {
		return ru.flushInteractions()
	}
	return nil
}

// closeAll finishes every open order (at the end of the file).
func (ru *run) closeAll() {
	for _, g := range ru.open {
		ru.closeGroup(g)
	}
	ru.open = ru.open[:0]
}

// closeGroup finishes an interaction: its type by the rules, its amount, its
// idempotency key; then validates it.
func (ru *run) closeGroup(g *group) {
	p := ru.p
	rules := &p.m.Rules
	in := &g.in
	refund := false
	if !g.typeCol {
		if rules.RefundIfOrderKeyPrefix != "" && strings.HasPrefix(g.key, rules.RefundIfOrderKeyPrefix) {
			refund = true
		} else if rules.NegativeQuantity == "refund" && p.items && g.qtySum < 0 {
			refund = true
		}
	}
	if refund {
		in.Type = core.TypeRefund
	}
	if in.Type == core.TypeRefund {
		// Refunds carry positive amounts and quantities; the type says refund.
		for i := range in.Items {
			if in.Items[i].Quantity < 0 {
				in.Items[i].Quantity = -in.Items[i].Quantity
			}
		}
	}
	if p.amount != nil {
		in.Amount = g.amountSum
	} else if len(in.Items) > 0 {
		in.Amount = in.ItemsTotal()
	}
	if in.Type == core.TypeRefund && in.Amount < 0 {
		in.Amount = -in.Amount
	}
	if in.IdempotencyKey == "" {
		prefix := ""
		if p.m.Source != "" {
			prefix = p.m.Source + ":"
		}
		if g.key != "" {
			// An order key seen again after its order was closed gets a
			// numbered key, so its rows are kept (as a second interaction)
			// rather than taken for a repeat of the first.
			in.IdempotencyKey = prefix + string(in.Type) + ":" + g.key
			if ru.keyOcc == nil {
				ru.keyOcc = map[uint64]uint32{}
			}
			h := hashString(in.IdempotencyKey)
			n := ru.keyOcc[h] + 1
			ru.keyOcc[h] = n
			if n > 1 {
				in.IdempotencyKey += "#" + strconv.FormatUint(uint64(n), 10)
			}
		} else {
			in.IdempotencyKey = prefix + ru.rowKey(g)
		}
	}
	in.CustomerID = 1 // a placeholder: validation needs one, the batch resolves the real one
	err := ru.prep.PrepareInteraction(in, ru.now)
	in.CustomerID = 0
	if err != nil {
		f, m := rejectErr(err)
		if len(g.rows) == 0 {
			g.rows = []rowCopy{{line: g.firstLine}}
		}
		for i, rc := range g.rows {
			reason := m
			if i > 0 {
				reason = fmt.Sprintf("order %s (line %d) was rejected: %s", g.key, g.firstLine, m)
			}
			ru.rejectCopy(rc, f, reason)
		}
		if extra := g.lines - len(g.rows); extra > 0 {
			ru.prog.Rejected += int64(extra)
		}
		return
	}
	if ru.preview != nil {
		ru.preview.Interactions = append(ru.preview.Interactions, *in)
		ru.preview.InteractionCustomers = append(ru.preview.InteractionCustomers, g.ext)
		return
	}
	ru.batch = append(ru.batch, pendingIn{ext: g.ext, in: *in})
}

// rowKey derives the idempotency key of an interaction that has no order
// key and no idempotency column: a hash of its content and the number of
// times that content has occurred so far in the file, so identical rows stay
// distinct yet get the same keys on every run.
func (ru *run) rowKey(g *group) string {
	b := &ru.hbuf
	b.Reset()
	in := &g.in
	sep := func() { b.WriteByte(0x1f) }
	b.WriteString(g.ext)
	sep()
	b.WriteString(string(in.Type))
	sep()
	b.WriteString(strconv.FormatInt(in.Time.UnixNano(), 10))
	sep()
	b.WriteString(strconv.FormatInt(in.Amount, 10))
	sep()
	b.WriteString(in.Currency)
	sep()
	b.WriteString(string(in.Channel))
	sep()
	b.WriteString(in.Text)
	for _, k := range slices.Sorted(maps.Keys(in.Properties)) {
		sep()
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(in.Properties[k])
	}
	for _, it := range in.Items {
		sep()
		fmt.Fprintf(b, "%s|%s|%d|%d", it.SKU, it.Name, it.Quantity, it.UnitPrice)
	}
	sum := sha256.Sum256(b.Bytes())
	if ru.occ == nil {
		ru.occ = map[uint64]uint32{}
	}
	k := binary.BigEndian.Uint64(sum[:8])
	n := ru.occ[k] + 1
	ru.occ[k] = n
	return "row:" + hex.EncodeToString(sum[:16]) + ":" + strconv.FormatUint(uint64(n), 10)
}

// flushInteractions resolves the batch's customers (creating the missing
// ones once) and appends the batch.
func (ru *run) flushInteractions() error {
	if len(ru.batch) == 0 {
		return nil
	}
	if err := ru.ctx.Err(); err != nil {
		return err
	}
	if ru.cache == nil || len(ru.cache) > 1<<20 {
		ru.cache = map[string]core.ID{} // bounded: a re-lookup is cheap
	}
	var create []core.Customer
	seen := map[string]bool{}
	for _, pi := range ru.batch {
		if _, ok := ru.cache[pi.ext]; ok || seen[pi.ext] {
			continue
		}
		seen[pi.ext] = true
		c, err := ru.t.GetCustomerByExternalID(ru.ctx, pi.ext)
		switch {
		case err == nil:
			ru.cache[pi.ext] = c.ID
		case errors.Is(err, core.ErrNotFound):
			stub, ok := ru.stubs[pi.ext]
			if !ok {
				stub = core.Customer{ExternalID: pi.ext}
			}
			create = append(create, stub)
		default:
			return fmt.Errorf("looking up customer %q: %w", pi.ext, err)
		}
	}
	if len(create) > 0 {
		out, created, err := ru.t.UpsertCustomers(ru.ctx, create, Source)
		if err != nil {
			return fmt.Errorf("creating customers: %w", err)
		}
		for i, c := range out {
			ru.cache[c.ExternalID] = c.ID
			if created[i] {
				ru.prog.CustomersCreated++
			}
		}
	}
	for _, c := range create {
		delete(ru.stubs, c.ExternalID)
	}
	for ext := range seen {
		delete(ru.stubs, ext)
	}
	ins := make([]core.Interaction, len(ru.batch))
	for i, pi := range ru.batch {
		ins[i] = pi.in
		ins[i].CustomerID = ru.cache[pi.ext]
	}
	if err := ru.awaitWrite(); err != nil {
		return err
	}
	w := &write{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.res, w.err = ru.t.AppendInteractions(ru.ctx, ins)
	}()
	ru.inflight = w
	ru.batch = ru.batch[:0]
	return nil
}

// awaitWrite waits for the write in flight, if any, and counts its outcome.
func (ru *run) awaitWrite() error {
	w := ru.inflight
	if w == nil {
		return nil
	}
	<-w.done
	ru.inflight = nil
	if w.err != nil {
		return fmt.Errorf("storing interactions: %w", w.err)
	}
	for _, r := range w.res {
		if r.Duplicate {
			ru.prog.Duplicates++
		} else {
			ru.prog.Stored++
		}
	}
	ru.report()
	return nil
}

// finish closes the last group and flushes what is pending.
func (ru *run) finish() error {
	if ru.p.kind == core.ImportCustomers {
		return ru.flushCustomers()
	}
	ru.closeAll()
	return ru.flushInteractions()
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
