package web

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// The import pages: upload a file (it is staged on the server under an
// opaque id), map its columns with a preview, start a job, watch it. Jobs
// run in the import manager, so leaving a page never stops one; the pages
// only poll. Every step is a plain form; htmx swaps the mapping form and
// polls the progress fragments.

const (
	uiJobList         = 20
	uiPreviewScan     = 500 // rows a preview dry-runs, for its error list
	uiPreviewShow     = 20  // parsed rows and errors shown
	uiMaxFormColumns  = 300 // columns the mapping form offers
	uiCellRunes       = 80
	uiSamplesPerCol   = 3
	uiMaxOptionString = 200
)

// --- the list and the upload form ---

type importsPage struct {
	Jobs      []jobView
	Poll      bool // some job is still running: the list refreshes itself
	Kind      string
	Error     string
	MaxUpload string
}

type jobView struct {
	core.ImportJob
	Running  bool
	Percent  int
	Elapsed  string
	Rate     string
	Size     string
	ReadText string
}

func (s *Server) jobView(j core.ImportJob) jobView {
	v := jobView{ImportJob: j, Running: !j.State.Finished(), Size: humanBytes(j.SizeBytes), ReadText: humanBytes(j.BytesRead)}
	switch {
	case j.State == core.ImportDone:
		v.Percent = 100
	case j.SizeBytes > 0:
		v.Percent = int(min(100, j.BytesRead*100/j.SizeBytes))
	}
	if !j.StartedAt.IsZero() {
		end := j.FinishedAt
		if end.IsZero() {
			end = s.now()
		}
		d := max(end.Sub(j.StartedAt), 0)
		v.Elapsed = humanDuration(d)
		if d >= 100*time.Millisecond && j.Rows > 0 {
			v.Rate = strconv.FormatInt(int64(float64(j.Rows)/d.Seconds()), 10) + " rows/s"
		}
	}
	return v
}

// GET /imports (?part=jobs: the job list alone, for polling)
func (s *Server) uiImports(c *echo.Context) error {
	return s.renderImports(c, http.StatusOK, importsPage{Kind: string(core.ImportCustomers)})
}

func (s *Server) renderImports(c *echo.Context, status int, p importsPage) error {
	im, err := s.importer()
	if err != nil {
		return err
	}
	jobs, err := im.List(ctx(c), uiJobList)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		v := s.jobView(j)
		p.Poll = p.Poll || v.Running
		p.Jobs = append(p.Jobs, v)
	}
	p.MaxUpload = humanBytes(s.cfg.Server.MaxUploadBytes)
	page := Page{Title: "Imports", Nav: "imports", Data: p}
	if c.QueryParam("part") == "jobs" {
		return s.fragment(c, status, "imports", "jobs", page)
	}
	return s.render(c, status, "imports", page)
}

// POST /imports/upload?csrf_token= (multipart: file, kind) stages the file
// and shows its mapping page.
func (s *Server) uiImportUpload(c *echo.Context) error {
	im, err := s.importer()
	if err != nil {
		return err
	}
	p := importsPage{Kind: string(core.ImportCustomers)}
	fail := func(status int, msg string) error {
		p.Error = msg
		return s.renderImports(c, status, p)
	}
	req := c.Request()
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "multipart/form-data" {
		return fail(http.StatusBadRequest, "Send the form with a file (multipart/form-data).")
	}
	if err := req.ParseMultipartForm(multipartMemory); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("The file is larger than the upload limit (%s). Split it, or import it with `retain import` on the server.", humanBytes(s.cfg.Server.MaxUploadBytes)))
		}
		return fail(http.StatusBadRequest, "The upload could not be read; please try again.")
	}
	defer req.MultipartForm.RemoveAll()
	form := req.MultipartForm
	if k := form.Value["kind"]; len(k) == 1 {
		p.Kind = k[0]
	} else {
		p.Kind = ""
	}
	kind := core.ImportKind(p.Kind)
	if kind != core.ImportCustomers && kind != core.ImportInteractions {
		p.Kind = string(core.ImportCustomers)
		return fail(http.StatusUnprocessableEntity, "Choose what the file holds: customers or interactions.")
	}
	files := form.File["file"]
	if len(files) != 1 || files[0].Filename == "" {
		return fail(http.StatusUnprocessableEntity, "Choose one file to upload.")
	}
	fh := files[0]
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	name := filepath.Base(strings.ReplaceAll(fh.Filename, "\\", "/"))
	up, err := im.Stage(ctx(c), ImportRequest{Kind: kind, FileName: name, File: f, Size: fh.Size, UserID: callerUser(c).ID})
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			return fail(http.StatusUnprocessableEntity, "This file cannot be imported: "+messageOf(err))
		}
		return err
	}
	auditDetail(c, "staged "+name)
	return seeOther(c, "/imports/uploads/"+up.ID)
}

