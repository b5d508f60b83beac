package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// The customer list (/customers): search as you type, filters, sorting and
// paging by cursor. Each request does bounded work on a million customers:
//
//   - with text typed, the search index answers (customers only, ranked by
//     best match, the tag and last-seen filters applied inside the index,
//     which the text has already narrowed). Its "cursor" is an offset,
//     bounded at core's 10,000: ranked results have no key to seek from,
//     and nobody pages 400 screens deep — typing more narrows instead;
//   - without text, the store's listing in ID order (the order customers
//     were added), through the tag index when a tag is given, with the
//     store's own cursor. A last-seen filter is applied while reading, at
//     most custScanLimit customers per request; a page may then hold fewer
//     rows and say how far it looked, and Next continues the scan. The
//     index could filter by last seen too, but without text it sorts every
//     match (measured ~190 ms at 100,000 customers, linear beyond), and
//     ordering the whole book by last seen needs a last-seen index in the
//     store, which does not exist yet; so no such sort is offered.

const (
	custPageSize  = 25
	custScanLimit = 2000 // customers read per request when filtering by last seen without text
	custScanPage  = 250
	custMaxOffset = 10000 // core.Service.Search refuses deeper offsets
	custMaxDays   = 36500
)

// custListData is the data of pages/customers.html.
type custListData struct {
	Q, Tag, Sort, Seen, Before string
	Search                     bool // answered by the search index
	Scanned                    int  // customers read for a last-seen filter without text
	Scanning                   bool // a last-seen filter without text: rows are found by reading
	Rows                       []custRow
	NextURL                    string
	FirstURL                   string
	Total                      int  // matches (search) or all customers (plain listing)
	ShowTotal                  bool // Total means something for this query
	AtStart                    bool // first page
	Fields                     map[string]string
	Erased                     bool
	Fragment                   bool // only the results are sent: filter errors are shown there
	Sorts                      []custOption
	SeenOptions                []custOption
	Segment                    string       // a segment id: only its members (ui_segments.go)
	SegmentOptions             []custOption // the saved segments; empty when none or unavailable
	SegmentsOn                 bool         // this server keeps segments
}

// custRow is one customer in the list. Name, Email, Phone and ExternalID
// may carry search highlight marks; the template shows them with marked,
// which escapes everything else.
type custRow struct {
	ID         core.ID
	Name       string
	Email      string
	Phone      string
	ExternalID string
	Tags       []string
	LastSeen   time.Time
}

// custOption is one <option> of a select.
type custOption struct{ Value, Label string }

var custSorts = []custOption{{"", "Best match, else date added"}, {"added", "Date added, oldest first"}}
var custSeenOptions = []custOption{{"", "Any time"}, {"7", "Last 7 days"}, {"30", "Last 30 days"}, {"90", "Last 90 days"}, {"365", "Last year"}}

// GET /customers?q=&tag=&sort=&seen=&before=&cursor=
func (s *Server) uiCustomers(c *echo.Context) error {
	d := custListData{Fields: map[string]string{}, Sorts: custSorts, SeenOptions: custSeenOptions,
		Erased: c.QueryParam("erased") == "1"}
	status := http.StatusOK
	if err := s.listCustomersUI(c, &d); err != nil {
		if !errors.Is(err, core.ErrInvalid) {
			return err
		}
		// A bad filter is shown next to that filter, with the form kept.
		status = http.StatusBadRequest
		f := core.ErrorField(err)
		if f == "" || f == "limit" || f == "offset" {
			f = "cursor"
		}
		d.Fields[f] = fieldMessage(err)
		d.Rows, d.NextURL = nil, ""
	}
	p := Page{Title: "Customers", Nav: "customers", Data: d}
	if d.Erased {
		p.Flash = "The customer and their whole history were erased."
	}
	if wantsFragment(c) {
		d.Fragment = true
		p.Data = d
		return s.fragment(c, status, "customers", "cust-results-frag", p)
	}
	return s.render(c, status, "customers", p)
}

