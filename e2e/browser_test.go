package e2e_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

const (
	adminEmail = "ada@example.com"
	adminName  = "Ada Admin"
	adminPass  = "correct horse battery"
	agentEmail = "alan@example.com"
	agentName  = "Alan Agent"
	agentPass  = "agent password 2026"
)

// TestBrowser walks the staff UI the way a new team would on its first
// day, in one real browser against one real server: each step is a
// subtest and later steps build on earlier ones, so the first failure
// stops the walk.
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	start := time.Now()
	s := startServer(t)
	t.Logf("server with %d demo customers up in %s", demoCustomers, time.Since(start).Round(time.Millisecond))
	browser := newBrowser(t, chromium)
	main := newTab(t, browser, false)

	steps := []struct {
		name string
		run  func(t *testing.T, b *tab)
	}{
		{"first-run setup", firstRunSetup},
		{"sign out", signOut},
		{"wrong password", wrongPassword},
		{"sign in", func(t *testing.T, b *tab) { signIn(b, adminEmail, adminPass) }},
		{"keyboard shortcuts", keyboardShortcuts},
		{"search as you type", searchAsYouType},
		{"customer page", customerPage},
		{"add a note", addNote},
		{"plugins, outbox and sending a message", messaging},
		{"retention dashboard", dashboard},
		{"customer analytics panel", customerAnalyticsPanel},
		{"segment with a live count", segmentsFlow},
		{"g d opens the dashboard", goDashboard},
		{"phone width", phoneWidth},
		{"import a file", importFile},
		{"admin adds an agent", func(t *testing.T, b *tab) { addAgent(t, b, browser) }},
		{"sign-out ends the session", signOutEndsSession},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			b := step(t, main, s)
			b.viewport(1280, 800, false)
			st.run(t, b)
		})
		if !ok {
			return
		}
	}
	t.Logf("browser walk done in %s", time.Since(start).Round(time.Millisecond))
}

// firstRunSetup opens the one-time link from the server's log and creates
// the first admin, who is then signed in.
func firstRunSetup(t *testing.T, b *tab) {
	if b.s.setupURL == "" {
		// Keep the later steps meaningful: make the admin directly, sign in.
		b.s.createUser(t, adminEmail, adminName, adminPass, "admin")
		signIn(b, adminEmail, adminPass)
		t.Skip(errNoSetupLink.Error() + " (\"first run: open this link to create the admin account\" url=...); the admin was created directly")
	}
	// Without an account, /signin explains where the setup link is.
	b.navigate("/signin")
	if got := b.text("main"); !strings.Contains(got, "setup link") {
		t.Errorf("/signin before setup does not point to the setup link: %q", got)
	}
	b.do(nav(b.s.setupURL))
	b.waitPath("/setup")
	b.typeInto(`form[action="/setup"] input[name="name"]`, adminName)
	b.typeInto(`form[action="/setup"] input[name="email"]`, adminEmail)
	b.typeInto(`form[action="/setup"] input[name="password"]`, adminPass)
	b.typeInto(`form[action="/setup"] input[name="password2"]`, adminPass)
	b.click(`form[action="/setup"] button[type="submit"]`)
	b.waitPath("/")
	b.waitJS("the signed-in header", `document.querySelector("header.topbar details.usermenu") !== null`)
	if got := b.text("details.usermenu summary"); !strings.Contains(got, adminName) || !strings.Contains(got, "admin") {
		t.Errorf("account menu shows %q, want the admin's name and role", got)
	}
	// The link works once.
	b.do(nav(b.s.setupURL))
	if b.exists(`form[action="/setup"]`) {
		t.Error("the setup link still shows the form after the first admin exists")
	}
}

// signOut uses the account menu's button.
func signOut(t *testing.T, b *tab) {
	b.navigate("/")
	b.click("details.usermenu summary")
	b.click(`details.usermenu form[action="/signout"] button`)
	b.waitPath("/signin")
	b.navigate("/")
	b.waitPath("/signin")
	if !b.exists(`form[action="/signin"] input[name="password"]`) {
		t.Fatal("after sign-out, / does not show the sign-in form")
	}
	b.screenshot("signin")
}

