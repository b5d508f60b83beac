package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

func sendKey(t *testing.T, body string) string {
	t.Helper()
	if i := strings.Index(body, `id="send-message"`); i >= 0 {
		body = body[i:] // the note form has a key of its own
	}
	m := regexp.MustCompile(`name="key" value="(ui-[0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no one-time key in the form")
	}
	return m[1]
}

func TestSendMessageFromCustomerPage(t *testing.T) {
	a := newMsgApp(t, true)
	ctx := context.Background()
	ann := a.ids["ann"].String()
	agent := custUI_signIn(t, a.app, core.RoleAgent)

	page := agent.get(t, "/customers/"+ann, nil).Body.String()
	for _, want := range []string{`id="send-message"`, `<option value="hook" selected>hook</option>`, "hook: no consent recorded",
		`href="#send-message"`, `id="messages-list"`, "No messages yet."} {
		if !strings.Contains(page, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
	key := sendKey(t, page)

	// Refusals keep the form as typed, at the field, and store nothing.
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"channel": {"hook"}, "text": {"  "}}, "text"},
		{url.Values{"channel": {"pigeon"}, "text": {"hi"}}, "channel"},
		{url.Values{"channel": {"hook"}, "text": {"hi"}, "subject": {"two\nlines"}}, "subject"},
	} {
		tc.form.Set("key", key)
		rec := agent.post(t, "/customers/"+ann+"/messages", tc.form, true, true)
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), `id="`+tc.field+`-error"`) || !strings.Contains(rec.Body.String(), key) {
			t.Errorf("%v: %d %s", tc.form, rec.Code, rec.Body)
		}
	}
	if p, _ := a.box.List(ctx, core.OutboxQuery{}); len(p.Items) != 0 {
		t.Fatalf("a refused form stored %d messages", len(p.Items))
	}

	// Sent twice with the same form: one message.
	subject := msgHostile[0] + msgHostile[1]
	form := url.Values{"channel": {"hook"}, "subject": {subject}, "text": {"Your order " + msgHostile[2]}, "key": {key}}
	rec := agent.post(t, "/customers/"+ann+"/messages", form, true, true)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "In the outbox") || !strings.Contains(rec.Body.String(), `<hx-partial hx-target="#messages-list"`) {
		t.Fatalf("send: %d %s", rec.Code, rec.Body)
	}
	msgCheckEscaped(t, rec.Body.String())
	if sendKey(t, rec.Body.String()) == key {
		t.Error("the fresh form reuses the key")
	}
	rec = agent.post(t, "/customers/"+ann+"/messages", form, true, true)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Already in the outbox") || strings.Contains(rec.Body.String(), "hx-partial") {
		t.Errorf("double submit: %d %s", rec.Code, rec.Body)
	}
	if rec := agent.post(t, "/customers/"+ann+"/messages", form, true, false); rec.Code != 303 ||
		rec.Header().Get("Location") != "/customers/"+ann+"?sent=1#messages" {
		t.Errorf("plain form: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	p, _ := a.box.List(ctx, core.OutboxQuery{})
	if len(p.Items) != 1 || p.Items[0].Subject != subject || !strings.HasPrefix(p.Items[0].Source, "user:") ||
		p.Items[0].IdempotencyKey != "ui:"+ann+":"+key {
		t.Fatalf("stored %+v", p.Items)
	}
	// The same form key for another customer is another message.
	bob := a.ids["bob"].String()
	if rec := agent.post(t, "/customers/"+bob+"/messages", form, true, true); rec.Code != 200 || strings.Contains(rec.Body.String(), "Already") {
		t.Errorf("other customer: %d", rec.Code)
	}

	// Once the worker sent it, it is on the timeline and in the list, escaped.
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, _ := a.box.Get(ctx, p.Items[0].ID)
		if m.State == core.MessageSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not sent: %+v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.catchUp()
	page = agent.get(t, "/customers/"+ann, nil).Body.String()
	if !strings.Contains(page, `badge msg-sent`) || !strings.Contains(page, "message_sent") {
		t.Errorf("after sending: no sent message in the list or timeline")
	}
	msgCheckEscaped(t, page)
	if strings.Contains(page, `/admin/outbox?customer_id=`) {
		t.Error("an agent gets a link to the outbox")
	}

	// A withdrawn consent is shown as a warning; no channel: a note, no form.
	if _, err := a.svc.UpdateCustomer(ctx, a.ids["ann"], core.CustomerPatch{Consent: map[core.Channel]*core.Consent{
		"hook": {Granted: false, At: time.Now().UTC(), Source: "test"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	if page := agent.get(t, "/customers/"+ann, nil).Body.String(); !strings.Contains(page, "consent withdrawn") {
		t.Error("withdrawn consent not shown")
	}
	a.host.mu.Lock()
	a.host.channels = nil
	a.host.mu.Unlock()
	page = agent.get(t, "/customers/"+ann, nil).Body.String()
	if !strings.Contains(page, "No channel is running") || strings.Contains(page, `id="send-channel"`) {
		t.Error("no channel: no note, or a form anyway")
	}
	// A viewer sees the messages but no form.
	viewer := custUI_signIn(t, a.app, core.RoleViewer)
	page = viewer.get(t, "/customers/"+ann, nil).Body.String()
	if strings.Contains(page, `id="send-message"`) || !strings.Contains(page, `id="messages-list"`) {
		t.Error("viewer: form shown or messages hidden")
	}
}

func TestOutboxPage(t *testing.T) {
	a := newMsgApp(t, false) // no delivery: messages stay queued
	ctx := context.Background()
	var ids []core.ID
	for i, subj := range append([]string{"plain"}, msgHostile...) {
		m, _, err := a.box.Enqueue(ctx, core.OutboxMessage{Channel: "hook", CustomerID: a.ids["ann"], IdempotencyKey: "k" + string(rune('a'+i)),
			Subject: strings.ToValidUTF8(strings.ReplaceAll(subj, "\n", ""), ""), Text: "t"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	mgr := custUI_signIn(t, a.app, core.RoleManager)
	rec := mgr.get(t, "/admin/outbox", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<span class="num">6</span><span>queued</span>`) || !strings.Contains(body, "Ann Example") ||
		!strings.Contains(body, `hx-post="/admin/outbox/`+ids[0].String()+`/cancel"`) {
		t.Fatalf("outbox page: %d %s", rec.Code, body)
	}
	msgCheckEscaped(t, body)
	if strings.Contains(body, `href="/admin/users"`) {
		t.Error("a manager sees admin links")
	}

	// Cancel through htmx swaps the row; cancelling again is a conflict
	// shown in the row; retry queues it again.
	rec = mgr.post(t, "/admin/outbox/"+ids[0].String()+"/cancel", nil, true, true)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "msg-cancelled") || !strings.Contains(rec.Body.String(), "/retry") ||
		strings.Contains(rec.Body.String(), "<html") {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	rec = mgr.post(t, "/admin/outbox/"+ids[0].String()+"/cancel", nil, true, true)
	if rec.Code != 409 || !strings.Contains(rec.Body.String(), "only a queued message") {
		t.Errorf("cancel twice: %d %s", rec.Code, rec.Body)
	}
	if rec := mgr.post(t, "/admin/outbox/"+ids[0].String()+"/retry", nil, true, false); rec.Code != 303 {
		t.Errorf("retry: %d", rec.Code)
	}
	if m, _ := a.box.Get(ctx, ids[0]); m.State != core.MessageQueued {
		t.Errorf("after retry: %s", m.State)
	}
	for _, bad := range []string{"/admin/outbox/999999/retry", "/admin/outbox/x/cancel"} {
		if rec := mgr.post(t, bad, nil, true, false); rec.Code != 404 {
			t.Errorf("%s: %d", bad, rec.Code)
		}
	}

	// Filters and paging.
	if body := mgr.get(t, "/admin/outbox?state=cancelled", nil).Body.String(); !strings.Contains(body, "No messages match") {
		t.Error("state filter")
	}
	if rec := mgr.get(t, "/admin/outbox?state=bogus", nil); rec.Code != 400 {
		t.Errorf("bad state: %d", rec.Code)
	}
	page1 := mgr.get(t, "/admin/outbox?limit=2", nil).Body.String()
	m := regexp.MustCompile(`href="(/admin/outbox\?[^"]*cursor=[^"]+)"`).FindStringSubmatch(page1)
	if m == nil {
		t.Fatal("no next page link")
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	if rec := mgr.get(t, next, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Newest") {
		t.Errorf("next page: %d", rec.Code)
	}
	if rec := mgr.get(t, "/admin/outbox?customer_id="+a.ids["bob"].String(), nil); !strings.Contains(rec.Body.String(), "No messages match") {
		t.Error("customer filter")
	}
}

func TestOutboxAPI(t *testing.T) {
	a := newMsgApp(t, false)
	ann := a.ids["ann"].String()
	body := `{"channel":"hook","idempotency_key":"order-7-thanks","subject":"Thanks","text":"Thank you"}`
	rec := a.do("POST", "/api/v1/customers/"+ann+"/messages", "sender", strings.NewReader(body), nil)
	if rec.Code != 201 || rec.Header().Get("Location") == "" {
		t.Fatalf("send: %d %s", rec.Code, rec.Body)
	}
	if rec := a.do("POST", "/api/v1/customers/"+ann+"/messages", "sender", strings.NewReader(body), nil); rec.Code != 200 {
		t.Errorf("duplicate: %d", rec.Code)
	}
	withCust := `{"channel":"hook","customer_id":"` + a.ids["bob"].String() + `","idempotency_key":"x2","text":"hi"}`
	if rec := a.do("POST", "/api/v1/outbox", "sender", strings.NewReader(withCust), nil); rec.Code != 201 {
		t.Errorf("enqueue: %d %s", rec.Code, rec.Body)
	}
	for _, tc := range []struct{ path, body, field string }{
		{"/api/v1/outbox", `{"channel":"hook","idempotency_key":"x3","text":"hi"}`, "customer_id"},
		{"/api/v1/outbox", `{"channel":"hook","customer_id":"` + ann + `","text":"hi"}`, "idempotency_key"},
		{"/api/v1/outbox", `{"channel":"HOOK!","customer_id":"` + ann + `","idempotency_key":"x4","text":"hi"}`, "channel"},
		{"/api/v1/outbox", `{"channel":"hook","customer_id":"` + ann + `","idempotency_key":"x5"}`, "text"},
		{"/api/v1/outbox", `{"channel":"hook","customer_id":"` + ann + `","idempotency_key":"x6","text":"hi","to":{"email":"x@evil"}}`, "to"},
		{"/api/v1/customers/" + ann + "/messages", `{"channel":"hook","customer_id":"` + a.ids["bob"].String() + `","idempotency_key":"x7","text":"hi"}`, "customer_id"},
		{"/api/v1/outbox", `{"channel":"hook","customer_id":"` + ann + `","idempotency_key":"x8","text":"hi","headers":{"Bad Name":"v"}}`, "headers"},
	} {
		rec := a.do("POST", tc.path, "sender", strings.NewReader(tc.body), nil)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"`+tc.field) {
			t.Errorf("%s: %d %s", tc.body, rec.Code, rec.Body)
		}
	}
	if rec := a.do("POST", "/api/v1/outbox", "sender", strings.NewReader(`{"channel":"hook","customer_id":"999999","idempotency_key":"x9","text":"hi"}`), nil); rec.Code != 404 {
		t.Errorf("unknown customer: %d", rec.Code)
	}

	rec = a.do("GET", "/api/v1/outbox?state=queued&channel=hook&limit=1", "outbox", nil, nil)
	page := decode[core.Page[core.OutboxMessage]](t, rec)
	if rec.Code != 200 || len(page.Items) != 1 || page.Next == "" {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	id := page.Items[0].ID.String()
	if rec := a.do("GET", "/api/v1/outbox/"+id, "outbox", nil, nil); rec.Code != 200 {
		t.Errorf("get: %d", rec.Code)
	}
	if rec := a.do("POST", "/api/v1/outbox/"+id+"/retry", "outbox", nil, nil); rec.Code != 409 {
		t.Errorf("retry queued: %d", rec.Code)
	}
	if rec := a.do("POST", "/api/v1/outbox/"+id+"/cancel", "outbox", nil, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"cancelled"`) {
		t.Errorf("cancel: %d %s", rec.Code, rec.Body)
	}
	if rec := a.do("POST", "/api/v1/outbox/"+id+"/retry", "outbox", nil, nil); rec.Code != 200 {
		t.Errorf("retry: %d", rec.Code)
	}
	for _, q := range []string{"state=nope", "limit=5000", "limit=x", "customer_id=abc"} {
		if rec := a.do("GET", "/api/v1/outbox?"+q, "outbox", nil, nil); rec.Code != 400 {
			t.Errorf("%s: %d", q, rec.Code)
		}
	}
	if rec := a.do("GET", "/api/v1/outbox", "sender", nil, nil); rec.Code != 403 {
		t.Errorf("sender reads the outbox: %d", rec.Code)
	}
}
