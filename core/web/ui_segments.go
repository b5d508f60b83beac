package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// The segment pages: the list with counts, the rule editor, a segment's
// members with paging and CSV export, and delete with a confirmation page.
//
// The editor is a flat list of condition rows joined by "all" or "any",
// each row optionally negated — what people build by hand. Rules with
// nested groups (from the API) are edited as JSON in the same form. Every
// button is a plain submit (add a row, remove one, recount, save), so the
// editor works without JavaScript; htmx re-renders only the rows for
// structural changes and only the live count while typing (debounced), so
// focus is never lost.

const segMaxRows = 50

// segRow is one condition row of the editor, as its inputs hold it.
type segRow struct {
	Kind, Key, Field, Op, Value, Type, Measure, Days, From, To string
	Not                                                        bool
	Err                                                        string
}

// segForm is the editor's state.
type segForm struct {
	ID                core.ID
	Name, Description string
	Match             string // "all" or "any"
	Mode              string // "rows" or "json"
	JSON              string
	Rows              []segRow
	Fields            map[string]string
	Error             string
	Preview           *segPreview
}

type segPreview struct {
	Count, Total int
	Partial      bool
	TookMS       string
	Sample       []memberView
	Err          string
}

type segOption struct{ Value, Label string }

// segKinds are the condition kinds the editor offers.
var segKinds = []segOption{
	{"tag", "Has tag"}, {"consent", "Consent granted"}, {"attribute", "Attribute"}, {"field", "Customer field"},
	{"event", "Events in a window"}, {"rfm", "RFM segment"}, {"p_alive", "Chance still active"},
	{"clv", "Predicted lifetime value"}, {"first_purchase", "First purchase between"},
}

var segOps = map[string][]segOption{
	"attribute": {{"eq", "is"}, {"ne", "is not"}, {"contains", "contains"}, {"exists", "is set"}, {"gt", ">"}, {"gte", "≥"}, {"lt", "<"}, {"lte", "≤"}},
	"field":     {{"eq", "is"}, {"ne", "is not"}, {"contains", "contains"}, {"exists", "is set"}, {"before", "before (created at)"}, {"after", "after (created at)"}, {"within_days", "in the last N days (created at)"}},
	"event":     {{"gte", "at least"}, {"lte", "at most"}, {"eq", "exactly"}, {"gt", "more than"}, {"lt", "fewer than"}, {"ne", "not"}},
	"p_alive":   {{"lt", "below"}, {"gt", "above"}},
	"clv":       {{"gt", "above"}, {"lt", "below"}},
}

// segEditorData is what the editor templates get.
type segEditorData struct {
	Form     segForm
	Kinds    []segOption
	Ops      map[string][]segOption
	Fields   []string
	Types    []core.InteractionType
	Channels []core.Channel
	RFM      []string
	Action   string // where the form posts
}

func (s *Server) segEditor(f segForm) segEditorData {
	action := "/segments"
	if f.ID != 0 {
		action = "/segments/" + f.ID.String()
	}
	return segEditorData{Form: f, Kinds: segKinds, Ops: segOps, Fields: core.FieldNames, Types: core.KnownTypes,
		Channels: core.KnownChannels, RFM: core.RFMSegmentNames, Action: action}
}

// readSegForm reads the editor's inputs (query for the htmx builder, body
// for posts) and applies a structural action.
func readSegForm(c *echo.Context) (segForm, string) {
	req := c.Request()
	_ = req.ParseForm()
	v := req.Form
	get := func(k string) string { return strings.ToValidUTF8(strings.TrimSpace(v.Get(k)), "\uFFFD") }
	f := segForm{Name: get("name"), Description: get("description"), Match: get("match"), Mode: get("mode"),
		JSON: get("rule_json"), Fields: map[string]string{}}
	if f.Match != "any" {
		f.Match = "all"
	}
	if f.Mode != "json" {
		f.Mode = "rows"
	}
	for i := 0; i < segMaxRows; i++ {
		p := fmt.Sprintf("c%d.", i)
		if _, ok := v[p+"kind"]; !ok {
			break
		}
		f.Rows = append(f.Rows, segRow{Kind: get(p + "kind"), Key: get(p + "key"), Field: get(p + "field"), Op: get(p + "op"),
			Value: get(p + "value"), Type: get(p + "type"), Measure: get(p + "measure"), Days: get(p + "days"),
			From: get(p + "from"), To: get(p + "to"), Not: get(p+"not") != ""})
	}
	action := get("action")
	switch {
	case action == "add" && len(f.Rows) < segMaxRows:
		f.Rows = append(f.Rows, segRow{Kind: "tag"})
	case strings.HasPrefix(action, "remove-"):
		if i, err := strconv.Atoi(strings.TrimPrefix(action, "remove-")); err == nil && i >= 0 && i < len(f.Rows) {
			f.Rows = append(f.Rows[:i], f.Rows[i+1:]...)
		}
	case action == "json" && f.Mode == "rows":
		if r, err := f.rule(); err == nil {
			b, _ := json.MarshalIndent(r, "", "  ")
			f.JSON = string(b)
		}
		f.Mode = "json"
	}
	if f.Mode == "rows" && len(f.Rows) == 0 {
		f.Rows = []segRow{{Kind: "tag"}}
	}
	return f, action
}