// --- the mapping page ---

// mappingForm is what the mapping form sends (and is re-rendered with).
type mappingForm struct {
	Kind       string
	Header     string // auto, yes, no
	Delimiter  string // auto , ; tab | whitespace
	Encoding   string
	Type       string
	Currency   string
	TimeLayout string
	TimeZone   string
	Source     string
	Shape      string
}

type mappingPage struct {
	Up      ImportUpload
	Form    mappingForm
	Cols    []colView
	More    int // columns beyond uiMaxFormColumns, not offered
	Shape   string
	Notice  string
	Error   string
	Fields  map[string]string // form field → message
	TOML    string
	Preview *previewView
	Size    string
	Delim   string // the delimiter as staff read it
}

type colView struct {
	Index    int
	Name     string
	Samples  []string
	Options  []option
	Selected string
	Error    string
}

type option struct{ Value, Label string }

type previewView struct {
	Scanned      int64
	Valid        int64
	Rejected     int64
	Customers    []core.Customer
	Interactions []PreviewInteraction
	Errors       []core.RowError
	MoreErrors   bool
}

var (
	headerChoices    = []string{"auto", "yes", "no"}
	delimiterChoices = []string{"auto", ",", ";", "tab", "|", "whitespace"}
	encodingChoices  = []string{"auto", "utf-8", "utf-8-bom", "utf-16le", "utf-16be", "windows-1252", "windows-1251"}
)

func (f *mappingForm) read(c *echo.Context, up ImportUpload) map[string]string {
	errs := map[string]string{}
	pick := func(name string, allowed []string, def string) string {
		v := c.FormValue(name)
		if v == "" {
			return def
		}
		if !slices.Contains(allowed, v) {
			errs[name] = "choose one of the offered values"
			return def
		}
		return v
	}
	f.Kind = pick("kind", []string{string(core.ImportCustomers), string(core.ImportInteractions)}, string(up.Kind))
	f.Header = pick("header", headerChoices, "auto")
	f.Delimiter = pick("delimiter", delimiterChoices, "auto")
	f.Encoding = pick("encoding", encodingChoices, "auto")
	text := func(name string, max int) string {
		v := strings.TrimSpace(c.FormValue(name))
		if len(v) > max || !utf8.ValidString(v) || strings.ContainsFunc(v, isHiddenFormat) {
			errs[name] = fmt.Sprintf("at most %d plain characters", max)
			return ""
		}
		return v
	}
	f.Type = strings.ToLower(text("type", 40))
	f.Currency = strings.ToUpper(text("currency", 3))
	f.TimeLayout = text("time_layout", 64)
	f.TimeZone = text("time_zone", 64)
	f.Source = text("source", 64)
	f.Shape = c.FormValue("shape")
	return errs
}

