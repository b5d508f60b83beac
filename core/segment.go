package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A segment is a saved, named rule over customers ("bought at least twice in
// 90 days and has the vip tag"). The rule is a small JSON tree: {"all":[...]},
// {"any":[...]}, {"not":{...}} combine conditions, and each condition is one
// key naming what it looks at. Membership is kept current by core/segments;
// this file holds the types, the validation and the reference semantics
// (Rule.Match), which every faster path is tested against.

// Limits on segments and rules. A rule comes from users and API clients, so
// its size and depth are bounded: evaluation is over every customer and must
// stay cheap, and a hostile rule must not exhaust the stack or the memory.
const (
	MaxSegmentNameLen = 120
	MaxSegmentDescLen = 2000
	MaxRuleBytes      = 64 << 10
	MaxRuleDepth      = 8   // nesting of all/any/not
	MaxRuleNodes      = 200 // conditions and combinators together
	MaxRuleList       = 100 // entries of one all/any
	MaxRuleDays       = 36500
	maxRuleText       = 256
)

// Segment is a saved rule with its last computed size.
type Segment struct {
	ID          ID        `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Rule        Rule      `json:"rule"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	CreatedBy   string    `json:"created_by,omitempty"` // a user's email, "api", "cli"
	// Count is the number of members when membership was last written
	// (ComputedAt); zero ComputedAt means it was never computed.
	Count      int       `json:"count"`
	ComputedAt time.Time `json:"computed_at,omitzero"`
}

// Normalize trims the name and description and validates the segment.
func (s *Segment) Normalize() error {
	s.Name = strings.Join(strings.Fields(s.Name), " ")
	s.Description = strings.TrimSpace(s.Description)
	if s.Name == "" {
		return FieldErr("name", "required")
	}
	if err := checkText("name", s.Name, MaxSegmentNameLen); err != nil {
		return err
	}
	if len(s.Description) > MaxSegmentDescLen || !utf8.ValidString(s.Description) {
		return FieldErr("description", "at most %d bytes of valid UTF-8", MaxSegmentDescLen)
	}
	return s.Rule.Validate("rule")
}

// Rule is one node of a segment rule: exactly one of its fields is set.
// All, Any and Not combine; the others are conditions.
type Rule struct {
	All []Rule `json:"all,omitempty"`
	Any []Rule `json:"any,omitempty"`
	Not *Rule  `json:"not,omitempty"`

	// Attribute compares a custom attribute of the customer record.
	Attribute *AttrCond `json:"attribute,omitempty"`
	// Field compares a built-in field of the customer record.
	Field *FieldCond `json:"field,omitempty"`
	// Tag: the customer has this tag.
	Tag *string `json:"tag,omitempty"`
	// Consent: the customer has granted consent on this channel.
	Consent *Channel `json:"consent,omitempty"`
	// Event counts or sums interactions in a window.
	Event *EventCond `json:"event,omitempty"`
	// RFM: the customer's RFM cell or named segment.
	RFM *RFMCond `json:"rfm,omitempty"`
	// PAlive and CLV compare the model's predictions; customers without a
	// prediction (no purchase, or no trusted model) never match.
	PAlive *NumCond `json:"p_alive,omitempty"`
	CLV    *NumCond `json:"clv,omitempty"`
	// FirstPurchase: the acquisition cohort, first purchase between dates.
	FirstPurchase *DateRange `json:"first_purchase,omitempty"`
}

// Comparison operators of conditions.
const (
	OpEq       = "eq"
	OpNe       = "ne"
	OpContains = "contains"
	OpExists   = "exists"
	OpGt       = "gt"
	OpGte      = "gte"
	OpLt       = "lt"
	OpLte      = "lte"
	// For dates (field created_at): before/after a date, or within the
	// last Days days.
	OpBefore     = "before"
	OpAfter      = "after"
	OpWithinDays = "within_days"
)

// AttrCond compares attribute Key. eq/ne compare strings case-insensitively
// and numbers and booleans exactly; contains is a case-insensitive substring
// of a string value; gt/gte/lt/lte need a number on both sides; exists
// matches any non-null value. ne also matches a customer without the
// attribute ("not gold" includes those with no plan).
type AttrCond struct {
	Key   string `json:"key"`
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
}

// FieldCond compares a built-in customer field. Text fields (FieldNames)
// take eq, ne, contains, exists with Value; created_at takes before/after
// with Value a date (YYYY-MM-DD, business time zone) or within_days with Days.
type FieldCond struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Value string `json:"value,omitempty"`
	Days  int    `json:"days,omitempty"`
}

