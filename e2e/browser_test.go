package e2e_test

import (
	"strings"
	"testing"
	"time"
)

const (
	adminEmail = "ada@example.com"
	adminName  = "Ada Admin"
	adminPass  = "correct horse battery"
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
	b.navigate("/")
	b.screenshot("home")
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