// rule builds the rule the form describes; errors name the row.
func (f *segForm) rule() (core.Rule, error) {
	if f.Mode == "json" {
		r, err := core.ParseRule([]byte(f.JSON))
		if err != nil {
			return r, &core.FieldError{Kind: core.ErrInvalid, Field: "rule_json", Message: core.ErrorField(err) + ": " + fieldMessage(err)}
		}
		return r, nil
	}
	var list []core.Rule
	for i, row := range f.Rows {
		r, err := row.rule()
		if err != nil {
			return core.Rule{}, &core.FieldError{Kind: core.ErrInvalid, Field: fmt.Sprintf("c%d", i), Message: err.Error()}
		}
		if row.Not {
			inner := r
			r = core.Rule{Not: &inner}
		}
		list = append(list, r)
	}
	var r core.Rule
	switch {
	case len(list) == 1:
		r = list[0]
	case f.Match == "any":
		r = core.Rule{Any: list}
	default:
		r = core.Rule{All: list}
	}
	if err := r.Validate("rule"); err != nil {
		return r, rowError(err, len(list))
	}
	return r, nil
}

var segPathRow = regexp.MustCompile(`^rule\.(?:all|any)\[(\d+)\]`)

// rowError turns "rule.all[2].event.op: …" into an error on row c2.
func rowError(err error, rows int) error {
	field := core.ErrorField(err)
	row := "c0"
	if m := segPathRow.FindStringSubmatch(field); m != nil {
		row = "c" + m[1]
	} else if rows > 1 {
		row = ""
	}
	return &core.FieldError{Kind: core.ErrInvalid, Field: row, Message: fieldMessage(err)}
}

func (row segRow) num(what string) (float64, error) {
	n, err := strconv.ParseFloat(strings.ReplaceAll(row.Value, ",", "."), 64)
	if err != nil {
		return 0, fmt.Errorf("%s must be a number", what)
	}
	return n, nil
}

func (row segRow) days() (int, error) {
	if row.Days == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(row.Days)
	if err != nil || n < 0 {
		return 0, errors.New("days must be a whole number")
	}
	return n, nil
}

func (row segRow) rule() (core.Rule, error) {
	switch row.Kind {
	case "tag":
		t := strings.ToLower(row.Value)
		return core.Rule{Tag: &t}, nil
	case "consent":
		ch := core.Channel(row.Value)
		return core.Rule{Consent: &ch}, nil
	case "attribute":
		a := &core.AttrCond{Key: row.Key, Op: row.Op}
		switch {
		case row.Op == core.OpExists:
		case row.Op == "gt" || row.Op == "gte" || row.Op == "lt" || row.Op == "lte":
			n, err := row.num("the value")
			if err != nil {
				return core.Rule{}, err
			}
			a.Value = n
		case row.Value == "true" || row.Value == "false":
			a.Value = row.Value == "true"
		default:
			// A value that reads as a number compares as one: imports
			// store numeric cells as numbers.
			if n, err := strconv.ParseFloat(row.Value, 64); err == nil && row.Op != core.OpContains {
				a.Value = n
			} else {
				a.Value = row.Value
			}
		}
		return core.Rule{Attribute: a}, nil
	case "field":
		d, err := row.days()
		if err != nil {
			return core.Rule{}, err
		}
		return core.Rule{Field: &core.FieldCond{Name: row.Field, Op: row.Op, Value: row.Value, Days: d}}, nil
	case "event":
		d, err := row.days()
		if err != nil {
			return core.Rule{}, err
		}
		n, err := row.num("the number")
		if err != nil {
			return core.Rule{}, err
		}
		return core.Rule{Event: &core.EventCond{Type: core.InteractionType(row.Type), WithinDays: d, Measure: row.Measure, Op: row.Op, Value: n}}, nil
	case "rfm":
		return core.Rule{RFM: &core.RFMCond{Segment: row.Value}}, nil
	case "p_alive", "clv":
		n, err := row.num("the value")
		if err != nil {
			return core.Rule{}, err
		}
		if row.Kind == "p_alive" {
			n /= 100 // the form asks for a percentage
			return core.Rule{PAlive: &core.NumCond{Op: row.Op, Value: n}}, nil
		}
		return core.Rule{CLV: &core.NumCond{Op: row.Op, Value: n}}, nil
	case "first_purchase":
		return core.Rule{FirstPurchase: &core.DateRange{From: row.From, To: row.To}}, nil
	}
	return core.Rule{}, errors.New("choose what to test")
}

