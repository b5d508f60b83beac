package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// Segments is what the segment routes need: saved rule-based segments with
// membership kept current. core/segments.Maintainer implements it; core/app
// wires it in.
type Segments interface {
	List(ctx context.Context) ([]core.Segment, error)
	Get(ctx context.Context, id core.ID) (core.Segment, error)
	Create(ctx context.Context, s core.Segment) (core.Segment, error)
	Update(ctx context.Context, id core.ID, name, description string, rule core.Rule) (core.Segment, error)
	Delete(ctx context.Context, id core.ID) error
	Preview(ctx context.Context, rule core.Rule, sample int) (core.SegmentPreview, error)
	Members(ctx context.Context, id core.ID, cursor string, limit int) (core.Page[core.ID], error)
	// Progress reports a running or queued evaluation over all customers.
	Progress(id core.ID) (float64, bool)
	ExportCSV(ctx context.Context, id core.ID, w io.Writer) (int, error)
	Filter(id core.ID) (func(core.ID) bool, error)
}

var errNoSegments = fmt.Errorf("%w: segments are not available on this server", core.ErrUnavailable)

// segmentInput is what a client writes. The rule is decoded by
// core.ParseRule (strict, bounded, field paths like "rule.all[2].event.op").
type segmentInput struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Rule        json.RawMessage `json:"rule"`
}

func (in segmentInput) parse() (core.Rule, error) {
	if len(in.Rule) == 0 {
		return core.Rule{}, core.FieldErr("rule", "required")
	}
	return core.ParseRule(in.Rule)
}

// segmentView is a segment as the API answers it, with evaluation progress.
type segmentView struct {
	core.Segment
	Computing bool    `json:"computing"`
	Progress  float64 `json:"progress,omitempty"`
}

func (s *Server) segmentView(seg core.Segment) segmentView {
	p, busy := s.segs.Progress(seg.ID)
	return segmentView{Segment: seg, Computing: busy, Progress: p}
}

// memberView is one member in listings and previews: enough to show and
// link, nothing more (the full record is at /customers/:id).
type memberView struct {
	ID         core.ID `json:"id"`
	ExternalID string  `json:"external_id,omitempty"`
	Name       string  `json:"name"`
	Email      string  `json:"email,omitempty"`
}

func (s *Server) memberViews(c *echo.Context, ids []core.ID) ([]memberView, error) {
	custs, err := s.store.GetCustomers(ctx(c), ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[core.ID]*core.Customer, len(custs))
	for i := range custs {
		byID[custs[i].ID] = &custs[i]
	}
	out := make([]memberView, 0, len(ids))
	for _, id := range ids {
		cu := byID[id]
		if cu == nil {
			continue // erased since; membership follows in a moment
		}
		v := memberView{ID: id, ExternalID: cu.ExternalID, Name: cu.DisplayName()}
		if len(cu.Emails) > 0 {
			v.Email = cu.Emails[0]
		}
		out = append(out, v)
	}
	return out, nil
}

// who names the caller for CreatedBy.
func who(c *echo.Context) string {
	if u := callerUser(c); u != nil {
		return u.Email
	}
	return "api"
}

// GET /segments
func (s *Server) listSegments(c *echo.Context) error {
	if s.segs == nil {
		return errNoSegments
	}
	segs, err := s.segs.List(ctx(c))
	if err != nil {
		return err
	}
	out := make([]segmentView, 0, len(segs))
	for _, sg := range segs {
		out = append(out, s.segmentView(sg))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

// POST /segments
func (s *Server) createSegment(c *echo.Context) error {
	if s.segs == nil {
		return errNoSegments
	}
	var in segmentInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	r, err := in.parse()
	if err != nil {
		return err
	}
	sg, err := s.segs.Create(ctx(c), core.Segment{Name: in.Name, Description: in.Description, Rule: r, CreatedBy: who(c)})
	if err != nil {
		return err
	}
	auditDetail(c, "segment "+sg.ID.String()+" created")
	c.Response().Header().Set("Location", APIPrefix+"/segments/"+sg.ID.String())
	return c.JSON(http.StatusCreated, s.segmentView(sg))
}

// segmentID is the route's :id on a server that keeps segments.
func (s *Server) segmentID(c *echo.Context) (core.ID, error) {
	if s.segs == nil {
		return 0, errNoSegments
	}
	return pathID(c, "id")
}

// GET /segments/:id
func (s *Server) getSegment(c *echo.Context) error {
	id, err := s.segmentID(c)
	if err != nil {
		return err
	}
	sg, err := s.segs.Get(ctx(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.segmentView(sg))
}

// PUT /segments/:id replaces name, description and rule.
func (s *Server) putSegment(c *echo.Context) error {
	id, err := s.segmentID(c)
	if err != nil {
		return err
	}
	var in segmentInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	r, err := in.parse()
	if err != nil {
		return err
	}
	sg, err := s.segs.Update(ctx(c), id, in.Name, in.Description, r)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.segmentView(sg))
}

// DELETE /segments/:id
func (s *Server) deleteSegment(c *echo.Context) error {
	id, err := s.segmentID(c)
	if err != nil {
		return err
	}
	if err := s.segs.Delete(ctx(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// previewInput is an unsaved rule to count.
type previewInput struct {
	Rule   json.RawMessage `json:"rule"`
	Sample int             `json:"sample"`
}

// POST /segments/preview: the live count of an unsaved rule and a sample
// of its members. A POST because rules are JSON bodies; it changes nothing
// (the UI's live count uses GET /segments/builder instead).
func (s *Server) previewSegment(c *echo.Context) error {
	if s.segs == nil {
		return errNoSegments
	}
	var in previewInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.Sample < 0 || in.Sample > 100 {
		return core.FieldErr("sample", "must be between 0 and 100")
	}
	if in.Sample == 0 {
		in.Sample = 10
	}
	r, err := segmentInput{Rule: in.Rule}.parse()
	if err != nil {
		return err
	}
	pv, err := s.segs.Preview(ctx(c), r, in.Sample)
	if err != nil {
		return err
	}
	sample, err := s.memberViews(c, pv.Sample)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"count": pv.Count, "total": pv.Total, "partial": pv.Partial,
		"took_ms": float64(pv.Took.Microseconds()) / 1000, "sample": sample})
}

// GET /segments/:id/members?cursor=&limit=
func (s *Server) segmentMembers(c *echo.Context) error {
	id, err := s.segmentID(c)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	page, err := s.segs.Members(ctx(c), id, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	items, err := s.memberViews(c, page.Items)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, core.Page[memberView]{Items: items, Next: page.Next})
}

// GET /segments/:id/export.csv streams the members as CSV.
func (s *Server) exportSegment(c *echo.Context) error {
	id, err := s.segmentID(c)
	if err != nil {
		return err
	}
	sg, err := s.segs.Get(ctx(c), id)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="segment-%d-%s.csv"`, sg.ID, time.Now().UTC().Format("20060102")))
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(http.StatusOK)
	if _, err := s.segs.ExportCSV(ctx(c), id, c.Response()); err != nil {
		// Headers are gone: the client sees a cut file; the log says why.
		s.log.Warn("segment export cut short", "segment", id, "err", err)
	}
	return nil
}