// formatTOML is the part of the mapping that decides how the file is read.
func (f mappingForm) formatMapping() uiMapping {
	m := uiMapping{}
	if f.Delimiter != "auto" {
		m.Delimiter = f.Delimiter
	}
	if f.Encoding != "auto" {
		m.Encoding = f.Encoding
	}
	switch f.Header {
	case "yes":
		t := true
		m.Header = &t
	case "no":
		fl := false
		m.Header = &fl
	}
	return m
}

// uiMapping is the mapping file the form builds (docs/import.md).
type uiMapping struct {
	Delimiter  string         `toml:"delimiter,omitempty"`
	Encoding   string         `toml:"encoding,omitempty"`
	Header     *bool          `toml:"header,omitempty"`
	Guess      *bool          `toml:"guess,omitempty"`
	Source     string         `toml:"source,omitempty"`
	TimeLayout string         `toml:"time_layout,omitempty"`
	TimeZone   string         `toml:"time_zone,omitempty"`
	Currency   string         `toml:"currency,omitempty"`
	Type       string         `toml:"type,omitempty"`
	Columns    map[string]any `toml:"columns,omitempty"`
}

func (m uiMapping) TOML() string {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(m); err != nil {
		return ""
	}
	return b.String()
}

func shapeOf(up ImportUpload, f mappingForm) string {
	return strings.Join([]string{string(up.Kind), up.Format, f.Header, f.Delimiter, f.Encoding, strconv.Itoa(len(up.Columns))}, "|")
}

// keyedName is the name a column gets as an attribute or property: its
// header without our export prefixes, folded to lower-case words.
func keyedName(header string, i int) string {
	for _, p := range []string{"customer.attributes.", "attributes.", "properties."} {
		if rest, ok := strings.CutPrefix(header, p); ok {
			header = rest
			break
		}
	}
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(header) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
		if b.Len() >= 48 {
			break
		}
	}
	n := strings.Trim(b.String(), "_.-")
	if n == "" {
		n = "column_" + strconv.Itoa(i+1)
	}
	return n
}

var fieldLabels = map[string]string{
	"external_id": "External ID (match key)", "customer_external_id": "Customer external ID",
	"name": "Name", "first_name": "First name", "last_name": "Last name", "email": "Email", "phone": "Phone",
	"address.line1": "Address line 1", "address.line2": "Address line 2", "address.city": "City",
	"address.region": "Region", "address.postal_code": "Postal code", "address.country": "Country",
	"locale": "Locale", "time_zone": "Time zone", "tags": "Tags",
	"order_key": "Order key (groups rows)", "idempotency_key": "Idempotency key", "type": "Type", "time": "Time",
	"amount": "Amount", "quantity": "Quantity", "unit_price": "Unit price", "currency": "Currency",
	"channel": "Channel", "text": "Text", "sku": "SKU", "item_name": "Item name",
}

func fieldLabel(f string) string {
	if rest, ok := strings.CutPrefix(f, "customer."); ok {
		return "Customer: " + fieldLabel(rest)
	}
	if l, ok := fieldLabels[f]; ok {
		return l
	}
	if ch, ok := strings.CutPrefix(f, "consent."); ok {
		return "Consent: " + ch
	}
	if n, ok := strings.CutPrefix(f, "attributes."); ok {
		return "Attribute “" + n + "”"
	}
	if n, ok := strings.CutPrefix(f, "properties."); ok {
		return "Property “" + n + "”"
	}
	return f
}

var multiFields = map[string]bool{"email": true, "phone": true, "tags": true,
	"customer.email": true, "customer.phone": true, "customer.tags": true}

// columnOptions are the choices of column i: the kind's fields, the keyed
// fields named after the column, and whatever the importer guessed.
func columnOptions(up ImportUpload, i int) []option {
	opts := []option{{"", "— not imported —"}}
	name := keyedName(up.Columns[i], i)
	seen := map[string]bool{"": true}
	add := func(v string) {
		if !seen[v] {
			seen[v] = true
			opts = append(opts, option{v, fieldLabel(v)})
		}
	}
	for _, f := range up.Fields {
		if strings.HasSuffix(f, ".") {
			add(f + name)
			continue
		}
		add(f)
	}
	if i < len(up.Guess) && up.Guess[i] != "" && len(up.Guess[i]) <= uiMaxOptionString {
		add(up.Guess[i])
	}
	return opts
}