// formOf turns a saved rule into editor rows, or JSON when it nests.
func formOf(sg core.Segment) segForm {
	f := segForm{ID: sg.ID, Name: sg.Name, Description: sg.Description, Match: "all", Mode: "rows", Fields: map[string]string{}}
	list := []core.Rule{sg.Rule}
	switch {
	case sg.Rule.All != nil:
		list = sg.Rule.All
	case sg.Rule.Any != nil:
		list, f.Match = sg.Rule.Any, "any"
	}
	for _, r := range list {
		row, ok := segRowOf(r)
		if !ok {
			b, _ := json.MarshalIndent(sg.Rule, "", "  ")
			f.Mode, f.JSON, f.Rows = "json", string(b), nil
			return f
		}
		f.Rows = append(f.Rows, row)
	}
	return f
}

func segRowOf(r core.Rule) (segRow, bool) {
	var row segRow
	if r.Not != nil {
		row, ok := segRowOf(*r.Not)
		if !ok || row.Not {
			return row, false
		}
		row.Not = true
		return row, true
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	switch {
	case r.Tag != nil:
		row = segRow{Kind: "tag", Value: *r.Tag}
	case r.Consent != nil:
		row = segRow{Kind: "consent", Value: string(*r.Consent)}
	case r.Attribute != nil:
		row = segRow{Kind: "attribute", Key: r.Attribute.Key, Op: r.Attribute.Op}
		switch v := r.Attribute.Value.(type) {
		case string:
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				return row, false // would come back as a number
			}
			row.Value = v
		case float64:
			row.Value = num(v)
		case bool:
			row.Value = strconv.FormatBool(v)
		}
	case r.Field != nil:
		row = segRow{Kind: "field", Field: r.Field.Name, Op: r.Field.Op, Value: r.Field.Value}
		if r.Field.Days != 0 {
			row.Days = strconv.Itoa(r.Field.Days)
		}
	case r.Event != nil:
		row = segRow{Kind: "event", Type: string(r.Event.Type), Measure: r.Event.Measure, Op: r.Event.Op, Value: num(r.Event.Value)}
		if r.Event.WithinDays != 0 {
			row.Days = strconv.Itoa(r.Event.WithinDays)
		}
	case r.RFM != nil:
		if r.RFM.R != 0 || r.RFM.F != 0 || r.RFM.M != 0 {
			return row, false
		}
		row = segRow{Kind: "rfm", Value: r.RFM.Segment}
	case r.PAlive != nil:
		row = segRow{Kind: "p_alive", Op: r.PAlive.Op, Value: num(r.PAlive.Value * 100)}
	case r.CLV != nil:
		row = segRow{Kind: "clv", Op: r.CLV.Op, Value: num(r.CLV.Value)}
	case r.FirstPurchase != nil:
		row = segRow{Kind: "first_purchase", From: r.FirstPurchase.From, To: r.FirstPurchase.To}
	default:
		return row, false
	}
	return row, true
}

// blank: a row the user has not filled in yet (just added).
func (row segRow) blank() bool {
	return row.Value == "" && row.Key == "" && row.Days == "" && row.From == "" && row.To == ""
}

