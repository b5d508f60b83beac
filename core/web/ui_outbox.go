package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/retain-crm/retain/core"
)

// The outbox page (/admin/outbox, managers) and the customer page's
// "Send a message" form and messages list. Messages go through the same
// outbox.Service as the API; the outbox records the outcome on the
// customer's timeline once a channel has sent it.

// outboxPage is /admin/outbox.
type outboxPage struct {
	Off      bool
	Counts   core.OutboxCounts
	States   []core.MessageState
	Channels []string // for the filter: running channels and those with queued messages
	State    string
	Channel  string
	Customer string
	Rows     []outboxRow
	NextURL  string
	AtStart  bool
}

// outboxRow is one message with its customer's name.
type outboxRow struct {
	M            core.OutboxMessage
	CustomerName string // "" when the customer is gone (erased)
	Note         string // a refusal to show in the row (htmx)
	CSRF         string
}

var outboxFlashes = map[string]string{
	"retried":   "The message is queued again.",
	"cancelled": "The message was cancelled.",
}

// GET /admin/outbox
func (s *Server) uiOutbox(c *echo.Context) error {
	d := outboxPage{Off: s.box == nil, States: core.MessageStates}
	if !d.Off {
		q, err := outboxQuery(c)
		if err != nil {
			return err
		}
		d.State, d.Channel, d.AtStart = string(q.State), q.Channel, q.Cursor == ""
		if q.CustomerID != 0 {
			d.Customer = q.CustomerID.String()
		}
		if d.Counts, err = s.box.Counts(ctx(c)); err != nil {
			return err
		}
		page, err := s.box.List(ctx(c), q)
		if err != nil {
			return err
		}
		d.Rows = s.outboxRows(c, page.Items)
		if page.Next != "" {
			v := url.Values{"cursor": {page.Next}}
			for k, x := range map[string]string{"state": d.State, "channel": d.Channel, "customer_id": d.Customer} {
				if x != "" {
					v.Set(k, x)
				}
			}
			d.NextURL = "/admin/outbox?" + v.Encode()
		}
		d.Channels = s.box.Channels()
		for ch := range d.Counts.QueuedBy {
			if !slices.Contains(d.Channels, ch) {
				d.Channels = append(d.Channels, ch)
			}
		}
		slices.Sort(d.Channels)
	}
	return s.render(c, http.StatusOK, "admin_outbox", Page{Title: "Outbox", Nav: "outbox", Data: d,
		Flash: outboxFlashes[c.QueryParam("done")]})
}

func (s *Server) outboxRows(c *echo.Context, ms []core.OutboxMessage) []outboxRow {
	names := map[core.ID]string{}
	rows := make([]outboxRow, 0, len(ms))
	for _, m := range ms {
		name, ok := names[m.CustomerID]
		if !ok {
			if cu, err := s.svc.GetCustomer(ctx(c), m.CustomerID); err == nil {
				name = cu.DisplayName()
			}
			names[m.CustomerID] = name
		}
		rows = append(rows, outboxRow{M: m, CustomerName: name, CSRF: csrfOf(c)})
	}
	return rows
}

// POST /admin/outbox/:id/retry and /cancel — htmx swaps the row; a plain
// form comes back to the list.
func (s *Server) uiOutboxRetry(c *echo.Context) error {
	return s.uiOutboxChange(c, "retried", func(id core.ID) (core.OutboxMessage, error) { return s.box.Retry(ctx(c), id, actor(c)) })
}

func (s *Server) uiOutboxCancel(c *echo.Context) error {
	return s.uiOutboxChange(c, "cancelled", func(id core.ID) (core.OutboxMessage, error) { return s.box.Cancel(ctx(c), id, actor(c)) })
}

func (s *Server) uiOutboxChange(c *echo.Context, done string, fn func(core.ID) (core.OutboxMessage, error)) error {
	if s.box == nil {
		return errNoOutbox
	}
	id, err := pathID(c, "id")
	if err != nil {
		return core.NotFoundf("no such message")
	}
	m, err := fn(id)
	if errors.Is(err, core.ErrConflict) && wantsFragment(c) {
		// Someone else (or a worker) got there first: show the row as it is now.
		cur, gerr := s.box.Get(ctx(c), id)
		if gerr != nil {
			return err
		}
		row := s.outboxRows(c, []core.OutboxMessage{cur})[0]
		row.Note = fieldMessage(err)
		return s.fragment(c, http.StatusConflict, "admin_outbox", "outbox-row", Page{Data: row})
	}
	if err != nil {
		return err
	}
	auditDetail(c, done+": message to customer "+m.CustomerID.String()+" on "+m.Channel)
	if wantsFragment(c) {
		return s.fragment(c, http.StatusOK, "admin_outbox", "outbox-row", Page{Data: s.outboxRows(c, []core.OutboxMessage{m})[0]})
	}
	back := "/admin/outbox?done=" + done
	if ref := c.FormValue("back"); strings.HasPrefix(ref, "/admin/outbox?") || ref == "/admin/outbox" {
		back = ref
	}
	return seeOther(c, back)
}