func wrongPassword(t *testing.T, b *tab) {
	b.navigate("/signin")
	b.typeInto(`form[action="/signin"] input[name="email"]`, adminEmail)
	b.typeInto(`form[action="/signin"] input[name="password"]`, "not the password")
	b.click(`form[action="/signin"] button[type="submit"]`)
	b.waitJS("the sign-in error", `document.querySelector('main [role="alert"]') !== null`)
	if got := b.text(`main [role="alert"]`); !strings.Contains(strings.ToLower(got), "wrong") {
		t.Errorf("sign-in error says %q, want it to say the email or password is wrong", got)
	}
	if p := eval[string](b, "location.pathname"); p != "/signin" {
		t.Errorf("a wrong password led to %s", p)
	}
	// The email stays filled in, the password does not.
	if v := eval[string](b, `document.querySelector('input[name="email"]').value`); v != adminEmail {
		t.Errorf("email field after a failed sign-in = %q", v)
	}
	if v := eval[string](b, `document.querySelector('input[name="password"]').value`); v != "" {
		t.Error("the password was sent back into the page")
	}
}

// signIn signs in through the form and waits for the home page.
func signIn(b *tab, email, pw string) {
	b.t.Helper()
	b.navigate("/signin")
	b.do(clearField(`form[action="/signin"] input[name="email"]`))
	b.typeInto(`form[action="/signin"] input[name="email"]`, email)
	b.typeInto(`form[action="/signin"] input[name="password"]`, pw)
	b.click(`form[action="/signin"] button[type="submit"]`)
	b.waitJS("leaving the sign-in page", `location.pathname !== "/signin" && document.querySelector("details.usermenu") !== null`)
}

// keyboardShortcuts: `/` focuses the search box, `?` opens the sheet, Esc
// closes it.
func keyboardShortcuts(t *testing.T, b *tab) {
	b.navigate("/")
	b.waitPath("/")
	b.do(blur())
	b.key("/")
	b.waitJS("/ to focus the search box", `document.activeElement && (document.activeElement.id === "quicksearch" || document.activeElement.hasAttribute("data-search-primary"))`)
	b.key("\x1b") // Esc leaves the box
	b.waitJS("Esc to leave the search box", `document.activeElement === document.body || document.activeElement === null || document.activeElement.tagName !== "INPUT"`)
	b.key("?")
	b.waitJS("? to open the shortcuts sheet", `document.getElementById("shortcuts")?.open === true`)
	if got := b.text("#shortcuts"); !strings.Contains(got, "Search customers") {
		t.Errorf("shortcuts sheet reads %q", got)
	}
	b.key("\x1b")
	b.waitJS("Esc to close the sheet", `document.getElementById("shortcuts")?.open === false`)
	// g then c goes to the customers list.
	b.key("g")
	b.key("c")
	b.waitPath("/customers")
}

// searchAsYouType types three letters into the customers search, waits for
// the results fragment (no page load), then walks the results with the
// arrow keys and opens the target customer with Enter.
func searchAsYouType(t *testing.T, b *tab) {
	b.navigate("/customers")
	b.waitJS("the customer list", `document.querySelector("#customer-results-list a[data-result]") !== null`)
	b.do(blur())
	b.key("/")
	b.waitJS("/ to focus the customer search", `document.activeElement?.id === "cust-q"`)
	b.do(markPage())
	b.key(b.s.prefix) // key by key, as a person types
	b.waitJS("results for "+b.s.prefix, fmt.Sprintf(`new URLSearchParams(location.search).get("q") === %q && document.querySelector("#customer-results-list a[data-result] mark") !== null`, b.s.prefix))
	if !eval[bool](b, pageMarked) {
		t.Fatal("the results came with a page load, not as a fragment")
	}
	b.screenshot("customers-search")

	// Arrow down through the results to the target, Enter opens it.
	want := fmt.Sprintf("/customers/%s", b.s.target.ID)
	for i := 0; ; i++ {
		b.key(kb.ArrowDown)
		href := eval[string](b, `document.activeElement?.getAttribute("href") ?? ""`)
		if href == want {
			break
		}
		if i == 0 && href == "" {
			t.Fatal("ArrowDown from the search box does not move to the first result")
		}
		if i > 40 {
			t.Fatalf("%s is not among the results for %q", b.s.target.Name, b.s.prefix)
		}
	}
	b.key(kb.Enter)
	b.waitPath(want)
	b.waitJS("the customer's name", `document.querySelector("#cust-head h1") !== null`)
	if got := b.text("#cust-head h1"); got != b.s.target.Name {
		t.Errorf("customer page shows %q, want %q", got, b.s.target.Name)
	}
}

