package web

import (
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// The customer 360 (/customers/:id): key figures, profile with inline edit,
// consent, tags, attributes, purchases, the timeline (ui_timeline.go), and
// marked places for what later issues add. Also create and erase.

// figureWalkLimit bounds the purchases read for the key figures: a customer
// with more (a wholesaler, a bot) gets figures over the newest ones, and
// the page says so, instead of a page that gets slower with every order.
const figureWalkLimit = 2000

// custPage is the data of pages/customer.html.
type custPage struct {
	C         core.Customer
	Head      custHead
	Figures   custFigures
	Purchases []timelineEntry // the newest few, with line items
	Profile   custProfile
	Timeline  timelineData
	Note      noteForm
	Saved     bool
	Analytics custAnalytics // churn risk and lifetime value (ui_analytics.go)
	Send      sendForm      // "Send a message" (ui_outbox.go)
	Messages  custMessages  // their latest outbox messages (ui_outbox.go)
	Panels    []custPanel   // packs' panels, loaded by htmx (ui_panels.go)
}

// custHead is the heading: name, primary contact, tags.
type custHead struct {
	ID    core.ID
	Name  string
	Email string
	Phone string
	Tags  []string
}

// custProfile is the profile panel (view mode).
type custProfile struct {
	C          core.Customer
	Consent    []consentRow
	Attrs      []attrRow
	CanEdit    bool
	OOBHead    *custHead // set when the heading must be refreshed too (after a save)
	JustSaved  bool
	CreatedAgo string
}

type consentRow struct {
	Channel  string
	Recorded bool
	Granted  bool
	At       time.Time
	Source   string
}

type attrRow struct{ Key, Value string }

// custFigures are the numbers at the top of the page.
type custFigures struct {
	FirstSeen, LastSeen time.Time
	Orders              int
	Refunds             int
	Money               []moneyFigure // per currency, the busiest first
	Bounded             bool          // more than figureWalkLimit purchases; figures cover the newest
}

type moneyFigure struct {
	Currency string
	Orders   int
	Spent    int64 // purchases minus refunds
	Average  int64 // purchases / orders
}

// GET /customers/:id
func (s *Server) uiCustomer(c *echo.Context) error {
	cu, err := s.pathCustomer(c)
	if err != nil {
		return err
	}
	d := custPage{C: cu, Head: headOf(&cu), Saved: c.QueryParam("saved") == "1"}
	me := callerUser(c)
	d.Profile = profileOf(cu, me != nil && core.RoleAllows(me.Role, core.ScopeCustomersWrite))
	if d.Figures, d.Purchases, err = s.figures(c, cu); err != nil {
		return err
	}
	tq, err := parseTimelineQuery(c)
	if err != nil {
		return err
	}
	if d.Timeline, err = s.loadTimeline(c, cu.ID, tq); err != nil {
		return err
	}
	d.Note = s.newNoteForm(c, cu.ID)
	d.Analytics = s.customerAnalytics(c, cu.ID)
	d.Send, d.Messages = s.newSendForm(c, cu), s.customerMessages(c, cu.ID)
	d.Panels = s.customerPanels(cu.ID)
	p := Page{Title: safeText(cu.DisplayName()), Nav: "customers", Data: d}
	if d.Saved {
		p.Flash = "Saved."
	}
	if c.QueryParam("sent") == "1" {
		p.Flash = "The message is in the outbox; it appears in the timeline once sent."
	}
	return s.render(c, http.StatusOK, "customer", p)
}

func headOf(cu *core.Customer) custHead {
	h := custHead{ID: cu.ID, Name: cu.DisplayName(), Tags: cu.Tags}
	if len(cu.Emails) > 0 {
		h.Email = cu.Emails[0]
	}
	if len(cu.Phones) > 0 {
		h.Phone = cu.Phones[0]
	}
	return h
}

func profileOf(cu core.Customer, canEdit bool) custProfile {
	p := custProfile{C: cu, CanEdit: canEdit}
	seen := map[core.Channel]bool{}
	for _, ch := range core.KnownChannels {
		seen[ch] = true
		p.Consent = append(p.Consent, consentOf(ch, cu.Consent))
	}
	for _, ch := range slices.Sorted(maps.Keys(cu.Consent)) {
		if !seen[ch] {
			p.Consent = append(p.Consent, consentOf(ch, cu.Consent))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cu.Attributes)) {
		p.Attrs = append(p.Attrs, attrRow{Key: k, Value: core.AttributeText(cu.Attributes[k])})
	}
	return p
}

func consentOf(ch core.Channel, m map[core.Channel]core.Consent) consentRow {
	cs, ok := m[ch]
	return consentRow{Channel: string(ch), Recorded: ok, Granted: cs.Granted, At: cs.At, Source: cs.Source}
}

// figures walks the customer's purchases and refunds (newest first, at most
// figureWalkLimit) through the timeline index: its values hold the type, so
// other interactions are skipped without being decoded.
func (s *Server) figures(c *echo.Context, cu core.Customer) (custFigures, []timelineEntry, error) {
	f := custFigures{FirstSeen: cu.FirstSeen, LastSeen: cu.LastSeen}
	var recent []timelineEntry
	byCur := map[string]*moneyFigure{}
	purchased := map[string]int64{}
	cursor, read := "", 0
	for {
		page, err := s.store.Timeline(ctx(c), cu.ID, core.TimelineQuery{Types: []core.InteractionType{core.TypePurchase, core.TypeRefund},
			Cursor: cursor, Limit: min(1000, figureWalkLimit-read)})
		if err != nil {
			return f, nil, err
		}
		for _, in := range page.Items {
			amt := in.Amount
			if amt == 0 {
				amt = in.ItemsTotal()
			}
			m := byCur[in.Currency]
			if m == nil {
				m = &moneyFigure{Currency: in.Currency}
				byCur[in.Currency] = m
			}
			if in.Type == core.TypePurchase {
				f.Orders++
				m.Orders++
				m.Spent += amt
				purchased[in.Currency] += amt
				if len(recent) < 5 {
					recent = append(recent, entryOf(in, nil))
				}
			} else {
				f.Refunds++
				m.Spent -= amt
			}
		}
		read += len(page.Items)
		if page.Next == "" {
			break
		}
		if read >= figureWalkLimit {
			f.Bounded = true
			break
		}
		cursor = page.Next
	}
	for cur, m := range byCur {
		if m.Orders > 0 {
			m.Average = purchased[cur] / int64(m.Orders)
		}
		f.Money = append(f.Money, *m)
	}
	slices.SortFunc(f.Money, func(a, b moneyFigure) int {
		if a.Orders != b.Orders {
			return b.Orders - a.Orders
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	return f, recent, nil
}

// ---- profile form (create and inline edit) ----

// custForm is the profile form, for a new customer (ID 0) or an edit.
type custForm struct {
	ID         core.ID
	CSRF       string
	Name       string
	ExternalID string
	Emails     string // one per line
	Phones     string
	Tags       string // separated by commas or spaces
	Locale     string
	TimeZone   string
	Address    core.Address
	Consent    []consentField
	Attrs      []attrRow
	NewKey     string
	NewValue   string
	Fields     map[string]string // form field → message
	Error      string
	Inline     bool // shown in place of the profile panel (htmx)
}

type consentField struct {
	Channel  string
	Value    string // "", "granted", "withdrawn"
	Recorded bool   // a record exists: it can be changed, not removed
}

func (s *Server) formOf(c *echo.Context, cu core.Customer) custForm {
	// Form values are shown as stored (so saving keeps them), except bytes
	// that are not UTF-8: those could never be saved back anyway.
	u := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	a := cu.Address
	f := custForm{ID: cu.ID, CSRF: csrfOf(c), Name: u(cu.Name), ExternalID: u(cu.ExternalID),
		Emails: u(strings.Join(cu.Emails, "\n")), Phones: u(strings.Join(cu.Phones, "\n")), Tags: u(strings.Join(cu.Tags, ", ")),
		Locale: u(cu.Locale), TimeZone: u(cu.TimeZone), Fields: map[string]string{},
		Address: core.Address{Line1: u(a.Line1), Line2: u(a.Line2), City: u(a.City), Region: u(a.Region), PostalCode: u(a.PostalCode), Country: u(a.Country)}}
	for _, r := range profileOf(cu, false).Consent {
		v := ""
		if r.Recorded {
			v = "withdrawn"
			if r.Granted {
				v = "granted"
			}
		}
		f.Consent = append(f.Consent, consentField{Channel: r.Channel, Value: v, Recorded: r.Recorded})
	}
	for _, r := range profileOf(cu, false).Attrs {
		f.Attrs = append(f.Attrs, attrRow{Key: r.Key, Value: u(r.Value)})
	}
	return f
}

func csrfOf(c *echo.Context) string {
	if ss := callerSession(c); ss != nil {
		return ss.CSRF
	}
	return ""
}

// readForm fills the form from the posted values (so an invalid post is
// shown again as typed) and builds the patch.
func (s *Server) readForm(c *echo.Context, stored core.Customer) (custForm, core.CustomerPatch, error) {
	f := s.formOf(c, stored)
	req := c.Request()
	if err := req.ParseForm(); err != nil {
		return f, core.CustomerPatch{}, core.Invalidf("the form could not be read")
	}
	v := req.PostForm
	f.Name, f.ExternalID = v.Get("name"), v.Get("external_id")
	f.Emails, f.Phones, f.Tags = v.Get("emails"), v.Get("phones"), v.Get("tags")
	f.Locale, f.TimeZone = v.Get("locale"), v.Get("time_zone")
	f.Address = core.Address{Line1: v.Get("address.line1"), Line2: v.Get("address.line2"), City: v.Get("address.city"),
		Region: v.Get("address.region"), PostalCode: v.Get("address.postal_code"), Country: v.Get("address.country")}
	emails, phones, tags := splitList(f.Emails), splitList(f.Phones), splitTags(f.Tags)
	p := core.CustomerPatch{Name: &f.Name, ExternalID: &f.ExternalID, Emails: &emails, Phones: &phones, Tags: &tags,
		Locale: &f.Locale, TimeZone: &f.TimeZone, Address: &f.Address}

	for i := range f.Consent {
		cf := &f.Consent[i]
		val := v.Get("consent." + cf.Channel)
		switch val {
		case "granted", "withdrawn":
		case "":
			if cf.Recorded {
				return f, p, core.FieldErr("consent", "a recorded consent can be changed but not removed")
			}
		default:
			return f, p, core.FieldErr("consent", "choose granted or withdrawn")
		}
		if val != cf.Value && val != "" {
			if p.Consent == nil {
				p.Consent = map[core.Channel]*core.Consent{}
			}
			p.Consent[core.Channel(cf.Channel)] = &core.Consent{Granted: val == "granted", Source: sourceOf(c)}
		}
		cf.Value = val
	}

	keys, vals := v["attr_key"], v["attr_val"]
	if len(keys) != len(vals) || len(keys) > core.MaxAttributes {
		return f, p, core.FieldErr("attributes", "the attribute fields do not match; reload the page")
	}
	drop := map[string]bool{}
	for _, k := range v["attr_del"] {
		drop[k] = true
	}
	f.Attrs = f.Attrs[:0]
	for i, k := range keys {
		old, ok := stored.Attributes[k]
		switch {
		case drop[k] && ok:
			setAttr(&p, k, nil)
			continue
		case !ok:
			// Removed by someone else since the form was opened: a
			// changed value brings it back, an unchanged one does not.
			if vals[i] == "" {
				continue
			}
			setAttr(&p, k, vals[i])
		case vals[i] != core.AttributeText(old):
			setAttr(&p, k, typedLike(old, vals[i]))
		}
		f.Attrs = append(f.Attrs, attrRow{Key: k, Value: vals[i]})
	}
	f.NewKey, f.NewValue = strings.TrimSpace(v.Get("new_attr_key")), v.Get("new_attr_val")
	if f.NewKey != "" {
		if _, exists := stored.Attributes[f.NewKey]; exists && !drop[f.NewKey] {
			return f, p, core.FieldErr("attributes", "an attribute named %q exists; change its value above", f.NewKey)
		}
		setAttr(&p, f.NewKey, f.NewValue)
	} else if f.NewValue != "" {
		return f, p, core.FieldErr("attributes", "give the new attribute a name")
	}
	return f, p, nil
}

func setAttr(p *core.CustomerPatch, k string, v any) {
	if p.Attributes == nil {
		p.Attributes = map[string]any{}
	}
	p.Attributes[k] = v
}

// typedLike keeps an attribute's JSON type when staff edit it as text: a
// number stays a number if the new text is one, and so does a boolean.
func typedLike(old any, text string) any {
	switch old.(type) {
	case float64:
		if f, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil {
			return f
		}
	case bool:
		if b, err := strconv.ParseBool(strings.TrimSpace(text)); err == nil {
			return b
		}
	}
	return text
}

func sourceOf(c *echo.Context) string {
	if u := callerUser(c); u != nil {
		return u.Email
	}
	return "web"
}

func splitList(s string) []string {
	out := []string{}
	for _, x := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ';' }) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func splitTags(s string) []string {
	out := []string{}
	for _, x := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// fieldIndex drops a list position or a map key from a core field path,
// giving the form field it belongs to: "emails[1]" → "emails",
// "attributes.vip" → "attributes".
var fieldIndex = regexp.MustCompile(`\[\d+\].*$`)

func formField(err error) string {
	f := fieldIndex.ReplaceAllString(core.ErrorField(err), "")
	if strings.HasPrefix(f, "attributes.") {
		return "attributes"
	}
	switch f {
	case "name", "external_id", "emails", "phones", "tags", "locale", "time_zone", "attributes", "consent",
		"address.line1", "address.line2", "address.city", "address.region", "address.postal_code", "address.country":
		return f
	}
	return ""
}

// formFailed puts a service error next to its field, or at the top.
func formFailed(f *custForm, err error) (int, bool) {
	switch {
	case errors.Is(err, core.ErrInvalid):
		if fld := formField(err); fld != "" {
			f.Fields[fld] = fieldMessage(err)
		} else {
			f.Error = fieldMessage(err)
		}
		return http.StatusUnprocessableEntity, true
	case errors.Is(err, core.ErrConflict):
		f.Fields["external_id"] = "another customer already has this external id"
		return http.StatusConflict, true
	}
	return 0, false
}

// GET /customers/:id/edit: the form (a fragment for htmx, else a page).
func (s *Server) uiCustomerEdit(c *echo.Context) error {
	cu, err := s.pathCustomer(c)
	if err != nil {
		return err
	}
	return s.showForm(c, http.StatusOK, cu, s.formOf(c, cu))
}

func (s *Server) showForm(c *echo.Context, status int, cu core.Customer, f custForm) error {
	p := Page{Title: "Edit " + safeText(cu.DisplayName()), Nav: "customers", Data: f}
	if f.ID == 0 {
		p.Title = "New customer"
		return s.render(c, status, "customer_edit", p)
	}
	if wantsFragment(c) {
		f.Inline = true
		p.Data = f
		return s.fragment(c, status, "customer", "cust-form-frag", p)
	}
	return s.render(c, status, "customer_edit", p)
}

// POST /customers/:id saves the profile form.
func (s *Server) uiCustomerSave(c *echo.Context) error {
	stored, err := s.pathCustomer(c)
	if err != nil {
		return err
	}
	id := stored.ID
	f, patch, err := s.readForm(c, stored)
	var saved core.Customer
	if err == nil {
		saved, err = s.svc.UpdateCustomer(ctx(c), id, patch, sourceOf(c))
	}
	if err != nil {
		if status, ok := formFailed(&f, err); ok {
			return s.showForm(c, status, stored, f)
		}
		return err
	}
	stored = saved
	auditDetail(c, "profile edited in the web UI")
	if !wantsFragment(c) {
		return seeOther(c, "/customers/"+id.String()+"?saved=1")
	}
	prof := profileOf(stored, true)
	head := headOf(&stored)
	prof.OOBHead, prof.JustSaved = &head, true
	return s.fragment(c, http.StatusOK, "customer", "cust-profile-frag", Page{Data: prof})
}

// GET /customers/new
func (s *Server) uiCustomerNew(c *echo.Context) error {
	return s.showForm(c, http.StatusOK, core.Customer{}, s.formOf(c, core.Customer{}))
}

// POST /customers creates a customer from the form.
func (s *Server) uiCustomerCreate(c *echo.Context) error {
	f, patch, err := s.readForm(c, core.Customer{})
	if err == nil {
		cu := core.Customer{Name: *patch.Name, ExternalID: *patch.ExternalID, Emails: *patch.Emails, Phones: *patch.Phones,
			Tags: *patch.Tags, Locale: *patch.Locale, TimeZone: *patch.TimeZone, Address: *patch.Address}
		for k, v := range patch.Attributes {
			if v != nil {
				if cu.Attributes == nil {
					cu.Attributes = map[string]any{}
				}
				cu.Attributes[k] = v
			}
		}
		for ch, cs := range patch.Consent {
			if cu.Consent == nil {
				cu.Consent = map[core.Channel]core.Consent{}
			}
			cu.Consent[ch] = *cs
		}
		var created core.Customer
		if created, err = s.svc.CreateCustomer(ctx(c), cu); err == nil {
			auditDetail(c, "customer "+created.ID.String()+" created in the web UI")
			return seeOther(c, "/customers/"+created.ID.String())
		}
	}
	if status, ok := formFailed(&f, err); ok {
		return s.showForm(c, status, core.Customer{}, f)
	}
	return err
}

// custErase is the data of pages/customer_erase.html.
type custErase struct {
	ID           core.ID
	Name         string
	Interactions int
	More         bool
}

// GET /customers/:id/erase asks for confirmation.
func (s *Server) uiCustomerEraseConfirm(c *echo.Context) error {
	cu, err := s.pathCustomer(c)
	if err != nil {
		return err
	}
	id := cu.ID
	page, err := s.store.Timeline(ctx(c), id, core.TimelineQuery{Limit: 1000})
	if err != nil {
		return err
	}
	d := custErase{ID: id, Name: cu.DisplayName(), Interactions: len(page.Items), More: page.Next != ""}
	return s.render(c, http.StatusOK, "customer_erase", Page{Title: "Erase " + safeText(cu.DisplayName()), Nav: "customers", Data: d})
}

// POST /customers/:id/erase erases the customer and their history.
func (s *Server) uiCustomerErase(c *echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		return core.FieldErr("confirm", "tick the box to confirm the erasure")
	}
	if err := s.svc.EraseCustomer(ctx(c), id); err != nil {
		return err
	}
	auditDetail(c, "customer and history erased from the web UI")
	return seeOther(c, "/customers?erased=1")
}