// buildColumns reads the col.N selects (or takes the guess) and builds the
// mapping's columns.
func buildColumns(c *echo.Context, up ImportUpload, useGuess bool, errs map[string]string) ([]colView, map[string]any) {
	n := min(len(up.Columns), uiMaxFormColumns)
	cols := make([]colView, n)
	mapped := map[string]any{}
	from := map[string]int{}
	for i := range n {
		cv := colView{Index: i, Name: up.Columns[i], Options: columnOptions(up, i)}
		for _, r := range up.Rows {
			if i < len(r.Cells) && strings.TrimSpace(r.Cells[i]) != "" && len(cv.Samples) < uiSamplesPerCol {
				cv.Samples = append(cv.Samples, clip(r.Cells[i], uiCellRunes))
			}
		}
		sel := ""
		if useGuess {
			if i < len(up.Guess) {
				sel = up.Guess[i]
			}
		} else {
			sel = c.FormValue("col." + strconv.Itoa(i))
		}
		if !slices.ContainsFunc(cv.Options, func(o option) bool { return o.Value == sel }) {
			cv.Error = "choose one of the offered fields"
			errs["col."+strconv.Itoa(i)] = cv.Error
			sel = ""
		}
		cv.Selected = sel
		if sel != "" {
			var ref any = int64(i + 1)
			if up.Format == "jsonl" {
				ref = up.Columns[i]
			}
			if j, dup := from[sel]; dup {
				if !multiFields[sel] {
					cv.Error = fmt.Sprintf("%s is already imported from column %d", fieldLabel(sel), j+1)
					errs["col."+strconv.Itoa(i)] = cv.Error
				} else if list, ok := mapped[sel].([]any); ok {
					mapped[sel] = append(list, ref)
				} else {
					mapped[sel] = []any{mapped[sel], ref}
				}
			} else {
				from[sel] = i
				mapped[sel] = ref
			}
		}
		cols[i] = cv
	}
	return cols, mapped
}

// GET /imports/uploads/:upload
func (s *Server) uiImportStaged(c *echo.Context) error {
	im, err := s.importer()
	if err != nil {
		return err
	}
	req := ImportRequest{Upload: c.Param("upload"), UserID: callerUser(c).ID}
	if k := c.QueryParam("kind"); k == string(core.ImportCustomers) || k == string(core.ImportInteractions) {
		req.Kind = core.ImportKind(k)
	}
	up, err := im.Inspect(ctx(c), req)
	if err != nil {
		return err
	}
	f := mappingForm{Kind: string(up.Kind), Header: "auto", Delimiter: "auto", Encoding: "auto"}
	errs := map[string]string{}
	p := mappingPage{Up: up, Form: f, Fields: errs}
	var cols map[string]any
	p.Cols, cols = buildColumns(c, up, true, errs)
	p.TOML = fullMapping(f, cols).TOML()
	return s.renderMapping(c, http.StatusOK, p)
}

func fullMapping(f mappingForm, cols map[string]any) uiMapping {
	m := f.formatMapping()
	no := false
	m.Guess = &no // the form shows every column's choice: nothing is guessed behind it
	m.Columns = cols
	m.Source, m.TimeLayout, m.TimeZone, m.Currency = f.Source, f.TimeLayout, f.TimeZone, f.Currency
	if f.Kind == string(core.ImportInteractions) {
		m.Type = f.Type
	}
	return m
}