// customerPage: key figures at the top, the timeline newest first, and
// infinite scroll that loads older entries when the end comes into view.
func customerPage(t *testing.T, b *tab) {
	b.navigate(fmt.Sprintf("/customers/%s", b.s.target.ID))
	b.waitJS("the key figures", `document.querySelector('[aria-label="Key figures"]') !== null`)
	figures := b.text(`[aria-label="Key figures"]`)
	for _, w := range []string{"first seen", "last seen", "order", "total spent", "average order"} {
		if !strings.Contains(figures, w) {
			t.Errorf("key figures %q lack %q", figures, w)
		}
	}
	if b.s.purchases > 0 {
		orders := eval[string](b, `[...document.querySelectorAll('[aria-label="Key figures"] .tile')].find(e => /order/.test(e.innerText))?.querySelector(".num")?.innerText ?? ""`)
		if orders != fmt.Sprint(b.s.purchases) {
			t.Errorf("orders figure %q, want %d", orders, b.s.purchases)
		}
		if strings.Contains(b.text(`[aria-label="Key figures"]`), "—") {
			t.Errorf("a customer with purchases has an empty figure: %q", figures)
		}
		if !b.exists(".cust-purchases .cust-items") {
			t.Error("recent purchases show no line items")
		}
	}
	first := eval[int](b, `document.querySelectorAll("#timeline li.cust-entry").length`)
	if first == 0 {
		t.Fatal("the timeline is empty")
	}
	// Newest first.
	if !eval[bool](b, `(() => {
		const ts = [...document.querySelectorAll("#timeline li.cust-entry time")].map(e => Date.parse(e.getAttribute("datetime")));
		return ts.every((v, i) => i === 0 || ts[i-1] >= v);
	})()`) {
		t.Error("the timeline is not newest first")
	}
	b.screenshotSchemes("customer")
	if !b.exists("#timeline li.cust-more") {
		t.Fatalf("the first page holds all %d entries; no infinite scroll to test (extra entries: %d)", first, extraTimeline)
	}
	b.do(markPage())
	b.do(chromedp.ScrollIntoView(chromedp.CSS("#timeline li.cust-more")))
	b.waitJS("more timeline entries", fmt.Sprintf(`document.querySelectorAll("#timeline li.cust-entry").length > %d`, first))
	if !eval[bool](b, pageMarked) {
		t.Error("older entries came with a page load")
	}
	// Keep scrolling to the end: every entry arrives once.
	for i := 0; i < 20 && b.exists("#timeline li.cust-more"); i++ {
		n := eval[int](b, `document.querySelectorAll("#timeline li.cust-entry").length`)
		b.do(chromedp.ScrollIntoView(chromedp.CSS("#timeline li.cust-more")))
		b.waitJS("the next timeline page", fmt.Sprintf(`document.querySelectorAll("#timeline li.cust-entry").length > %d || !document.querySelector("#timeline li.cust-more")`, n))
	}
	total := eval[int](b, `document.querySelectorAll("#timeline li.cust-entry").length`)
	if total < extraTimeline {
		t.Errorf("after scrolling to the end the timeline holds %d entries, want at least %d", total, extraTimeline)
	}
	if dup := eval[int](b, `(() => { const s = [...document.querySelectorAll("#timeline li.cust-entry")].map(e => e.innerText); return s.length - new Set(s).size; })()`); dup > 0 {
		t.Errorf("%d timeline entries appear twice after scrolling", dup)
	}
}