// wantsFragment: an htmx request for a part of the page. A history restore
// (back button) gets the whole page.
func wantsFragment(c *echo.Context) bool {
	return isHTMX(c) && c.Request().Header.Get("HX-History-Restore-Request") == ""
}

func (s *Server) listCustomersUI(c *echo.Context, d *custListData) error {
	q := c.QueryParams()
	d.Q = strings.ToValidUTF8(strings.TrimSpace(q.Get("q")), "\uFFFD")
	valid := func(k string) string { return strings.ToValidUTF8(q.Get(k), "\uFFFD") }
	d.Tag, d.Sort, d.Seen, d.Before = valid("tag"), valid("sort"), valid("seen"), valid("before")
	cursor := q.Get("cursor")
	d.AtStart = cursor == ""
	defer func() { d.FirstURL = d.pageURL("") }()
	seg, done, err := s.custSegmentFilter(c, d, valid("segment"), cursor)
	if done || err != nil {
		return err
	}
	if len(d.Q) > 500 {
		return core.FieldErr("q", "at most 500 bytes")
	}
	tag, err := core.NormalizeTag(d.Tag)
	if err != nil {
		return core.FieldErr("tag", "%v", err)
	}
	switch d.Sort {
	case "", "added":
	default:
		return core.FieldErr("sort", "choose one of the offered orders")
	}
	var from, to time.Time
	now := s.now()
	if d.Seen != "" {
		n, err := strconv.Atoi(d.Seen)
		if err != nil || n < 1 || n > custMaxDays {
			return core.FieldErr("seen", "must be a number of days between 1 and %d", custMaxDays)
		}
		from = now.AddDate(0, 0, -n)
	}
	if d.Before != "" {
		t, err := time.ParseInLocation(time.DateOnly, d.Before, s.cfg.Location())
		// The index stores times as nanoseconds since 1970 (an int64 ends
		// in 2262), so years beyond are refused here, not failed there.
		if err != nil || t.Year() < 1900 || t.Year() > 2200 {
			return core.FieldErr("before", "must be a date between 1900 and 2200, such as 2025-01-31")
		}
		to = t.UTC()
		if !from.IsZero() && !to.After(from) {
			return core.FieldErr("before", "is earlier than the start of “last seen”")
		}
	}
	if d.Q != "" && d.Sort == "added" {
		return core.FieldErr("sort", "while searching, results come by best match; clear the search to sort by date added")
	}
	d.Search = d.Q != ""
	if !d.Search {
		d.Scanning = !from.IsZero() || !to.IsZero()
		if seg != nil {
			return s.scanSegment(c, d, seg, tag, cursor, from, to) // ui_segments.go
		}
		return s.scanCustomers(c, d, tag, cursor, from, to)
	}

	offset := 0
	if cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(cursor, "o"))
		if !strings.HasPrefix(cursor, "o") || err != nil || n < 0 || n > custMaxOffset-custPageSize {
			return core.FieldErr("cursor", "this page link is not valid; start again from the first page")
		}
		offset = n
	}
	sq := core.SearchQuery{Text: d.Q, Scope: core.ScopeCustomers, From: from, To: to, Limit: custPageSize, Offset: offset}
	if tag != "" {
		sq.Tags = []string{tag}
	}
	var res core.SearchResults
	next := -1 // with a segment: where the next page's search starts
	if seg != nil {
		res, next, err = s.searchSegment(c, sq, seg.filter) // ui_segments.go
	} else {
		res, err = s.svc.Search(ctx(c), sq)
	}
	if err != nil {
		return err
	}
	d.Total, d.ShowTotal = res.Total, seg == nil
	ids := make([]core.ID, 0, len(res.Hits))
	for _, h := range res.Hits {
		if h.Kind == core.KindCustomer {
			ids = append(ids, h.ID)
		}
	}
	// The index holds what a row needs to be found; the store holds the
	// record (tags, last seen) — 25 point reads.
	found, err := s.store.GetCustomers(ctx(c), ids)
	if err != nil {
		return err
	}
	byID := make(map[core.ID]*core.Customer, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	for _, h := range res.Hits {
		cu := byID[h.ID]
		if h.Kind != core.KindCustomer || cu == nil {
			continue // erased since it was indexed
		}
		r := rowOf(cu)
		pick := func(dst *string, field string) {
			if fr := h.Fragments[field]; len(fr) > 0 {
				*dst = safeText(fr[0])
			}
		}
		pick(&r.Name, "name")
		pick(&r.Email, "email")
		pick(&r.Phone, "phone")
		pick(&r.ExternalID, "ext")
		d.Rows = append(d.Rows, r)
	}
	if next > 0 {
		d.NextURL = d.pageURL("o" + strconv.Itoa(next))
	} else if seg == nil && len(res.Hits) == custPageSize && offset+custPageSize < min(res.Total, custMaxOffset) {
		d.NextURL = d.pageURL("o" + strconv.Itoa(offset+custPageSize))
	}
	return nil
}