// preview computes the live count for the form, or says what is wrong.
// Rows not filled in yet are left out of the count rather than flagged.
func (s *Server) preview(c *echo.Context, f *segForm) {
	g := *f
	g.Rows = nil
	var idx []int
	for i, row := range f.Rows {
		if !row.blank() || f.Mode == "json" {
			g.Rows = append(g.Rows, row)
			idx = append(idx, i)
		}
	}
	if len(g.Rows) == 0 && g.Mode == "rows" {
		return
	}
	r, err := g.rule()
	if err != nil {
		if fld := core.ErrorField(err); strings.HasPrefix(fld, "c") {
			if i, e := strconv.Atoi(fld[1:]); e == nil && i < len(idx) {
				err = &core.FieldError{Kind: core.ErrInvalid, Field: "c" + strconv.Itoa(idx[i]), Message: fieldMessage(err)}
			}
		}
		f.markError(err)
		return
	}
	if s.segs == nil {
		f.Preview = &segPreview{Err: "Counting is not available on this server."}
		return
	}
	pv, err := s.segs.Preview(ctx(c), r, 5)
	if err != nil {
		f.Preview = &segPreview{Err: fieldMessage(err)}
		return
	}
	sample, _ := s.memberViews(c, pv.Sample)
	f.Preview = &segPreview{Count: pv.Count, Total: pv.Total, Partial: pv.Partial, Sample: sample,
		TookMS: strconv.FormatFloat(float64(pv.Took.Microseconds())/1000, 'f', 0, 64)}
}

func (f *segForm) markError(err error) {
	fld := core.ErrorField(err)
	if strings.HasPrefix(fld, "c") {
		if i, e := strconv.Atoi(fld[1:]); e == nil && i < len(f.Rows) {
			f.Rows[i].Err = fieldMessage(err)
			return
		}
	}
	if fld == "name" || fld == "description" || fld == "rule_json" {
		f.Fields[fld] = fieldMessage(err)
		return
	}
	f.Error = fieldMessage(err)
}

// GET /segments
func (s *Server) uiSegments(c *echo.Context) error {
	if s.segs == nil {
		return errNoSegments
	}
	segs, err := s.segs.List(ctx(c))
	if err != nil {
		return err
	}
	views := make([]segmentView, 0, len(segs))
	for _, sg := range segs {
		views = append(views, s.segmentView(sg))
	}
	p := Page{Title: "Segments", Nav: "segments", Data: views}
	if c.QueryParam("deleted") == "1" {
		p.Flash = "The segment was deleted."
	}
	return s.render(c, http.StatusOK, "segments", p)
}

// GET /segments/new
func (s *Server) uiSegmentNew(c *echo.Context) error {
	f := segForm{Match: "all", Mode: "rows", Rows: []segRow{{Kind: "tag"}}, Fields: map[string]string{}}
	return s.render(c, http.StatusOK, "segment_edit", Page{Title: "New segment", Nav: "segments", Data: s.segEditor(f)})
}

// GET /segments/builder: the editor's rows (structural change) or only the
// live count (part=count), for htmx. It changes nothing, so it is a GET.
func (s *Server) uiSegmentBuilder(c *echo.Context) error {
	f, _ := readSegForm(c)
	if id, err := core.ParseID(c.QueryParam("id")); err == nil {
		f.ID = id
	}
	s.preview(c, &f)
	block := "seg-builder"
	if c.QueryParam("part") == "count" {
		block = "seg-count"
	}
	return s.fragment(c, http.StatusOK, "segment_edit", block, Page{Title: "Segment", Nav: "segments", Data: s.segEditor(f)})
}

// POST /segments and POST /segments/:id: save, or (add/remove/recount
// buttons without JavaScript) show the editor again with the change.
func (s *Server) uiSegmentSave(c *echo.Context) error {
	if s.segs == nil {
		return errNoSegments
	}
	f, action := readSegForm(c)
	if idParam := c.Param("id"); idParam != "" {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		f.ID = id
	}
	title := "New segment"
	if f.ID != 0 {
		title = "Edit segment"
	}
	status := http.StatusOK
	if action == "save" || action == "" {
		r, err := f.rule()
		if err == nil {
			var sg core.Segment
			if f.ID == 0 {
				sg, err = s.segs.Create(ctx(c), core.Segment{Name: f.Name, Description: f.Description, Rule: r, CreatedBy: who(c)})
			} else {
				sg, err = s.segs.Update(ctx(c), f.ID, f.Name, f.Description, r)
			}
			if err == nil {
				auditDetail(c, "segment "+sg.ID.String()+" “"+truncate(sg.Name, 100)+"” saved")
				return seeOther(c, "/segments/"+sg.ID.String())
			}
		}
		switch {
		case errors.Is(err, core.ErrInvalid):
			status = http.StatusUnprocessableEntity
		case errors.Is(err, core.ErrConflict):
			status = http.StatusConflict
		default:
			return err
		}
		f.markError(err)
	} else {
		s.preview(c, &f)
	}
	return s.render(c, status, "segment_edit", Page{Title: title, Nav: "segments", Data: s.segEditor(f)})
}