// addNote writes a note (focused with the n shortcut) and sees it at the
// top of the timeline without a page load.
func addNote(t *testing.T, b *tab) {
	b.navigate(fmt.Sprintf("/customers/%s", b.s.target.ID))
	b.waitJS("the note form", `document.querySelector("#add-note textarea[name=text]") !== null`)
	b.do(markPage(), blur())
	b.key("n")
	b.waitJS("n to focus the note", `document.activeElement?.id === "note-text"`)
	note := fmt.Sprintf("Called about the late parcel; sending a new one (e2e %d)", time.Now().UnixNano())
	b.key(note)
	b.click(`#add-note button[type="submit"]`)
	b.waitJS("the note on top of the timeline", fmt.Sprintf(`document.querySelector("#timeline li.cust-entry")?.innerText.includes(%q)`, note))
	if !eval[bool](b, pageMarked) {
		t.Error("adding a note reloaded the page")
	}
	if v := eval[string](b, `document.querySelector("#add-note textarea[name=text]")?.value ?? ""`); v != "" {
		t.Errorf("the note box still holds %q after adding", v)
	}
	// It is stored: a reload shows it too.
	b.do(chromedp.Reload())
	b.waitJS("the note after a reload", fmt.Sprintf(`document.querySelector("#timeline li.cust-entry")?.innerText.includes(%q)`, note))
}

// phoneWidth: the customer list at 390×844 still shows the search and
// the results (the table scrolls inside its wrapper, the page does not);
// the dashboard and the segment editor do not scroll sideways either.
func phoneWidth(t *testing.T, b *tab) {
	b.viewport(390, 844, true)
	defer b.viewport(1280, 800, false)
	b.navigate("/customers?q=" + b.s.prefix)
	b.waitJS("results at phone width", `document.querySelector("#customer-results-list a[data-result]") !== null`)
	if w, who := b.overflow(); w > 1 {
		t.Errorf("the customer list scrolls sideways by %dpx at phone width; sticking out: %q", w, who)
	}
	b.do(blur())
	b.screenshot("customers-phone")
	// The retention pages too: their charts and tables scroll inside
	// their wrappers.
	for _, p := range []string{"/dashboard", "/segments/new"} {
		b.navigate(p)
		b.waitJS("the page at phone width", `document.querySelector("main h1") !== null`)
		if w, who := b.overflow(); w > 1 {
			t.Errorf("%s scrolls sideways by %dpx at phone width; sticking out: %q", p, w, who)
		}
	}
	b.navigate("/dashboard")
	b.do(blur())
	b.screenshot("dashboard-phone")
}

// addAgent: the admin adds an agent; the agent, in a separate browser
// profile, signs in, sees no Admin link and is refused /admin.
func addAgent(t *testing.T, b *tab, browser context.Context) {
	b.navigate("/admin/users")
	b.waitJS("the add-user form", `document.querySelector('form[action="/admin/users"]') !== null`)
	b.typeInto("#nu-email", agentEmail)
	b.typeInto("#nu-name", agentName)
	b.do(chromedp.SetValue(chromedp.CSS("#nu-role"), "agent"))
	b.typeInto("#nu-password", agentPass)
	b.click(`form[action="/admin/users"] button[type="submit"]`)
	b.waitJS("the agent in the user list", fmt.Sprintf(`[...document.querySelectorAll("table tr")].some(r => r.innerText.includes(%q) && r.innerText.includes("agent"))`, agentEmail))
	if b.exists(`form[action="/admin/users"] [aria-invalid="true"]`) {
		t.Errorf("adding the agent left a field error: %s", b.text(`form[action="/admin/users"]`))
	}
	b.navigate("/admin/users")
	b.do(blur())
	b.screenshot("admin-users")
	b.navigate("/admin/audit")
	b.waitJS("the audit log", `document.querySelector("main table") !== null`)
	if got := b.text("main table"); !strings.Contains(got, "uiCreateUser") || !strings.Contains(got, adminEmail) {
		t.Errorf("the audit log does not show the admin adding a user:\n%s", tail(got, 2000))
	}
	b.screenshot("admin-audit")
	b.navigate("/admin")
	b.screenshot("admin-status")

	// The agent, on another machine (own cookies).
	agent := step(t, newTab(t, browser, true), b.s)
	agent.viewport(1280, 800, false)
	signIn(agent, agentEmail, agentPass)
	if got := agent.text("details.usermenu summary"); !strings.Contains(got, "agent") {
		t.Errorf("the agent's menu shows %q", got)
	}
	if agent.exists(`header a[href="/admin"]`) {
		t.Error("the agent sees the Admin link")
	}
	if !agent.exists(`header a[href="/customers"]`) {
		t.Error("the agent does not see the Customers link")
	}
	for _, p := range []string{"/admin", "/admin/users", "/admin/audit"} {
		if code := agent.status(p); code != http.StatusForbidden {
			t.Errorf("agent GET %s: status %d, want 403", p, code)
		}
		if agent.exists(`form[action="/admin/users"]`) || agent.exists("main table") {
			t.Errorf("agent GET %s shows admin content", p)
		}
	}
	// The agent's own page works.
	if code := agent.status(fmt.Sprintf("/customers/%s", b.s.target.ID)); code != http.StatusOK {
		t.Errorf("agent GET the customer page: status %d", code)
	}
}