// scanCustomers answers the list without text from the store: a page of
// customers in ID order, or, with a last-seen window, the customers in it
// among at most custScanLimit read (whole store pages, so the next cursor
// is the store's own).
func (s *Server) scanCustomers(c *echo.Context, d *custListData, tag, cursor string, from, to time.Time) error {
	if !d.Scanning {
		page, err := s.svc.ListCustomers(ctx(c), core.CustomerQuery{Tag: tag, Cursor: cursor, Limit: custPageSize})
		if err != nil {
			return withField(err, "cursor")
		}
		for i := range page.Items {
			d.Rows = append(d.Rows, rowOf(&page.Items[i]))
		}
		if page.Next != "" {
			d.NextURL = d.pageURL(page.Next)
		}
		if tag == "" {
			var err error
			if d.Total, err = s.store.CountCustomers(ctx(c)); err != nil {
				return err
			}
			d.ShowTotal = true
		}
		return nil
	}
	for len(d.Rows) < custPageSize && d.Scanned < custScanLimit {
		page, err := s.svc.ListCustomers(ctx(c), core.CustomerQuery{Tag: tag, Cursor: cursor, Limit: custScanPage})
		if err != nil {
			return withField(err, "cursor")
		}
		d.Scanned += len(page.Items)
		for i := range page.Items {
			ls := page.Items[i].LastSeen
			if ls.IsZero() || (!from.IsZero() && ls.Before(from)) || (!to.IsZero() && !ls.Before(to)) {
				continue
			}
			d.Rows = append(d.Rows, rowOf(&page.Items[i]))
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

// withField names field in an ErrInvalid that names none (a bad cursor).
func withField(err error, field string) error {
	if errors.Is(err, core.ErrInvalid) && core.ErrorField(err) == "" {
		return &core.FieldError{Kind: core.ErrInvalid, Field: field, Message: "this page link is not valid; start again from the first page"}
	}
	return err
}

func rowOf(cu *core.Customer) custRow {
	r := custRow{ID: cu.ID, Name: safeText(cu.DisplayName()), ExternalID: safeText(cu.ExternalID), Tags: cu.Tags, LastSeen: cu.LastSeen}
	if len(cu.Emails) > 0 {
		r.Email = safeText(cu.Emails[0])
	}
	if len(cu.Phones) > 0 {
		r.Phone = safeText(cu.Phones[0])
	}
	return r
}

// pageURL is the list's URL with the same filters and another cursor.
func (d *custListData) pageURL(cursor string) string {
	v := url.Values{}
	for k, x := range map[string]string{"q": d.Q, "tag": d.Tag, "sort": d.Sort, "seen": d.Seen, "before": d.Before, "cursor": cursor, "segment": d.Segment} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return "/customers?" + v.Encode()
}
