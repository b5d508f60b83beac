package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// A customer's timeline on the customer page: newest first, paged by the
// store's cursor (infinite scroll with htmx, "Older" links without), a
// type filter, and search within this customer's history through the
// index (then by best match, paged by offset like the customer search).

const timelinePageSize = 30

// timelineQuery is what the timeline was asked for.
type timelineQuery struct {
	Type   string
	Q      string
	Cursor string
}

// timelineData is one page of the timeline.
type timelineData struct {
	CustomerID core.ID
	Type       string
	Q          string
	Entries    []timelineEntry
	NextURL    string // the whole customer page at the next cursor (no JS)
	MoreURL    string // the next page as a fragment (htmx)
	First      bool   // the first page (shows "nothing yet" when empty)
	Types      []core.InteractionType
	Searching  bool
	Total      int
}

// timelineEntry is an interaction with, when searched, the highlighted
// snippets (marks inside, shown with marked).
type timelineEntry struct {
	core.Interaction
	TypeLabel string
	Snippets  []string
	Props     []attrRow
	Lines     []lineRow
}

// lineRow is a line item with its total worked out (templates cannot multiply).
type lineRow struct {
	Name, SKU string
	Quantity  int64
	UnitPrice int64
	Total     int64
	Currency  string
}

var identRe = func(s string) bool {
	if s == "" || len(s) > core.MaxTypeLen {
		return false
	}
	for _, r := range s {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

func parseTimelineQuery(c *echo.Context) (timelineQuery, error) {
	q := timelineQuery{Type: c.QueryParam("type"), Q: strings.ToValidUTF8(strings.TrimSpace(c.QueryParam("q")), "\uFFFD"), Cursor: c.QueryParam("cursor")}
	if q.Type != "" && !identRe(q.Type) {
		return q, core.FieldErr("type", "not an interaction type")
	}
	if len(q.Q) > 500 {
		return q, core.FieldErr("q", "at most 500 bytes")
	}
	return q, nil
}

func (s *Server) loadTimeline(c *echo.Context, id core.ID, q timelineQuery) (timelineData, error) {
	d := timelineData{CustomerID: id, Type: q.Type, Q: q.Q, First: q.Cursor == "", Types: core.KnownTypes, Searching: q.Q != ""}
	if q.Type != "" && !slices.Contains(core.KnownTypes, core.InteractionType(q.Type)) {
		d.Types = append(slices.Clone(core.KnownTypes), core.InteractionType(q.Type)) // a custom type stays selectable
	}
	var types []core.InteractionType
	if q.Type != "" {
		types = []core.InteractionType{core.InteractionType(q.Type)}
	}
	next := ""
	if q.Q == "" {
		page, err := s.store.Timeline(ctx(c), id, core.TimelineQuery{Types: types, Cursor: q.Cursor, Limit: timelinePageSize})
		if err != nil {
			return d, withField(err, "cursor")
		}
		for _, in := range page.Items {
			d.Entries = append(d.Entries, entryOf(in, nil))
		}
		next = page.Next
	} else {
		offset := 0
		if q.Cursor != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(q.Cursor, "o"))
			if !strings.HasPrefix(q.Cursor, "o") || err != nil || n < 0 || n > custMaxOffset-timelinePageSize {
				return d, core.FieldErr("cursor", "this page link is not valid; start again from the first page")
			}
			offset = n
		}
		res, err := s.svc.Search(ctx(c), core.SearchQuery{Text: q.Q, Scope: core.ScopeInteractions, CustomerID: id, Types: types,
			Limit: timelinePageSize, Offset: offset})
		if err != nil {
			return d, err
		}
		d.Total = res.Total
		ids := make([]core.ID, 0, len(res.Hits))
		for _, h := range res.Hits {
			ids = append(ids, h.ID)
		}
		found, err := s.store.GetInteractions(ctx(c), ids)
		if err != nil {
			return d, err
		}
		byID := make(map[core.ID]core.Interaction, len(found))
		for _, in := range found {
			byID[in.ID] = in
		}
		for _, h := range res.Hits {
			in, ok := byID[h.ID]
			if !ok || in.CustomerID != id {
				continue
			}
			var snips []string
			for _, f := range []string{"text", "extra"} {
				for _, fr := range h.Fragments[f] {
					snips = append(snips, safeText(fr))
				}
			}
			d.Entries = append(d.Entries, entryOf(in, snips))
		}
		if len(res.Hits) == timelinePageSize && offset+timelinePageSize < min(res.Total, custMaxOffset) {
			next = "o" + strconv.Itoa(offset+timelinePageSize)
		}
	}
	if next != "" {
		v := url.Values{"cursor": {next}}
		if q.Type != "" {
			v.Set("type", q.Type)
		}
		if q.Q != "" {
			v.Set("q", q.Q)
		}
		d.NextURL = "/customers/" + id.String() + "?" + v.Encode() + "#timeline"
		d.MoreURL = "/customers/" + id.String() + "/timeline?" + v.Encode()
	}
	return d, nil
}