// signOutEndsSession: after signing out, neither the back button nor a
// reload of a customer page shows the customer again.
func signOutEndsSession(t *testing.T, b *tab) {
	page := fmt.Sprintf("/customers/%s", b.s.target.ID)
	b.navigate(page)
	b.waitPath(page)
	b.click("details.usermenu summary")
	b.click(`details.usermenu form[action="/signout"] button`)
	b.waitPath("/signin")
	b.do(chromedp.NavigateBack())
	b.waitJS("the page after Back", `document.readyState === "complete"`)
	// Pages are sent no-store and the session cookie changed, so Back asks
	// the server again instead of restoring the page from memory.
	if b.exists(`#cust-head`) {
		t.Error("Back after sign-out showed the customer page again")
	}
	b.do(chromedp.Reload())
	b.waitPath("/signin")
	if b.exists("#cust-head") {
		t.Fatal("after sign-out the customer page is still shown")
	}
	// Signed out for good: the customer page itself leads to sign-in.
	b.navigate(page)
	b.waitPath("/signin")
	if got := eval[string](b, `document.querySelector('input[name="next"]')?.value ?? ""`); got != page {
		t.Errorf("sign-in form's next = %q, want %q", got, page)
	}
}

// importRows is the size of the file the import step uploads: enough rows
// that the job runs for a moment, and three bad ones.
const importRows = 1500

