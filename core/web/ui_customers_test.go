package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
)

// custUIClient is a signed-in browser: the session cookie and its CSRF token.
type custUIClient struct {
	a      *app
	cookie *http.Cookie
	csrf   string
}

var custUIHashes = map[core.Role]string{}

// custUI_signIn creates a user with role and signs in through POST /signin,
// as a browser would.
func custUI_signIn(t testing.TB, a *app, role core.Role) *custUIClient {
	t.Helper()
	ctx := context.Background()
	email := fmt.Sprintf("%s-%d@staff.example.com", role, time.Now().UnixNano())
	hash := custUIHashes[role]
	if hash == "" {
		var err error
		if hash, err = auth.HashPassword("correct horse " + string(role)); err != nil {
			t.Fatal(err)
		}
		custUIHashes[role] = hash
	}
	if _, err := a.db.CreateUser(ctx, core.User{Email: email, Name: "Staff " + string(role), Role: role, PasswordHash: hash,
		CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"email": {email}, "password": {"correct horse " + string(role)}}
	req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d %s", role, rec.Code, truncate(rec.Body.String()))
	}
	cl := &custUIClient{a: a}
	for _, ck := range rec.Result().Cookies() {
		if strings.Contains(ck.Name, "retain_session") {
			cl.cookie = ck
		}
	}
	if cl.cookie == nil {
		t.Fatal("no session cookie")
	}
	page := cl.get(t, "/", nil)
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("no csrf meta: %s", truncate(page.Body.String()))
	}
	cl.csrf = html.UnescapeString(m[1])
	return cl
}

func (cl *custUIClient) do(t testing.TB, method, path string, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, cl.a.expand(path), body)
	req.AddCookie(cl.cookie)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	cl.a.h.ServeHTTP(rec, req)
	return rec
}

func (cl *custUIClient) get(t testing.TB, path string, header map[string]string) *httptest.ResponseRecorder {
	return cl.do(t, "GET", path, nil, header)
}

// post sends a form; withCSRF puts the token in the form (a plain form) and
// htmx adds HX-Request with the token in the header instead.
func (cl *custUIClient) post(t testing.TB, path string, form url.Values, withCSRF, htmx bool) *httptest.ResponseRecorder {
	t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if withCSRF {
		if htmx {
			h["X-CSRF-Token"] = cl.csrf
		} else {
			f.Set("csrf_token", cl.csrf)
		}
	}
	if htmx {
		h["HX-Request"] = "true"
	}
	return cl.do(t, "POST", path, strings.NewReader(f.Encode()), h)
}

var hx = map[string]string{"HX-Request": "true"}

