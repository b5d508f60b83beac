package web

import (
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// GET /search?q=&scope=&type=&tag=&from=&to=&customer_id=&limit=&offset=
//
// Fragments come back as HTML: the stored text is HTML-escaped first, then
// the index's highlight marks become <mark>…</mark>, so a client may insert
// a fragment as HTML without trusting stored text. Title and subtitle are
// plain text.
func (s *Server) search(c *echo.Context) error {
	q := core.SearchQuery{Text: c.QueryParam("q"), Scope: core.SearchScope(c.QueryParam("scope"))}
	var err error
	if q.Limit, err = queryInt(c, "limit"); err != nil {
		return err
	}
	if q.Offset, err = queryInt(c, "offset"); err != nil {
		return err
	}
	params := c.QueryParams()
	for _, t := range params["type"] {
		if t != "" {
			q.Types = append(q.Types, core.InteractionType(strings.ToLower(t)))
		}
	}
	for _, t := range params["tag"] {
		if t == "" {
			continue
		}
		n, err := core.NormalizeTag(t)
		if err != nil {
			return core.FieldErr("tag", "%v", err)
		}
		q.Tags = append(q.Tags, n)
	}
	if q.From, err = queryTime(c, "from", false); err != nil {
		return err
	}
	if q.To, err = queryTime(c, "to", true); err != nil {
		return err
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return core.FieldErr("to", "is before from")
	}
	if v := c.QueryParam("customer_id"); v != "" {
		if q.CustomerID, err = core.ParseID(v); err != nil {
			return core.FieldErr("customer_id", "%q is not a valid id", v)
		}
	}
	res, err := s.svc.Search(ctx(c), q)
	if err != nil {
		return err
	}
	if res.Hits == nil {
		res.Hits = []core.SearchHit{}
	}
	for i := range res.Hits {
		for f, frags := range res.Hits[i].Fragments {
			out := make([]string, len(frags))
			for j, fr := range frags {
				out[j] = HighlightHTML(fr)
			}
			res.Hits[i].Fragments[f] = out
		}
	}
	return c.JSON(http.StatusOK, res)
}

// queryTime reads an RFC 3339 time or a YYYY-MM-DD date (UTC). A date as
// the upper bound means the end of that day (the next midnight).
func queryTime(c *echo.Context, name string, upper bool) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, core.FieldErr(name, "%q is not a date (2025-01-31) or RFC 3339 time", v)
	}
	if upper {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// HighlightHTML HTML-escapes a fragment and turns core's highlight marks
// into <mark> tags. Stray or nested marks in stored text cannot unbalance
// the output: a start inside a mark and an end outside one are dropped,
// and an open mark is closed at the end.
func HighlightHTML(fragment string) string {
	esc := html.EscapeString(fragment)
	var b strings.Builder
	b.Grow(len(esc) + 16)
	open := false
	for len(esc) > 0 {
		i := strings.IndexAny(esc, core.HighlightStart+core.HighlightEnd)
		if i < 0 {
			b.WriteString(esc)
			break
		}
		b.WriteString(esc[:i])
		if strings.HasPrefix(esc[i:], core.HighlightStart) {
			if !open {
				b.WriteString("<mark>")
				open = true
			}
			esc = esc[i+len(core.HighlightStart):]
		} else {
			if open {
				b.WriteString("</mark>")
				open = false
			}
			esc = esc[i+len(core.HighlightEnd):]
		}
	}
	if open {
		b.WriteString("</mark>")
	}
	return b.String()
}