// importFile uploads a CSV whose headers the guesser cannot all know,
// maps its columns by hand, previews, starts, watches the progress bar
// reach done, and downloads the rejected rows. One imported name is
// hostile HTML; it must show as text.
func importFile(t *testing.T, b *tab) {
	var buf strings.Builder
	w := csv.NewWriter(&buf)
	w.Write([]string{"Kundennr", "Full name", "E-mail", "Lieblingstee"})
	bad := map[int]bool{100: true, 700: true, 1400: true}
	for i := 1; i <= importRows; i++ {
		email := fmt.Sprintf("imported%d@example.com", i)
		if bad[i] {
			email = "not-an-email"
		}
		name := fmt.Sprintf("Imported Person %d", i)
		if i == 2 {
			name = hostileName
		}
		w.Write([]string{fmt.Sprintf("K-%05d", i), name, email, []string{"sencha", "assam", "rooibos"}[i%3]})
	}
	w.Flush()
	file := filepath.Join(t.TempDir(), "kunden.csv")
	if err := os.WriteFile(file, []byte(buf.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	b.navigate("/imports")
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#imp-file"), []string{file}))
	b.click(`input[name="kind"][value="customers"]`)
	b.click(`form[action^="/imports/upload"] button[type="submit"]`)
	b.waitJS("the mapping page", `location.pathname.startsWith("/imports/uploads/") && document.querySelector("#mapping select#col-0") !== null`)
	if got := b.text("#mapping"); !strings.Contains(got, "Kundennr") || !strings.Contains(got, "K-00001") {
		t.Errorf("mapping page does not show the detected columns and samples:\n%s", tail(got, 1500))
	}
	for i, field := range []string{"external_id", "name", "email", ""} {
		ok := eval[bool](b, fmt.Sprintf(`(() => {
			const s = document.getElementById("col-%d");
			if (!s || ![...s.options].some(o => o.value === %q)) return false;
			s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return true;
		})()`, i, field, field))
		if !ok {
			t.Fatalf("column %d offers no %q: %s", i, field, b.text(fmt.Sprintf("#col-%d", i)))
		}
	}
	b.click(`#mapping form button[type="submit"]:not([formaction])`) // Preview
	b.waitJS("the preview", `document.getElementById("preview-title") !== null`)
	preview := b.text(`[aria-labelledby="preview-title"]`)
	if !strings.Contains(preview, "Imported Person 1") || !strings.Contains(preview, "not-an-email") && !strings.Contains(preview, "email") {
		t.Errorf("preview lacks the rows or the first error:\n%s", tail(preview, 1500))
	}
	if eval[bool](b, `document.querySelector("#mapping img") !== null`) {
		t.Error("the hostile name became an <img> in the preview")
	}
	b.do(blur())
	b.screenshot("import-mapping")

	b.click(`#mapping button.primary[formaction$="/start"]`)
	b.waitJS("the job page", `/^\/imports\/[^/]+$/.test(location.pathname) && !location.pathname.startsWith("/imports/uploads") && document.getElementById("import-progress") !== null`)
	// Watch the bar until the job is done.
	var seen []int
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := eval[int](b, `Math.round(document.getElementById("imp-progress")?.value ?? -1)`)
		if len(seen) == 0 || seen[len(seen)-1] != v {
			seen = append(seen, v)
		}
		state := b.text("#import-progress .imp-state")
		if state == "done" {
			break
		}
		if state == "failed" || state == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("import state %q (bar values %v):\n%s", state, seen, b.text("#import-progress"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("progress bar values seen: %v", seen)
	if v := eval[int](b, `Math.round(document.getElementById("imp-progress").value)`); v != 100 {
		t.Errorf("done job's bar at %d%%", v)
	}
	counts := b.text("#import-progress .imp-counts")
	for _, w := range []string{fmt.Sprint(importRows), fmt.Sprint(importRows - len(bad)), fmt.Sprint(len(bad))} {
		if !strings.Contains(counts, w) {
			t.Errorf("job counts %q lack %s", counts, w)
		}
	}
	link := `#import-progress a[href$="/rejected"]`
	if !b.exists(link) {
		t.Fatalf("no link to the rejected rows:\n%s", b.text("#import-progress"))
	}
	body := evalAsync[string](b, fmt.Sprintf(`fetch(document.querySelector(%q).href).then(r => r.ok ? r.text() : "HTTP " + r.status)`, link))
	if n := strings.Count(body, ",not-an-email,"); n != len(bad) {
		t.Errorf("rejected rows download has %d bad rows, want %d:\n%s", n, len(bad), tail(body, 1500))
	}
	b.do(blur())
	b.screenshot("import-progress")

	// The hostile name, found by search, is shown as text.
	b.s.waitFound(t, "K-00002") // the indexer catches up in the background
	b.navigate("/customers?q=K-00002")
	b.waitJS("the imported customer", `document.querySelector("#customer-results-list a[data-result]") !== null`)
	b.click("#customer-results-list a[data-result]")
	b.waitJS("the customer page", `document.querySelector("#cust-head h1") !== null`)
	if got := eval[string](b, `document.querySelector("#cust-head h1").textContent`); got != hostileName {
		t.Errorf("hostile name shown as %q, want the literal text %q", got, hostileName)
	}
	if eval[bool](b, `window.__pwned === 1 || document.querySelector("main img, main [onerror]") !== null`) {
		t.Error("the hostile name was turned into markup")
	}
}

// hostileName is an imported name that tries to become markup.
const hostileName = `<img src=x onerror="window.__pwned=1">Eve "Hostile"`