// sendForm is the customer page's "Send a message" form.
type sendForm struct {
	CustomerID core.ID
	CSRF       string
	Off        bool     // no outbox on this server
	Channels   []string // the running channels
	Channel    string
	Subject    string
	Text       string
	Key        string // one-time key: a double submit sends once
	Consent    []consentRow
	Fields     map[string]string
	Error      string
	Sent       *core.OutboxMessage // set after a send, for the htmx answer
	Duplicate  bool
}

// custMessages is the customer page's list of their latest messages.
type custMessages struct {
	CustomerID core.ID
	Off        bool
	Items      []core.OutboxMessage
	More       bool
	CanOutbox  bool
}

const custMessagesShown = 10

func newFormKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "ui-" + hex.EncodeToString(b[:])
}

func (s *Server) newSendForm(c *echo.Context, cu core.Customer) sendForm {
	f := sendForm{CustomerID: cu.ID, CSRF: csrfOf(c), Off: s.box == nil, Key: newFormKey(), Fields: map[string]string{}}
	if s.box != nil {
		f.Channels = slices.Sorted(slices.Values(s.box.Channels()))
	}
	if len(f.Channels) > 0 {
		f.Channel = f.Channels[0]
	}
	for _, ch := range f.Channels {
		f.Consent = append(f.Consent, consentOf(core.Channel(ch), cu.Consent))
	}
	return f
}

// customerMessages lists the customer's latest messages (nil without an outbox).
func (s *Server) customerMessages(c *echo.Context, id core.ID) custMessages {
	d := custMessages{CustomerID: id, Off: s.box == nil}
	if me := callerUser(c); me != nil {
		d.CanOutbox = core.RoleAllows(me.Role, core.ScopeOutbox)
	}
	if s.box == nil {
		return d
	}
	page, err := s.box.List(ctx(c), core.OutboxQuery{CustomerID: id, Limit: custMessagesShown})
	if err != nil {
		s.log.Warn("could not list a customer's messages", "customer", id, "error", err)
		return d
	}
	d.Items, d.More = page.Items, page.Next != ""
	return d
}

// POST /customers/:id/messages — the "Send a message" form.
func (s *Server) uiSendMessage(c *echo.Context) error {
	if s.box == nil {
		return errNoOutbox
	}
	cu, err := s.pathCustomer(c)
	if err != nil {
		return err
	}
	f := s.newSendForm(c, cu)
	f.Channel, f.Subject, f.Text = strings.TrimSpace(c.FormValue("channel")), c.FormValue("subject"), c.FormValue("text")
	key := c.FormValue("key")
	if len(key) > 100 || !strings.HasPrefix(key, "ui-") {
		key = f.Key
	} else {
		f.Key = key // shown again with an error: the retry is still the same message
	}
	fail := func(status int) error {
		f.Subject, f.Text, f.Channel = safeText(f.Subject), strings.ToValidUTF8(f.Text, "\uFFFD"), safeText(f.Channel)
		if wantsFragment(c) {
			return s.fragment(c, status, "customer", "cust-send-frag", Page{Data: f})
		}
		return s.render(c, status, "customer_message", Page{Title: "Send a message", Nav: "customers", Data: f})
	}
	if !slices.Contains(f.Channels, f.Channel) {
		f.Fields["channel"] = "Choose a channel that is running."
		return fail(http.StatusUnprocessableEntity)
	}
	if strings.TrimSpace(f.Text) == "" {
		f.Fields["text"] = "Write the message first."
		return fail(http.StatusUnprocessableEntity)
	}
	m := core.OutboxMessage{Channel: f.Channel, CustomerID: cu.ID, Subject: f.Subject, Text: f.Text,
		// The form's key, under the customer: the same form posted twice
		// is one message, and a key cannot reach another customer's.
		IdempotencyKey: "ui:" + cu.ID.String() + ":" + key}
	out, dup, err := s.box.Enqueue(ctx(c), m, messageSource(c))
	if err != nil {
		if field := core.ErrorField(err); field != "" && errors.Is(err, core.ErrInvalid) {
			if field != "channel" && field != "subject" && field != "text" {
				f.Error = fieldMessage(err)
			} else {
				f.Fields[field] = fieldMessage(err)
			}
			return fail(http.StatusUnprocessableEntity)
		}
		return err
	}
	if dup {
		auditDetail(c, "same form sent again: message "+out.ID.String()+" already queued")
	} else {
		auditDetail(c, "message "+out.ID.String()+" on "+out.Channel)
	}
	if !wantsFragment(c) {
		return seeOther(c, "/customers/"+cu.ID.String()+"?sent=1#messages")
	}
	fresh := s.newSendForm(c, cu)
	fresh.Channel = f.Channel
	fresh.Sent, fresh.Duplicate = &out, dup
	return s.fragment(c, http.StatusOK, "customer", "cust-send-frag", Page{Data: fresh})
}