// mappingFromForm reads the whole form, inspects the file again with its
// format choices and builds the mapping. A change of kind or of how the
// file is read (which changes its columns) starts again from the guess.
func (s *Server) mappingFromForm(c *echo.Context, im Importer) (mappingPage, ImportRequest, error) {
	req := ImportRequest{Upload: c.Param("upload"), UserID: callerUser(c).ID}
	base, err := im.Inspect(ctx(c), req)
	if err != nil {
		return mappingPage{}, req, err
	}
	var f mappingForm
	errs := f.read(c, base)
	req.Kind = core.ImportKind(f.Kind)
	req.Mapping = f.formatMapping().TOML()
	up, err := im.Inspect(ctx(c), req)
	p := mappingPage{Fields: errs}
	if err != nil {
		if !errors.Is(err, core.ErrInvalid) {
			return mappingPage{}, req, err
		}
		// Read this way the file makes no sense: say so, show it as detected.
		p.Error = "The file cannot be read with these settings: " + messageOf(err)
		f.Header, f.Delimiter, f.Encoding = "auto", "auto", "auto"
		req.Mapping = ""
		if up, err = im.Inspect(ctx(c), ImportRequest{Upload: req.Upload, UserID: req.UserID, Kind: req.Kind}); err != nil {
			return mappingPage{}, req, err
		}
	}
	p.Up, p.Form = up, f
	useGuess := f.Shape != shapeOf(up, f)
	if useGuess && f.Shape != "" {
		p.Notice = "The columns were read again for these settings; check the mapping below."
	}
	var cols map[string]any
	p.Cols, cols = buildColumns(c, up, useGuess, errs)
	m := fullMapping(f, cols)
	p.TOML = m.TOML()
	req.Mapping = p.TOML
	return p, req, nil
}

// POST /imports/uploads/:upload/preview dry-runs the mapping.
func (s *Server) uiImportPreview(c *echo.Context) error {
	im, err := s.importer()
	if err != nil {
		return err
	}
	p, req, err := s.mappingFromForm(c, im)
	if err != nil {
		return err
	}
	if len(p.Fields) > 0 || p.Error != "" {
		return s.renderMapping(c, http.StatusUnprocessableEntity, p)
	}
	req.PreviewRows = uiPreviewScan
	pv, err := im.DryRun(ctx(c), req)
	if err != nil {
		if !errors.Is(err, core.ErrInvalid) {
			return err
		}
		p.Error = mappingError(err)
		return s.renderMapping(c, http.StatusUnprocessableEntity, p)
	}
	p.Preview = previewOf(pv)
	return s.renderMapping(c, http.StatusOK, p)
}

// POST /imports/uploads/:upload/start checks the mapping on the first rows
// and starts the job.
func (s *Server) uiImportStart(c *echo.Context) error {
	im, err := s.importer()
	if err != nil {
		return err
	}
	p, req, err := s.mappingFromForm(c, im)
	if err != nil {
		return err
	}
	if len(p.Fields) > 0 || p.Error != "" || p.Notice != "" {
		if p.Notice != "" {
			p.Notice += " Nothing was started."
		}
		return s.renderMapping(c, http.StatusUnprocessableEntity, p)
	}
	if _, err := im.DryRun(ctx(c), req); err != nil {
		if !errors.Is(err, core.ErrInvalid) {
			return err
		}
		p.Error = mappingError(err)
		return s.renderMapping(c, http.StatusUnprocessableEntity, p)
	}
	job, err := im.Start(ctx(c), req)
	if err != nil {
		if !errors.Is(err, core.ErrInvalid) {
			return err
		}
		p.Error = mappingError(err)
		return s.renderMapping(c, http.StatusUnprocessableEntity, p)
	}
	auditDetail(c, fmt.Sprintf("import %s of %s started (%s)", job.ID, job.Kind, job.FileName))
	return seeOther(c, "/imports/"+job.ID.String())
}

// POST /imports/uploads/:upload/discard
func (s *Server) uiImportDiscard(c *echo.Context) error {
	im, err := s.importer()
	if err != nil {
		return err
	}
	if err := im.Discard(ctx(c), ImportRequest{Upload: c.Param("upload"), UserID: callerUser(c).ID}); err != nil {
		return err
	}
	return seeOther(c, "/imports")
}