// GET /segments/:id/edit
func (s *Server) uiSegmentEdit(c *echo.Context) error {
	sg, err := s.uiLoadSegment(c)
	if err != nil {
		return err
	}
	f := formOf(sg)
	s.preview(c, &f)
	return s.render(c, http.StatusOK, "segment_edit", Page{Title: "Edit segment", Nav: "segments", Data: s.segEditor(f)})
}

func (s *Server) uiLoadSegment(c *echo.Context) (core.Segment, error) {
	id, err := s.segmentID(c)
	if err != nil {
		return core.Segment{}, err
	}
	return s.segs.Get(ctx(c), id)
}

// segPageData is pages/segment.html's data.
type segPageData struct {
	Seg      segmentView
	RuleText string
	Members  []memberView
	NextURL  string
	AtStart  bool
	Confirm  bool // the delete confirmation
	// ProgressPct is the running evaluation's progress in percent.
	ProgressPct int
}

// GET /segments/:id?cursor=
func (s *Server) uiSegment(c *echo.Context) error {
	sg, err := s.uiLoadSegment(c)
	if err != nil {
		return err
	}
	d := segPageData{Seg: s.segmentView(sg), AtStart: c.QueryParam("cursor") == ""}
	d.ProgressPct = int(d.Seg.Progress * 100)
	b, _ := json.MarshalIndent(sg.Rule, "", "  ")
	d.RuleText = string(b)
	page, err := s.segs.Members(ctx(c), sg.ID, c.QueryParam("cursor"), 25)
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			return core.FieldErr("cursor", "this page link is not valid; start again from the first page")
		}
		return err
	}
	if d.Members, err = s.memberViews(c, page.Items); err != nil {
		return err
	}
	if page.Next != "" {
		d.NextURL = "/segments/" + sg.ID.String() + "?" + url.Values{"cursor": {page.Next}}.Encode()
	}
	block := ""
	if wantsFragment(c) && c.QueryParam("cursor") != "" {
		block = "seg-members"
	}
	p := Page{Title: safeText(sg.Name), Nav: "segments", Data: d}
	if block != "" {
		return s.fragment(c, http.StatusOK, "segment", block, p)
	}
	return s.render(c, http.StatusOK, "segment", p)
}

// GET /segments/:id/delete: the confirmation page (works without JS).
func (s *Server) uiSegmentDeleteConfirm(c *echo.Context) error {
	sg, err := s.uiLoadSegment(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "segment", Page{Title: "Delete " + safeText(sg.Name), Nav: "segments",
		Data: segPageData{Seg: s.segmentView(sg), Confirm: true}})
}

// POST /segments/:id/delete
func (s *Server) uiSegmentDelete(c *echo.Context) error {
	sg, err := s.uiLoadSegment(c)
	if err != nil {
		return err
	}
	if err := s.segs.Delete(ctx(c), sg.ID); err != nil {
		return err
	}
	auditDetail(c, "segment "+sg.ID.String()+" “"+truncate(sg.Name, 100)+"” deleted")
	return seeOther(c, "/segments?deleted=1")
}

// custSeg is the segment chosen on the customer list: its id and a
// membership test (the maintainer's live set).
type custSeg struct {
	id     core.ID
	filter func(core.ID) bool
}