// FieldNames are the built-in fields a FieldCond may name.
var FieldNames = []string{"country", "city", "region", "locale", "time_zone", "email", "created_at"}

// EventCond counts interactions of Type ("" for any type) in the last
// WithinDays days (0: ever), or sums their amounts (Measure "sum", minor
// units of the business currency), and compares that with Value.
// "Bought at least twice in 90 days" is {type: purchase, within_days: 90,
// op: gte, value: 2}; "no session for 14 days" is {type: session,
// within_days: 14, op: eq, value: 0}.
type EventCond struct {
	Type       InteractionType `json:"type,omitempty"`
	WithinDays int             `json:"within_days,omitempty"`
	Measure    string          `json:"measure,omitempty"` // "count" (default) or "sum"
	Op         string          `json:"op"`
	Value      float64         `json:"value"`
}

// RFMCond matches a named RFM segment, or a cell by scores (1–5; 0 means
// any), or both.
type RFMCond struct {
	Segment string `json:"segment,omitempty"`
	R       int    `json:"r,omitempty"`
	F       int    `json:"f,omitempty"`
	M       int    `json:"m,omitempty"`
}

// RFMSegmentNames are the named RFM cells (core/retention's table).
var RFMSegmentNames = []string{"Champions", "Loyal", "Potential loyalists", "New", "Promising",
	"Need attention", "About to sleep", "At risk", "Can't lose them", "Hibernating", "Lost"}

// NumCond compares a number.
type NumCond struct {
	Op    string  `json:"op"`
	Value float64 `json:"value"`
}

// DateRange is From..To inclusive, dates as YYYY-MM-DD in the business time
// zone; either end may be empty (open), not both.
type DateRange struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// SegmentFacts is what a rule may ask about a customer's behaviour. The
// analytics engine provides it (core/segments converts analytics.Facts);
// core declares it so that Match stays in the domain. The zero value is a
// customer with no known interactions and no model predictions.
type SegmentFacts struct {
	FirstPurchase time.Time
	LastPurchase  time.Time
	RFMSegment    string
	R, F, M       int
	HasModel      bool // PAlive is a prediction; CLV too when not negative (no spend model)
	PAlive        float64
	CLV           float64
	// Count returns how many interactions of type t ("" for all) happened
	// in the last days days (0: ever), and the sum of their amounts. nil
	// means none.
	Count func(t InteractionType, days int) (n int, sum int64)
	// Now is the reference time of relative conditions (created_at within
	// days); zero means time.Now. Loc is the business time zone for dates;
	// nil means UTC.
	Now time.Time
	Loc *time.Location
}

// SegmentPreview is the live count of a rule being edited.
type SegmentPreview struct {
	Count  int           `json:"count"`
	Total  int           `json:"total"` // customers evaluated
	Sample []ID          `json:"sample"`
	Took   time.Duration `json:"took_ns"`
	// Partial is true when not every input was ready (the analytics engine
	// still building): behaviour conditions may be undercounted.
	Partial bool `json:"partial,omitempty"`
}