func mappingError(err error) string {
	msg := messageOf(err)
	if f := core.ErrorField(err); f != "" {
		msg = f + ": " + msg
	}
	return "The mapping does not work yet: " + msg
}

// messageOf is an error's message without its kind prefix.
func messageOf(err error) string {
	_, d, _ := errorResponse(err)
	return d.Message
}

func previewOf(pv ImportPreview) *previewView {
	v := &previewView{Scanned: pv.Rows, Valid: pv.Valid, Rejected: pv.Rejected}
	for _, x := range pv.Sample {
		if len(v.Customers)+len(v.Interactions) >= uiPreviewShow {
			break
		}
		switch r := x.(type) {
		case core.Customer:
			v.Customers = append(v.Customers, r)
		case PreviewInteraction:
			v.Interactions = append(v.Interactions, r)
		}
	}
	v.Errors = pv.Errors
	if len(v.Errors) > uiPreviewShow {
		v.Errors, v.MoreErrors = v.Errors[:uiPreviewShow], true
	}
	return v
}

func (s *Server) renderMapping(c *echo.Context, status int, p mappingPage) error {
	if p.Fields == nil {
		p.Fields = map[string]string{}
	}
	p.Shape = shapeOf(p.Up, p.Form)
	p.Size = humanBytes(p.Up.Size)
	p.Delim = map[string]string{",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", "whitespace": "spaces"}[p.Up.Delimiter]
	if len(p.Up.Columns) > uiMaxFormColumns {
		p.More = len(p.Up.Columns) - uiMaxFormColumns
	}
	page := Page{Title: "Map the columns", Nav: "imports", Data: p}
	if isHTMX(c) && c.Request().Method == http.MethodPost {
		return s.fragment(c, status, "import_upload", "mapping", page)
	}
	return s.render(c, status, "import_upload", page)
}

// --- a job ---

type jobPage struct {
	Job         jobView
	Errors      []core.RowError
	MoreErrors  int64
	HasRejected bool
}

// GET /imports/:id (?part=progress: the live part alone, for polling)
func (s *Server) uiImportJob(c *echo.Context) error {
	im, id, err := s.importAndID(c)
	if err != nil {
		return err
	}
	job, err := im.Get(ctx(c), id)
	if err != nil {
		return err
	}
	p := jobPage{Job: s.jobView(job), Errors: job.Errors}
	if len(p.Errors) > uiPreviewShow {
		p.Errors = p.Errors[:uiPreviewShow]
	}
	p.MoreErrors = job.Rejected - int64(len(p.Errors))
	if job.Rejected > 0 {
		_, err := im.RejectedPath(ctx(c), id)
		p.HasRejected = err == nil
	}
	page := Page{Title: "Import " + job.ID.String(), Nav: "imports", Data: p}
	if c.QueryParam("part") == "progress" {
		return s.fragment(c, http.StatusOK, "import_job", "progress", page)
	}
	return s.render(c, http.StatusOK, "import_job", page)
}

// POST /imports/:id/cancel
func (s *Server) uiImportCancel(c *echo.Context) error {
	im, id, err := s.importAndID(c)
	if err != nil {
		return err
	}
	if _, err := im.Cancel(ctx(c), id); err != nil && !errors.Is(err, core.ErrConflict) {
		return err
	}
	return seeOther(c, "/imports/"+id.String())
}

// GET /imports/:id/rejected is the API's download, for the page's link.
func (s *Server) uiImportRejected(c *echo.Context) error { return s.importRejected(c) }

// --- formatting ---

func humanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + " GiB"
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < time.Hour:
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}

// clip shortens a cell for display (the page is not the place for a 64 KiB
// field) and makes hidden characters visible.
func clip(s string, n int) string {
	s = safeText(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