// custSegmentFilter fills the segment choices of the customer list. With a
// segment and no other filter it answers the list itself (done): the
// members in ID order with the segment's count. With other filters it
// returns the segment for listCustomersUI to combine: a text search keeps
// the hits that are members (searchSegment), a tag or last-seen filter
// walks the members (scanSegment).
func (s *Server) custSegmentFilter(c *echo.Context, d *custListData, segment, cursor string) (seg *custSeg, done bool, err error) {
	if s.segs == nil {
		return nil, false, nil
	}
	segs, err := s.segs.List(ctx(c))
	if err != nil {
		return nil, false, err
	}
	d.SegmentsOn = true
	for _, sg := range segs {
		d.SegmentOptions = append(d.SegmentOptions, custOption{sg.ID.String(), safeText(sg.Name)})
	}
	if segment == "" {
		return nil, false, nil
	}
	d.Segment = segment
	id, err := core.ParseID(segment)
	if err != nil {
		return nil, false, core.FieldErr("segment", "choose one of the saved segments")
	}
	if d.Q != "" || d.Tag != "" || d.Seen != "" || d.Before != "" || d.Sort != "" {
		filter, err := s.segs.Filter(id)
		if errors.Is(err, core.ErrNotFound) {
			return nil, false, core.FieldErr("segment", "this segment no longer exists")
		}
		if err != nil {
			return nil, false, err
		}
		return &custSeg{id: id, filter: filter}, false, nil
	}
	page, err := s.segs.Members(ctx(c), id, cursor, custPageSize)
	if errors.Is(err, core.ErrNotFound) {
		return nil, false, core.FieldErr("segment", "this segment no longer exists")
	}
	if err != nil {
		return nil, false, withField(err, "cursor")
	}
	found, err := s.store.GetCustomers(ctx(c), page.Items)
	if err != nil {
		return nil, false, err
	}
	for i := range found {
		d.Rows = append(d.Rows, rowOf(&found[i]))
	}
	if page.Next != "" {
		d.NextURL = d.pageURL(page.Next)
	}
	if sg, err := s.segs.Get(ctx(c), id); err == nil && !sg.ComputedAt.IsZero() {
		d.Total, d.ShowTotal = sg.Count, true
	}
	return nil, true, nil
}

// scanSegment lists a segment's members with a tag or last-seen filter:
// it walks the members by cursor (ID order) and keeps those that pass,
// reading at most custScanLimit members a request; Next continues.
func (s *Server) scanSegment(c *echo.Context, d *custListData, seg *custSeg, tag, cursor string, from, to time.Time) error {
	for len(d.Rows) < custPageSize && d.Scanned < custScanLimit {
		page, err := s.segs.Members(ctx(c), seg.id, cursor, custScanPage)
		if errors.Is(err, core.ErrNotFound) {
			return core.FieldErr("segment", "this segment no longer exists")
		}
		if err != nil {
			return withField(err, "cursor")
		}
		found, err := s.store.GetCustomers(ctx(c), page.Items)
		if err != nil {
			return err
		}
		slices.SortFunc(found, func(a, b core.Customer) int { return cmp.Compare(a.ID, b.ID) })
		d.Scanned += len(page.Items)
		for i := range found {
			cu := &found[i]
			if tag != "" && !slices.Contains(cu.Tags, tag) {
				continue
			}
			if d.Scanning {
				ls := cu.LastSeen
				if ls.IsZero() || (!from.IsZero() && ls.Before(from)) || (!to.IsZero() && !ls.Before(to)) {
					continue
				}
			}
			d.Rows = append(d.Rows, rowOf(cu))
		}
		cursor = page.Next
		if cursor == "" {
			break
		}
	}
	if cursor != "" {
		d.NextURL = d.pageURL(cursor)
	}
	return nil
}

// searchSegment runs a text search and keeps the hits that are members of
// the segment, reading search pages from sq.Offset until a list page is
// full or custScanLimit hits were looked at. next is the offset the next
// page starts from (-1: no more). The total is not known.
func (s *Server) searchSegment(c *echo.Context, sq core.SearchQuery, member func(core.ID) bool) (res core.SearchResults, next int, err error) {
	next = -1
	off, looked := sq.Offset, 0
	for looked < custScanLimit && off < custMaxOffset-custPageSize {
		sq.Offset, sq.Limit = off, min(100, custMaxOffset-custPageSize-off)
		page, err := s.svc.Search(ctx(c), sq)
		if err != nil {
			return res, -1, err
		}
		for i, h := range page.Hits {
			if h.Kind != core.KindCustomer || !member(h.ID) {
				continue
			}
			res.Hits = append(res.Hits, h)
			if len(res.Hits) == custPageSize {
				// Total is only a lower bound on the index's cheap path
				// for short prefixes: more hits on this page, or a full
				// page, mean there may be more.
				more := i+1 < len(page.Hits) || len(page.Hits) == sq.Limit
				if more && off+i+1 < custMaxOffset-custPageSize {
					next = off + i + 1
				}
				return res, next, nil
			}
		}
		looked += len(page.Hits)
		off += len(page.Hits)
		if len(page.Hits) < sq.Limit {
			return res, -1, nil
		}
	}
	if off < custMaxOffset-custPageSize {
		next = off
	}
	return res, next, nil
}