// SegmentStore keeps segments and their membership; core.Store embeds it.
type SegmentStore interface {
	// CreateSegment assigns the ID; a name in use (case-insensitively) is
	// ErrConflict.
	CreateSegment(ctx context.Context, s Segment) (Segment, error)
	GetSegment(ctx context.Context, id ID) (Segment, error)
	UpdateSegment(ctx context.Context, id ID, fn func(*Segment) error) (Segment, error)
	// DeleteSegment removes the segment and its membership.
	DeleteSegment(ctx context.Context, id ID) error
	ListSegments(ctx context.Context) ([]Segment, error)
	// AddSegmentMembers and RemoveSegmentMembers change membership in
	// batches (one transaction per call); ids already in (or not in) the
	// segment are no-ops. The segment must exist.
	AddSegmentMembers(ctx context.Context, segment ID, ids []ID) error
	RemoveSegmentMembers(ctx context.Context, segment ID, ids []ID) error
	// ListSegmentMembers pages members in ID order.
	ListSegmentMembers(ctx context.Context, segment ID, cursor string, limit int) (Page[ID], error)
	ScanSegmentMembers(ctx context.Context, segment ID, fn func(ID) error) error
	CountSegmentMembers(ctx context.Context, segment ID) (int, error)
}

// ParseRule decodes a rule strictly (valid UTF-8, no unknown fields, one
// value, at most MaxRuleBytes) and validates it. Errors are FieldErrors
// whose paths start with "rule".
func ParseRule(b []byte) (Rule, error) {
	var r Rule
	if len(b) > MaxRuleBytes {
		return r, &FieldError{Kind: ErrTooLarge, Field: "rule", Message: fmt.Sprintf("at most %d bytes", MaxRuleBytes)}
	}
	if !utf8.Valid(b) {
		return r, FieldErr("rule", "not valid UTF-8")
	}
	// encoding/json recurses per nesting level; refuse deep input before it
	// does (Validate bounds depth again on the decoded tree).
	if depth := jsonDepth(b); depth > 2*MaxRuleDepth+4 {
		return r, FieldErr("rule", "nested deeper than %d levels", MaxRuleDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Rule{}, FieldErr("rule", "not a valid rule: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Rule{}, FieldErr("rule", "unexpected data after the rule")
	}
	if err := r.Validate("rule"); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// jsonDepth is the deepest nesting of objects and arrays in b, ignoring
// brackets inside strings.
func jsonDepth(b []byte) int {
	depth, most, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr:
			if esc {
				esc = false
			} else if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			most = max(most, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return most
}

// Validate checks the rule; path is the JSON path of r in the request
// ("rule"), so errors name e.g. "rule.all[2].event.within_days".
func (r Rule) Validate(path string) error {
	nodes := 0
	return r.validate(path, 1, &nodes)
}

func (r Rule) kinds() (n int, name string) {
	for _, k := range []struct {
		set  bool
		name string
	}{
		{r.All != nil, "all"}, {r.Any != nil, "any"}, {r.Not != nil, "not"},
		{r.Attribute != nil, "attribute"}, {r.Field != nil, "field"}, {r.Tag != nil, "tag"},
		{r.Consent != nil, "consent"}, {r.Event != nil, "event"}, {r.RFM != nil, "rfm"},
		{r.PAlive != nil, "p_alive"}, {r.CLV != nil, "clv"}, {r.FirstPurchase != nil, "first_purchase"},
	} {
		if k.set {
			n++
			name = k.name
		}
	}
	return n, name
}

func (r Rule) validate(path string, depth int, nodes *int) error {
	*nodes++
	if *nodes > MaxRuleNodes {
		return FieldErr(path, "the rule has more than %d conditions", MaxRuleNodes)
	}
	if depth > MaxRuleDepth {
		return FieldErr(path, "nested deeper than %d levels", MaxRuleDepth)
	}
	n, kind := r.kinds()
	switch {
	case n == 0:
		return FieldErr(path, "empty condition: give one of all, any, not, attribute, field, tag, consent, event, rfm, p_alive, clv, first_purchase")
	case n > 1:
		return FieldErr(path, "give exactly one condition per entry (wrap several in \"all\" or \"any\")")
	}
	at := func(f string) string { return path + "." + f }
	switch kind {
	case "all", "any":
		list := r.All
		if kind == "any" {
			list = r.Any
		}
		if len(list) == 0 {
			return FieldErr(at(kind), "give at least one condition")
		}
		if len(list) > MaxRuleList {
			return FieldErr(at(kind), "at most %d conditions in one list", MaxRuleList)
		}
		for i, sub := range list {
			if err := sub.validate(fmt.Sprintf("%s.%s[%d]", path, kind, i), depth+1, nodes); err != nil {
				return err
			}
		}
	case "not":
		return r.Not.validate(at("not"), depth+1, nodes)
	case "attribute":
		a := r.Attribute
		p := at("attribute")
		if a.Key == "" || len(a.Key) > MaxAttrKeyLen || !utf8.ValidString(a.Key) {
			return FieldErr(p+".key", "required, 1 to %d bytes of valid UTF-8", MaxAttrKeyLen)
		}
		switch a.Op {
		case OpExists:
			if a.Value != nil {
				return FieldErr(p+".value", "exists takes no value")
			}
		case OpEq, OpNe:
			if err := checkScalar(p+".value", a.Value); err != nil {
				return err
			}
			if a.Value == nil {
				return FieldErr(p+".value", "required (use op exists to test presence)")
			}
		case OpContains:
			s, ok := a.Value.(string)
			if !ok || s == "" {
				return FieldErr(p+".value", "contains needs a non-empty text value")
			}
			if err := checkScalar(p+".value", s); err != nil {
				return err
			}
		case OpGt, OpGte, OpLt, OpLte:
			f, ok := a.Value.(float64)
			if !ok {
				return FieldErr(p+".value", "%s needs a number", a.Op)
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return FieldErr(p+".value", "must be a finite number")
			}
		default:
			return FieldErr(p+".op", "unknown operator %q: use eq, ne, contains, exists, gt, gte, lt or lte", short(a.Op))
		}
	case "field":
		f := r.Field
		p := at("field")
		if !slices.Contains(FieldNames, f.Name) {
			return FieldErr(p+".name", "unknown field %q: use one of %s", short(f.Name), strings.Join(FieldNames, ", "))
		}
		if err := checkText(p+".value", f.Value, maxRuleText); err != nil {
			return err
		}
		if f.Name == "created_at" {
			switch f.Op {
			case OpBefore, OpAfter:
				if _, err := time.Parse(time.DateOnly, f.Value); err != nil {
					return FieldErr(p+".value", "must be a date such as 2025-01-31")
				}
			case OpWithinDays:
				if f.Days < 1 || f.Days > MaxRuleDays {
					return FieldErr(p+".days", "must be between 1 and %d", MaxRuleDays)
				}
			default:
				return FieldErr(p+".op", "unknown operator %q for created_at: use before, after or within_days", short(f.Op))
			}
			return nil
		}
		switch f.Op {
		case OpExists:
		case OpEq, OpNe, OpContains:
			if f.Value == "" && f.Op != OpNe && f.Op != OpEq {
				return FieldErr(p+".value", "required")
			}
		default:
			return FieldErr(p+".op", "unknown operator %q: use eq, ne, contains or exists", short(f.Op))
		}
	case "tag":
		t, err := NormalizeTag(*r.Tag)
		if err != nil || t == "" || t != *r.Tag {
			return FieldErr(at("tag"), "must be a tag in lower case: letters, digits and - _ : .")
		}
	case "consent":
		ch := *r.Consent
		if ch == "" || len(ch) > 32 || !utf8.ValidString(string(ch)) {
			return FieldErr(at("consent"), "must be a channel name of 1 to 32 characters")
		}
	case "event":
		e := r.Event
		p := at("event")
		if e.Type != "" {
			if err := checkText(p+".type", string(e.Type), MaxTypeLen); err != nil {
				return err
			}
		}
		if e.WithinDays < 0 || e.WithinDays > MaxRuleDays {
			return FieldErr(p+".within_days", "must be between 0 (ever) and %d", MaxRuleDays)
		}
		if e.Measure != "" && e.Measure != "count" && e.Measure != "sum" {
			return FieldErr(p+".measure", "use count or sum")
		}
		if !isCompare(e.Op) && e.Op != OpEq && e.Op != OpNe {
			return FieldErr(p+".op", "unknown operator %q: use eq, ne, gt, gte, lt or lte", short(e.Op))
		}
		if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) || math.Abs(e.Value) > 1e15 {
			return FieldErr(p+".value", "must be a finite number")
		}
	case "rfm":
		m := r.RFM
		p := at("rfm")
		if m.Segment != "" && !slices.Contains(RFMSegmentNames, m.Segment) {
			return FieldErr(p+".segment", "unknown RFM segment %q", short(m.Segment))
		}
		for _, s := range []struct {
			n string
			v int
		}{{"r", m.R}, {"f", m.F}, {"m", m.M}} {
			if s.v < 0 || s.v > 5 {
				return FieldErr(p+"."+s.n, "a score is 1 to 5 (0: any)")
			}
		}
		if m.Segment == "" && m.R == 0 && m.F == 0 && m.M == 0 {
			return FieldErr(p, "give a segment or at least one score")
		}
	case "p_alive", "clv":
		c := r.PAlive
		if kind == "clv" {
			c = r.CLV
		}
		if !isCompare(c.Op) {
			return FieldErr(at(kind)+".op", "unknown operator %q: use gt, gte, lt or lte", short(c.Op))
		}
		if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) || math.Abs(c.Value) > 1e15 {
			return FieldErr(at(kind)+".value", "must be a finite number")
		}
		if kind == "p_alive" && (c.Value < 0 || c.Value > 1) {
			return FieldErr(at(kind)+".value", "a probability is between 0 and 1")
		}
	case "first_purchase":
		d := r.FirstPurchase
		p := at("first_purchase")
		if d.From == "" && d.To == "" {
			return FieldErr(p, "give from, to or both")
		}
		var from, to time.Time
		var err error
		if d.From != "" {
			if from, err = time.Parse(time.DateOnly, d.From); err != nil {
				return FieldErr(p+".from", "must be a date such as 2025-01-31")
			}
		}
		if d.To != "" {
			if to, err = time.Parse(time.DateOnly, d.To); err != nil {
				return FieldErr(p+".to", "must be a date such as 2025-01-31")
			}
		}
		if d.From != "" && d.To != "" && to.Before(from) {
			return FieldErr(p+".to", "is before from")
		}
	}
	return nil
}

func isCompare(op string) bool { return op == OpGt || op == OpGte || op == OpLt || op == OpLte }

// short keeps a hostile operand out of error messages at full length.
func short(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func checkScalar(field string, v any) error {
	switch x := v.(type) {
	case nil, bool:
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return FieldErr(field, "must be a finite number")
		}
		return nil
	case string:
		if len(x) > MaxAttrValueLen || !utf8.ValidString(x) {
			return FieldErr(field, "at most %d bytes of valid UTF-8", MaxAttrValueLen)
		}
		return nil
	}
	return FieldErr(field, "must be a string, number or boolean")
}

// Needs says what evaluating a rule reads, so callers fetch only that and
// know when to re-evaluate.
type Needs struct {
	Record bool // the customer record (attributes, fields, tags, consent)
	Facts  bool // behaviour facts from the analytics engine
	Time   bool // the answer can change with time alone
	Model  bool // the answer can change when the models are refitted
	// Population: one customer's answer can change when OTHER customers
	// change (RFM scores are quintiles over everyone).
	Population bool
}

// Needs reports what r reads.
func (r Rule) Needs() Needs {
	var n Needs
	r.walk(func(x Rule) {
		switch {
		case x.Attribute != nil, x.Tag != nil, x.Consent != nil:
			n.Record = true
		case x.Field != nil:
			n.Record = true
			if x.Field.Op == OpWithinDays {
				n.Time = true
			}
		case x.Event != nil:
			n.Facts, n.Time = true, true
		case x.RFM != nil:
			// RFM scores are quintiles over all customers and recency
			// grows with time: any change or a day passing can move them.
			n.Facts, n.Time, n.Model, n.Population = true, true, true, true
		case x.PAlive != nil, x.CLV != nil:
			n.Facts, n.Time, n.Model = true, true, true
		case x.FirstPurchase != nil:
			n.Facts = true
		}
	})
	return n
}

func (r Rule) walk(fn func(Rule)) {
	fn(r)
	for _, s := range r.All {
		s.walk(fn)
	}
	for _, s := range r.Any {
		s.walk(fn)
	}
	if r.Not != nil {
		r.Not.walk(fn)
	}
}

// Tags lists the tags a rule tests, for callers that narrow by tag index.
func (r Rule) Tags() []string {
	var out []string
	r.walk(func(x Rule) {
		if x.Tag != nil && !slices.Contains(out, *x.Tag) {
			out = append(out, *x.Tag)
		}
	})
	return out
}

// Match reports whether customer c with behaviour f satisfies the rule. It
// is the reference semantics: core/segments evaluates with it and its
// tests compare membership with it. The rule must be valid.
func (r Rule) Match(c *Customer, f *SegmentFacts) bool {
	switch {
	case r.All != nil:
		for i := range r.All {
			if !r.All[i].Match(c, f) {
				return false
			}
		}
		return true
	case r.Any != nil:
		for i := range r.Any {
			if r.Any[i].Match(c, f) {
				return true
			}
		}
		return false
	case r.Not != nil:
		return !r.Not.Match(c, f)
	case r.Attribute != nil:
		return matchAttr(r.Attribute, c.Attributes)
	case r.Field != nil:
		return matchField(r.Field, c, f)
	case r.Tag != nil:
		return slices.Contains(c.Tags, *r.Tag)
	case r.Consent != nil:
		return c.HasConsent(*r.Consent)
	case r.Event != nil:
		e := r.Event
		var n int
		var sum int64
		if f.Count != nil {
			n, sum = f.Count(e.Type, e.WithinDays)
		}
		v := float64(n)
		if e.Measure == "sum" {
			v = float64(sum)
		}
		return compare(e.Op, v, e.Value)
	case r.RFM != nil:
		m := r.RFM
		if f.R == 0 {
			return false // no purchase: not in the grid
		}
		return (m.Segment == "" || m.Segment == f.RFMSegment) &&
			(m.R == 0 || m.R == f.R) && (m.F == 0 || m.F == f.F) && (m.M == 0 || m.M == f.M)
	case r.PAlive != nil:
		return f.HasModel && compare(r.PAlive.Op, f.PAlive, r.PAlive.Value)
	case r.CLV != nil:
		return f.HasModel && f.CLV >= 0 && compare(r.CLV.Op, f.CLV, r.CLV.Value)
	case r.FirstPurchase != nil:
		if f.FirstPurchase.IsZero() {
			return false
		}
		d := r.FirstPurchase
		loc := f.location()
		if d.From != "" {
			from, _ := time.ParseInLocation(time.DateOnly, d.From, loc)
			if f.FirstPurchase.Before(from) {
				return false
			}
		}
		if d.To != "" {
			to, _ := time.ParseInLocation(time.DateOnly, d.To, loc)
			if !f.FirstPurchase.Before(to.AddDate(0, 0, 1)) {
				return false
			}
		}
		return true
	}
	return false
}

// MatchRecord decides r from the customer record alone when it can:
// known is false when the answer depends on behaviour facts (events, RFM,
// predictions, first purchase). f gives only Now and Loc. When known, the
// answer equals Match with any facts, so a caller may skip looking facts
// up ("bought twice in 90 days and created in the last 30 days" needs no
// facts for customers created earlier).
func (r Rule) MatchRecord(c *Customer, f *SegmentFacts) (match, known bool) {
	switch {
	case r.All != nil:
		known = true
		for i := range r.All {
			m, k := r.All[i].MatchRecord(c, f)
			if k && !m {
				return false, true
			}
			known = known && k
		}
		return true, known
	case r.Any != nil:
		known = true
		for i := range r.Any {
			m, k := r.Any[i].MatchRecord(c, f)
			if k && m {
				return true, true
			}
			known = known && k
		}
		return false, known
	case r.Not != nil:
		m, k := r.Not.MatchRecord(c, f)
		return !m, k
	case r.Event != nil, r.RFM != nil, r.PAlive != nil, r.CLV != nil, r.FirstPurchase != nil:
		return false, false
	}
	return r.Match(c, f), true
}

func (f *SegmentFacts) location() *time.Location {
	if f.Loc == nil {
		return time.UTC
	}
	return f.Loc
}

func compare(op string, a, b float64) bool {
	switch op {
	case OpEq:
		return a == b
	case OpNe:
		return a != b
	case OpGt:
		return a > b
	case OpGte:
		return a >= b
	case OpLt:
		return a < b
	case OpLte:
		return a <= b
	}
	return false
}

func matchAttr(a *AttrCond, attrs map[string]any) bool {
	v, ok := attrs[a.Key]
	if !ok || v == nil {
		return a.Op == OpNe
	}
	switch a.Op {
	case OpExists:
		return true
	case OpEq, OpNe:
		eq := false
		switch x := v.(type) {
		case string:
			s, ok := a.Value.(string)
			eq = ok && strings.EqualFold(x, s)
		case float64:
			n, ok := a.Value.(float64)
			eq = ok && x == n
		case bool:
			b, ok := a.Value.(bool)
			eq = ok && x == b
		}
		return eq == (a.Op == OpEq)
	case OpContains:
		x, ok := v.(string)
		s, _ := a.Value.(string)
		return ok && containsFold(x, s)
	default:
		x, ok := v.(float64)
		n, _ := a.Value.(float64)
		return ok && compare(a.Op, x, n)
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func fieldValue(name string, c *Customer) string {
	switch name {
	case "country":
		return c.Address.Country
	case "city":
		return c.Address.City
	case "region":
		return c.Address.Region
	case "locale":
		return c.Locale
	case "time_zone":
		return c.TimeZone
	case "email":
		if len(c.Emails) > 0 {
			return c.Emails[0]
		}
	}
	return ""
}

func matchField(fc *FieldCond, c *Customer, f *SegmentFacts) bool {
	if fc.Name == "created_at" {
		loc := f.location()
		switch fc.Op {
		case OpBefore:
			d, _ := time.ParseInLocation(time.DateOnly, fc.Value, loc)
			return c.CreatedAt.Before(d)
		case OpAfter:
			d, _ := time.ParseInLocation(time.DateOnly, fc.Value, loc)
			return !c.CreatedAt.Before(d.AddDate(0, 0, 1))
		case OpWithinDays:
			now := f.Now
			if now.IsZero() {
				now = time.Now()
			}
			return !c.CreatedAt.Before(now.AddDate(0, 0, -fc.Days))
		}
		return false
	}
	v := fieldValue(fc.Name, c)
	switch fc.Op {
	case OpExists:
		return v != ""
	case OpEq:
		return strings.EqualFold(v, fc.Value)
	case OpNe:
		return !strings.EqualFold(v, fc.Value)
	case OpContains:
		return containsFold(v, fc.Value)
	}
	return false
}