func entryOf(in core.Interaction, snippets []string) timelineEntry {
	e := timelineEntry{Interaction: in, Snippets: snippets, TypeLabel: typeLabel(in.Type)}
	for _, it := range in.Items {
		e.Lines = append(e.Lines, lineRow{Name: it.Name, SKU: it.SKU, Quantity: it.Quantity, UnitPrice: it.UnitPrice,
			Total: it.Quantity * it.UnitPrice, Currency: in.Currency})
	}
	for k, v := range in.Properties {
		e.Props = append(e.Props, attrRow{Key: k, Value: v})
	}
	slices.SortFunc(e.Props, func(a, b attrRow) int { return strings.Compare(a.Key, b.Key) })
	return e
}

// typeLabel is an interaction type as a heading: "ticket_opened" → "Ticket opened".
func typeLabel(t core.InteractionType) string {
	s := strings.ReplaceAll(string(t), "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// GET /customers/:id/timeline?cursor=&type=&q= — a page of entries for
// htmx (infinite scroll, filter, search); without htmx, the customer page.
func (s *Server) uiTimeline(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if !wantsFragment(c) {
		return c.Redirect(http.StatusSeeOther, "/customers/"+id.String()+"?"+c.QueryParams().Encode()+"#timeline")
	}
	if _, err := s.svc.GetCustomer(ctx(c), id); err != nil {
		return err
	}
	q, err := parseTimelineQuery(c)
	if err != nil {
		return err
	}
	d, err := s.loadTimeline(c, id, q)
	if err != nil {
		return err
	}
	block := "cust-timeline-frag" // the whole list: a new filter or search
	if q.Cursor != "" {
		block = "cust-timeline-more-frag" // more entries after the last one
	}
	return s.fragment(c, http.StatusOK, "customer", block, Page{Data: d})
}

// noteForm is the "add a note or log a call" form.
type noteForm struct {
	CustomerID core.ID
	CSRF       string
	Type       string // note or call
	Text       string
	Key        string // idempotency key: a double submit stores one note
	Error      string
	Added      *timelineEntry // set after a save, for the htmx answer
}

func (s *Server) newNoteForm(c *echo.Context, id core.ID) noteForm {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return noteForm{CustomerID: id, CSRF: csrfOf(c), Type: "note", Key: "ui-" + hex.EncodeToString(b[:])}
}

// POST /customers/:id/interactions adds a note or a call.
func (s *Server) uiAddInteraction(c *echo.Context) error {
	cu, err := s.pathCustomer(c)
	if err != nil {
		return err
	}
	id := cu.ID
	f := s.newNoteForm(c, id)
	f.Type, f.Text = c.FormValue("type"), c.FormValue("text")
	key := c.FormValue("key")
	fail := func(msg string) error {
		f.Error = msg
		if wantsFragment(c) {
			return s.fragment(c, http.StatusUnprocessableEntity, "customer", "cust-note-frag", Page{Data: f})
		}
		return s.render(c, http.StatusUnprocessableEntity, "customer_note", Page{Title: "Add a note", Nav: "customers", Data: f})
	}
	if f.Type != "note" && f.Type != "call" {
		return fail("Choose a note or a call.")
	}
	if strings.TrimSpace(f.Text) == "" {
		return fail("Write something first.")
	}
	if len(key) > 100 || !strings.HasPrefix(key, "ui-") {
		key = f.Key
	}
	in := core.Interaction{CustomerID: id, Type: core.InteractionType(f.Type), Text: strings.TrimSpace(f.Text),
		IdempotencyKey: key, Properties: map[string]string{"by": sourceOf(c)}}
	if f.Type == "call" {
		in.Channel = "phone"
	}
	res, err := s.svc.AppendInteractions(ctx(c), []core.Interaction{in})
	if err != nil {
		if core.ErrorField(err) != "" {
			return fail(fieldMessage(err))
		}
		return err
	}
	auditDetail(c, f.Type+" added in the web UI")
	if !wantsFragment(c) {
		return seeOther(c, "/customers/"+id.String()+"#timeline")
	}
	stored, err := s.store.GetInteraction(ctx(c), res[0].ID)
	if err != nil {
		return err
	}
	e := entryOf(stored, nil)
	fresh := s.newNoteForm(c, id)
	fresh.Type = f.Type
	if !res[0].Duplicate {
		fresh.Added = &e
	}
	return s.fragment(c, http.StatusOK, "customer", "cust-note-frag", Page{Data: fresh})
}