func TestCustomerPagesRender(t *testing.T) {
	a := newApp(t)
	v := custUI_signIn(t, a, core.RoleViewer)
	for _, tc := range []struct {
		name, path string
		header     map[string]string
		has        []string
		hasNot     []string
	}{
		{"list", "/customers", nil, []string{"Ann Example", "Bob Builder", `data-search-primary`, `data-results-for="customer-results-list"`,
			`id="customer-results-list" data-results`, `data-result>`, "Segments arrive with analytics", `hx-replace-url="true"`, "2 customers"},
			[]string{"New customer"}},
		{"list by tag", "/customers?tag=vip", nil, []string{"Ann Example"}, []string{"Bob Builder"}},
		{"search page", "/customers?q=ann", nil, []string{"<mark>Ann</mark> Example", `value="ann"`}, []string{"Bob Builder"}},
		{"search fragment", "/customers?q=bui", hx, []string{"Bob <mark>Builder</mark>", "customer-results-list"}, []string{"<html", "Ann Example"}},
		{"history restore gets the page", "/customers?q=bui", map[string]string{"HX-Request": "true", "HX-History-Restore-Request": "true"}, []string{"<html", "Bob"}, nil},
		{"last seen filter", "/customers?seen=36500", nil, []string{"Ann Example", "Bob Builder", "2 seen in that time among 2 customers looked at"}, nil},
		{"last seen filter with text", "/customers?seen=36500&before=2025-03-03&q=ex", nil, []string{"Ann <mark>Ex"}, []string{"Bob"}},
		{"seen before", "/customers?before=2025-03-03", nil, []string{"Ann Example"}, []string{"Bob Builder"}},
		{"bad sort", "/customers?sort=seen", nil, []string{`id="sort-error"`}, nil},
		{"bad tag in place", "/customers?tag=%3Cb%3E", nil, []string{`aria-invalid="true" aria-describedby="tag-error"`, `id="tag-error"`}, nil},
		{"bad tag in the fragment", "/customers?tag=%3Cb%3E", hx, []string{`<p class="alert" role="alert">tag &#34;&lt;b&gt;&#34; may hold only`}, []string{"<html"}},
		{"bad cursor", "/customers?cursor=zzzz", nil, []string{`id="cursor-error"`}, nil},
		{"customer", "/customers/{ann}", nil, []string{"Ann Example", "ann@example.com", "first seen", "Total spent", "19.99 EUR",
			"Green tea pack", "oolong", `id="timeline"`, "Churn risk and lifetime value", "Loyalty", "Campaigns", "Plugin panels", "vip"},
			[]string{"Erase…", `href="/customers/{ann}/edit"`, "data-shortcut-note"}},
		{"timeline type filter", "/customers/{ann}/timeline?type=note", hx, []string{"oolong"}, []string{"Green tea pack", "<html"}},
		{"timeline search", "/customers/{ann}/timeline?q=oolong", hx, []string{"<mark>oolong</mark>", "1 entry matches"}, []string{"Green tea pack"}},
		{"timeline without htmx goes to the page", "/customers/{ann}/timeline?type=note", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := v.get(t, tc.path, tc.header)
			want := http.StatusOK
			if strings.HasPrefix(tc.name, "bad") {
				want = http.StatusBadRequest
			}
			if tc.name == "timeline without htmx goes to the page" {
				want = http.StatusSeeOther
			}
			if rec.Code != want {
				t.Fatalf("%s: %d %s", tc.path, rec.Code, truncate(rec.Body.String()))
			}
			body := rec.Body.String()
			for _, s := range tc.has {
				if !strings.Contains(strings.ToLower(body), strings.ToLower(a.expand(s))) {
					t.Errorf("lacks %q: %s", s, truncate(body))
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(body, a.expand(s)) {
					t.Errorf("has %q", s)
				}
			}
			custUI_checkSafe(t, body)
		})
	}
	// An agent sees the write controls, a manager the erase button.
	ag := custUI_signIn(t, a, core.RoleAgent)
	body := ag.get(t, "/customers/{ann}", nil).Body.String()
	for _, s := range []string{`href="/customers/` + a.ids["ann"].String() + `/edit"`, "data-shortcut-note", `name="csrf_token"`} {
		if !strings.Contains(body, s) {
			t.Errorf("agent page lacks %q", s)
		}
	}
	if strings.Contains(body, "Erase…") {
		t.Error("agent sees erase")
	}
	mg := custUI_signIn(t, a, core.RoleManager)
	if body := mg.get(t, "/customers/{ann}", nil).Body.String(); !strings.Contains(body, "Erase…") {
		t.Error("manager lacks erase")
	}
	if rec := v.get(t, "/customers/999999", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown customer: %d", rec.Code)
	}
	if rec := ag.get(t, "/customers/new", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Create customer") {
		t.Errorf("new page: %d", rec.Code)
	}
	if rec := ag.get(t, "/customers/{ann}/edit", hx); rec.Code != 200 || strings.Contains(rec.Body.String(), "<html") || !strings.Contains(rec.Body.String(), `hx-post="/customers/`) {
		t.Errorf("edit fragment: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if rec := ag.get(t, "/customers/{ann}/edit", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "<html") || strings.Contains(rec.Body.String(), `hx-post="/customers/`) {
		t.Errorf("edit page: %d", rec.Code)
	}
}

func TestCustomerWritesByRole(t *testing.T) {
	a := newApp(t)
	viewer := custUI_signIn(t, a, core.RoleViewer)
	agent := custUI_signIn(t, a, core.RoleAgent)
	manager := custUI_signIn(t, a, core.RoleManager)
	edit := url.Values{"name": {"Ann Changed"}, "emails": {"ann@example.com"}, "tags": {"vip, tea"}, "consent.email": {"granted"},
		"consent.sms": {""}, "consent.push": {""}, "consent.messenger": {""}, "new_attr_key": {"plan"}, "new_attr_val": {"gold"}}
	note := url.Values{"type": {"note"}, "text": {"called back about the order"}}

	// Refused: the viewer (403) and anyone without the CSRF token (403);
	// nothing changes.
	before := a.snapshot()
	for _, tc := range []struct {
		name string
		cl   *custUIClient
		path string
		form url.Values
		csrf bool
		htmx bool
	}{
		{"viewer edit", viewer, "/customers/{ann}", edit, true, false},
		{"viewer edit htmx", viewer, "/customers/{ann}", edit, true, true},
		{"viewer note", viewer, "/customers/{ann}/interactions", note, true, true},
		{"viewer create", viewer, "/customers", url.Values{"name": {"X"}}, true, false},
		{"viewer erase", viewer, "/customers/{ann}/erase", url.Values{"confirm": {"yes"}}, true, false},
		{"agent erase", agent, "/customers/{ann}/erase", url.Values{"confirm": {"yes"}}, true, false},
		{"agent edit no csrf", agent, "/customers/{ann}", edit, false, false},
		{"agent edit htmx no csrf", agent, "/customers/{ann}", edit, false, true},
		{"agent note no csrf", agent, "/customers/{ann}/interactions", note, false, false},
		{"agent create no csrf", agent, "/customers", url.Values{"name": {"X"}}, false, false},
		{"manager erase no csrf", manager, "/customers/{ann}/erase", url.Values{"confirm": {"yes"}}, false, false},
	} {
		rec := tc.cl.post(t, tc.path, tc.form, tc.csrf, tc.htmx)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403: %s", tc.name, rec.Code, truncate(rec.Body.String()))
		}
	}
	if rec := viewer.get(t, "/customers/new", nil); rec.Code != http.StatusForbidden {
		t.Errorf("viewer new page: %d", rec.Code)
	}
	if rec := viewer.get(t, "/customers/{ann}/edit", nil); rec.Code != http.StatusForbidden {
		t.Errorf("viewer edit page: %d", rec.Code)
	}
	if rec := agent.get(t, "/customers/{ann}/erase", nil); rec.Code != http.StatusForbidden {
		t.Errorf("agent erase page: %d", rec.Code)
	}
	if a.snapshot() != before {
		t.Fatal("a refused request changed data")
	}

	// Allowed for the agent: edit (plain form, then htmx), note, create.
	rec := agent.post(t, "/customers/{ann}", edit, true, false)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != a.expand("/customers/{ann}?saved=1") {
		t.Fatalf("edit: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	cu, _ := a.db.GetCustomer(context.Background(), a.ids["ann"])
	if cu.Name != "Ann Changed" || cu.Attributes["plan"] != "gold" || !cu.HasConsent(core.ChannelEmail) || len(cu.Tags) != 2 ||
		cu.Consent[core.ChannelEmail].Source != "" && !strings.Contains(cu.Consent[core.ChannelEmail].Source, "agent-") {
		t.Errorf("saved %+v", cu)
	}
	edit2 := url.Values{"name": {"Ann Again"}, "emails": {"ann@example.com"}, "tags": {"vip"}, "consent.email": {"withdrawn"},
		"attr_key": {"plan"}, "attr_val": {"silver"}}
	rec = agent.post(t, "/customers/{ann}", edit2, true, true)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="profile"`) || !strings.Contains(rec.Body.String(), "silver") ||
		!strings.Contains(rec.Body.String(), `<hx-partial hx-target="#cust-head"`) || strings.Contains(rec.Body.String(), "<html") {
		t.Errorf("htmx edit: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	rec = agent.post(t, "/customers/{ann}/interactions", note, true, true)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<hx-partial hx-target="#timeline" hx-swap="afterbegin">`) ||
		!strings.Contains(rec.Body.String(), "called back about the order") || !strings.Contains(rec.Body.String(), "data-shortcut-note") {
		t.Errorf("note: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	rec = agent.post(t, "/customers/{ann}/interactions", url.Values{"type": {"call"}, "text": {"no answer"}, "key": {"ui-fixed"}}, true, false)
	if rec.Code != http.StatusSeeOther {
		t.Errorf("call: %d", rec.Code)
	}
	agent.post(t, "/customers/{ann}/interactions", url.Values{"type": {"call"}, "text": {"no answer"}, "key": {"ui-fixed"}}, true, false)
	tl, _ := a.db.Timeline(context.Background(), a.ids["ann"], core.TimelineQuery{Types: []core.InteractionType{core.TypeNote, core.TypeCall}})
	if len(tl.Items) != 3 || tl.Items[0].Type != core.TypeCall || tl.Items[0].Properties["by"] == "" {
		t.Errorf("timeline after note and call (a double submit stores one): %+v", tl.Items)
	}
	rec = agent.post(t, "/customers", url.Values{"name": {"Cleo New"}, "emails": {"cleo@example.com"}}, true, false)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/customers/") {
		t.Fatalf("create: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if got := agent.get(t, rec.Header().Get("Location"), nil); got.Code != 200 || !strings.Contains(got.Body.String(), "Cleo New") {
		t.Errorf("created page: %d", got.Code)
	}

	// Erase: the confirm page, a post without the box ticked, then erasure.
	if rec := manager.get(t, "/customers/{bob}/erase", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Erase for good") {
		t.Errorf("erase page: %d", rec.Code)
	}
	if rec := manager.post(t, "/customers/{bob}/erase", nil, true, false); rec.Code != http.StatusBadRequest {
		t.Errorf("erase unconfirmed: %d", rec.Code)
	}
	rec = manager.post(t, "/customers/{bob}/erase", url.Values{"confirm": {"yes"}}, true, false)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/customers?erased=1" {
		t.Fatalf("erase: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if _, err := a.db.GetCustomer(context.Background(), a.ids["bob"]); err == nil {
		t.Error("bob still there")
	}
	a.catchUp()
	if body := manager.get(t, "/customers?erased=1&q=bob", nil).Body.String(); strings.Contains(body, "Bob Builder") || !strings.Contains(body, "were erased") {
		t.Errorf("list after erase: %s", truncate(body))
	}
}

func TestCustomerEditValidationInPlace(t *testing.T) {
	a := newApp(t)
	agent := custUI_signIn(t, a, core.RoleAgent)
	before := a.snapshot()
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
	}{
		{"bad email", url.Values{"name": {"Ann"}, "emails": {"ann@example.com\nnot-an-email"}}, "emails"},
		{"bad time zone", url.Values{"name": {"Ann"}, "time_zone": {"Mars/Olympus"}}, "time_zone"},
		{"bad tag", url.Values{"name": {"Ann"}, "tags": {"<b>"}}, "tags"},
		{"name too long", url.Values{"name": {strings.Repeat("a", 400)}}, "name"},
		{"control char in city", url.Values{"name": {"Ann"}, "address.city": {"a\x01b"}}, "address.city"},
		{"nameless attribute", url.Values{"name": {"Ann"}, "new_attr_val": {"x"}}, "attributes"},
		{"consent removed", url.Values{"name": {"Ann"}, "consent.email": {"maybe"}}, "consent"},
	} {
		for _, htmx := range []bool{true, false} {
			rec := agent.post(t, "/customers/{ann}", tc.form, true, htmx)
			body := rec.Body.String()
			if rec.Code != http.StatusUnprocessableEntity {
				t.Errorf("%s (htmx %v): %d %s", tc.name, htmx, rec.Code, truncate(body))
				continue
			}
			if !strings.Contains(body, `aria-describedby="`+tc.field+`-error"`) && tc.field != "attributes" && tc.field != "consent" {
				t.Errorf("%s: no aria-invalid on %s", tc.name, tc.field)
			}
			if !strings.Contains(body, `<p class="field-error" id="`+tc.field+`-error" role="alert">`) {
				t.Errorf("%s: no error next to %s: %s", tc.name, tc.field, truncate(body))
			}
			if htmx == strings.Contains(body, "<html") {
				t.Errorf("%s: htmx %v but page %v", tc.name, htmx, !htmx)
			}
			if !strings.Contains(body, `name="name" value="`+html.EscapeString(tc.form.Get("name"))[:min(20, len(tc.form.Get("name")))]) {
				t.Errorf("%s: the typed value is not kept", tc.name)
			}
		}
	}
	// Another customer's external id: a conflict, shown at the field.
	if rec := agent.post(t, "/customers/{ann}", url.Values{"name": {"Ann"}, "external_id": {"c-2"}}, true, true); rec.Code != http.StatusConflict ||
		!strings.Contains(rec.Body.String(), `id="external_id-error"`) {
		t.Errorf("duplicate external id: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	// An empty note is refused in place too.
	if rec := agent.post(t, "/customers/{ann}/interactions", url.Values{"type": {"note"}, "text": {"   "}}, true, true); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), `id="note-error"`) {
		t.Errorf("empty note: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	if rec := agent.post(t, "/customers", url.Values{"emails": {"nope"}}, true, false); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), `id="emails-error"`) {
		t.Errorf("bad create: %d", rec.Code)
	}
	if after := a.snapshot(); after != before {
		t.Errorf("an invalid form changed data")
	}
}

func TestCustomerTimelinePaging(t *testing.T) {
	a := newApp(t)
	v := custUI_signIn(t, a, core.RoleViewer)
	ctx := context.Background()
	cu, err := a.svc.CreateCustomer(ctx, core.Customer{Name: "Many Events"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 70
	var ins []core.Interaction
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		ins = append(ins, core.Interaction{CustomerID: cu.ID, Type: core.TypeNote, Time: t0.Add(time.Duration(i) * time.Hour), Text: fmt.Sprintf("event-%03d", i)})
	}
	if _, err := a.svc.AppendInteractions(ctx, ins); err != nil {
		t.Fatal(err)
	}
	more := regexp.MustCompile(`hx-get="(/customers/\d+/timeline\?[^"]+)" hx-trigger="revealed"`)
	page := v.get(t, "/customers/"+cu.ID.String(), nil).Body.String()
	seen := map[string]bool{}
	collect := func(body string) []string {
		got := regexp.MustCompile(`event-\d{3}`).FindAllString(body, -1)
		for _, e := range got {
			if seen[e] {
				t.Errorf("%s shown twice", e)
			}
			seen[e] = true
		}
		return got
	}
	first := collect(page)
	if len(first) != 30 || first[0] != "event-069" {
		t.Fatalf("first page: %d entries starting %v", len(first), first[:min(1, len(first))])
	}
	pages := 1
	for {
		m := more.FindStringSubmatch(page)
		if m == nil {
			break
		}
		rec := v.get(t, html.UnescapeString(m[1]), hx)
		if rec.Code != 200 {
			t.Fatalf("next page: %d %s", rec.Code, truncate(rec.Body.String()))
		}
		page = rec.Body.String()
		if strings.Contains(page, "<html") || strings.Contains(page, `id="timeline"`) {
			t.Fatal("a next page must be entries only")
		}
		collect(page)
		if pages++; pages > 5 {
			t.Fatal("paging does not stop")
		}
	}
	if pages != 3 || len(seen) != n || !seen["event-000"] {
		t.Errorf("%d pages, %d entries", pages, len(seen))
	}
	// Without htmx, "Older entries" is a link to the page at the cursor.
	if !strings.Contains(v.get(t, "/customers/"+cu.ID.String(), nil).Body.String(), `#timeline">Older entries</a>`) {
		t.Error("no plain link to older entries")
	}
	// A forged cursor is a 400 in place, not a 500.
	if rec := v.get(t, "/customers/"+cu.ID.String()+"/timeline?cursor=zzzz", hx); rec.Code != http.StatusBadRequest {
		t.Errorf("forged cursor: %d", rec.Code)
	}
	// The list pages by cursor too.
	for i := 0; i < 60; i++ {
		if _, err := a.svc.CreateCustomer(ctx, core.Customer{Name: fmt.Sprintf("Filler %02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	next := regexp.MustCompile(`href="(/customers\?cursor=[^"]+)" rel="next"`)
	body := v.get(t, "/customers", nil).Body.String()
	total := strings.Count(body, "data-result>")
	for i := 0; ; i++ {
		m := next.FindStringSubmatch(body)
		if m == nil {
			break
		}
		body = v.get(t, html.UnescapeString(m[1]), nil).Body.String()
		total += strings.Count(body, "data-result>")
		if i > 5 {
			t.Fatal("list paging does not stop")
		}
	}
	if total != 63 {
		t.Errorf("listed %d customers, want 63", total)
	}
}

// Hostile values in every field the customer pages show.
const (
	hostScript = `<script>alert(1)</script>`
	hostImg    = `"><img src=x onerror=alert(1)>`
	hostHX     = `' hx-get="/admin" hx-trigger="load`
	hostRLO    = "\u202Egnp.exe"
	hostBad    = "bad\xff\xfeutf8"
)

func TestCustomerPagesHostileValues(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	all := hostScript + hostImg + hostHX + hostRLO
	cu, err := a.svc.CreateCustomer(ctx, core.Customer{Name: "Eve " + all, ExternalID: "ext " + hostImg,
		Address:    core.Address{Line1: hostScript, City: hostHX, Country: hostRLO},
		Attributes: map[string]any{"k" + hostImg: "v" + all, hostScript: hostHX, "rlo" + hostRLO: hostRLO},
		Consent:    map[core.Channel]core.Consent{core.Channel(`x"><img src=x onerror=alert(1)>`): {Granted: true, Source: all}}})
	if err != nil {
		t.Fatal(err)
	}
	// Bytes that are not UTF-8 cannot pass the service; a record written
	// by an older version or by hand could still hold them.
	if _, err := a.db.UpdateCustomer(ctx, cu.ID, func(c *core.Customer) error {
		c.Locale = hostBad
		c.Attributes["bad"] = hostBad
		return nil
	}); err != nil {
		t.Logf("store refuses invalid UTF-8 (fine): %v", err)
	}
	if _, err := a.svc.AppendInteractions(ctx, []core.Interaction{
		{CustomerID: cu.ID, Type: core.TypePurchase, Amount: 500, Currency: "EUR", Text: all, Channel: "web",
			Items:      []core.LineItem{{Name: "Item " + all, SKU: hostImg, Quantity: 1, UnitPrice: 500}},
			Properties: map[string]string{"p" + hostImg: all}},
		{CustomerID: cu.ID, Type: "custom_evil", Text: "eve note " + all},
	}); err != nil {
		t.Fatal(err)
	}
	a.catchUp()
	v := custUI_signIn(t, a, core.RoleManager)
	agent := custUI_signIn(t, a, core.RoleAgent)
	id := cu.ID.String()
	q := url.QueryEscape(hostScript + hostHX + hostRLO + hostBad)
	rec := agent.post(t, "/customers/"+id+"/interactions", url.Values{"type": {"note"}, "text": {"note " + all}}, true, true)
	if rec.Code != 200 {
		t.Fatalf("note: %d", rec.Code)
	}
	custUI_checkSafe(t, rec.Body.String())
	for _, path := range []string{
		"/customers", "/customers?q=eve", "/customers?q=" + q, "/customers?tag=" + q, "/customers?q=alert&cursor=" + q,
		"/customers?seen=" + q, "/customers?before=" + q, "/customers?sort=" + q,
		"/customers/" + id, "/customers/" + id + "?q=" + q, "/customers/" + id + "?q=alert", "/customers/" + id + "/edit",
		"/customers/" + id + "/erase", "/customers/" + id + "?type=custom_evil",
	} {
		for _, h := range []map[string]string{nil, hx} {
			rec := v.get(t, path, h)
			if rec.Code >= 500 {
				t.Errorf("%s: %d %s", path, rec.Code, a.logs.String()[max(0, len(a.logs.String())-800):])
			}
			custUI_checkSafe(t, rec.Body.String())
		}
	}
	page := v.get(t, "/customers/"+id, nil).Body.String()
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "[U&#43;202E]gnp.exe", "Item &lt;script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("customer page lacks the escaped %q: %s", want, page[strings.Index(page, "<main"):][:1500])
		}
	}
	search := v.get(t, "/customers?q="+q, hx).Body.String()
	_ = search
	if page := v.get(t, "/customers?q="+q, nil).Body.String(); !strings.Contains(page, "&lt;script&gt;") {
		t.Errorf("the query is not echoed escaped")
	}
	// An invalid form shows hostile input escaped, next to the field.
	rec = agent.post(t, "/customers/"+id, url.Values{"name": {all}, "emails": {hostImg}}, true, true)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("hostile edit: %d", rec.Code)
	}
	custUI_checkSafe(t, rec.Body.String())
}

var (
	custTagRe      = regexp.MustCompile(`<[a-zA-Z][^<>]*>`)
	custFormValues = regexp.MustCompile(`(?s) value="[^"]*"|<textarea[^>]*>.*?</textarea>`)
	custAttrRe     = regexp.MustCompile(`\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?`)
)

// custUI_checkSafe fails when the page holds markup that hostile data could
// have made: a script or img element, an on* handler, an hx-* attribute
// pointing elsewhere or firing on load, a raw direction override, or bytes
// that are not UTF-8.
func custUI_checkSafe(t *testing.T, body string) {
	t.Helper()
	// Form fields hold the value as stored, so that saving does not change
	// it; elsewhere a direction override must be made visible.
	shown := custFormValues.ReplaceAllString(body, "")
	if i := strings.IndexAny(shown, "\u202E"); i >= 0 {
		t.Errorf("raw direction override in the page: %q", shown[max(0, i-200):min(len(shown), i+50)])
	}
	if !utf8.ValidString(body) {
		i := 0
		for i < len(body) {
			r, n := utf8.DecodeRuneInString(body[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		t.Errorf("invalid UTF-8 in the page: %q", body[max(0, i-200):min(len(body), i+20)])
	}
	for _, tag := range custTagRe.FindAllString(body, -1) {
		name := strings.ToLower(strings.FieldsFunc(tag[1:], func(r rune) bool { return r == ' ' || r == '>' || r == '\n' || r == '/' })[0])
		if name == "img" || (name == "script" && !strings.Contains(tag, `src="/static/`)) {
			t.Errorf("injected element: %s", tag)
		}
		for _, m := range custAttrRe.FindAllStringSubmatch(tag[1+len(name):], -1) {
			k, v := strings.ToLower(m[1]), m[2]
			switch {
			case strings.HasPrefix(k, "on"):
				t.Errorf("handler attribute in %s", tag)
			case strings.HasPrefix(k, "hx-") && (strings.Contains(v, "/admin") || strings.Contains(v, "load")):
				t.Errorf("hostile hx attribute in %s", tag)
			case k == "src" && !strings.HasPrefix(strings.Trim(v, `"'`), "/static/"):
				t.Errorf("foreign src in %s", tag)
			}
		}
	}
}

// FuzzCustomerList throws arbitrary query parameters at the list page (page
// and fragment): never a 5xx, never unescaped markup.
func FuzzCustomerList(f *testing.F) {
	a := newApp(f)
	v := custUI_signIn(f, a, core.RoleViewer)
	f.Add("ann", "", "", "", "", "")
	f.Add("", "AAAAAAAAAAA", "vip", "added", "", "")
	f.Add("x", "o25", "", "seen", "30", "2025-01-01")
	f.Add(hostScript, "o-1", "<b>", "zzz", "-5", "2025-13-45")
	f.Add("\xff\xfe", "o99999999999999999999", "\u202e", "seen", "99999999", "0000-01-01")
	f.Add(`"a b" c`, "%zz", "a:b", "", "1", "9999-12-31")
	f.Fuzz(func(t *testing.T, q, cursor, tag, sort, seen, before string) {
		vals := url.Values{"q": {q}, "cursor": {cursor}, "tag": {tag}, "sort": {sort}, "seen": {seen}, "before": {before}}
		for _, h := range []map[string]string{nil, hx} {
			rec := v.get(t, "/customers?"+vals.Encode(), h)
			if rec.Code >= 500 {
				t.Fatalf("%v: %d %s", vals, rec.Code, truncate(rec.Body.String()))
			}
			if rec.Code != 200 && rec.Code != 400 {
				t.Fatalf("%v: %d", vals, rec.Code)
			}
			custUI_checkSafe(t, rec.Body.String())
		}
	})
}

// Without text, a last-seen filter reads the store in ID order, at most
// 2,000 customers a request, and Next continues where it stopped.
func TestCustomerListLastSeenScan(t *testing.T) {
	a := newApp(t)
	v := custUI_signIn(t, a, core.RoleViewer)
	ctx := context.Background()
	batch := make([]core.Customer, 5100)
	for i := range batch {
		batch[i] = core.Customer{ExternalID: fmt.Sprintf("quiet-%04d", i), Name: fmt.Sprintf("Quiet %04d", i)}
	}
	if _, _, err := a.svc.UpsertCustomers(ctx, batch, "test"); err != nil {
		t.Fatal(err)
	}
	late, err := a.svc.CreateCustomer(ctx, core.Customer{Name: "Late Visitor"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.AppendInteractions(ctx, []core.Interaction{{CustomerID: late.ID, Type: core.TypeSession, Time: time.Now().Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	rec := v.get(t, "/customers?seen=7", hx)
	body := rec.Body.String()
	if rec.Code != 200 || strings.Count(body, "data-result>") != 0 || !strings.Contains(body, "among 2000 customers looked at") {
		t.Fatalf("first scan: %d %s", rec.Code, truncate(body))
	}
	next := regexp.MustCompile(`href="(/customers\?cursor=[^"]+)" rel="next"`)
	pages := 1
	for {
		m := next.FindStringSubmatch(body)
		if m == nil {
			break
		}
		body = v.get(t, html.UnescapeString(m[1]), hx).Body.String()
		if pages++; pages > 5 {
			t.Fatal("the scan does not stop")
		}
	}
	if pages != 3 || !strings.Contains(body, "Late Visitor") || !strings.Contains(body, "1 seen in that time among 1103 customers looked at") {
		t.Errorf("%d pages; last: %s", pages, truncate(body))
	}
}
