package web_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
	"github.com/retain-crm/retain/core/config"
)

const testPassword = "correct horse battery"

// browser is a minimal cookie-keeping client over the handler.
type browser struct {
	a       *app
	cookies map[string]*http.Cookie
	csrf    string
}

func (a *app) browser() *browser { return &browser{a: a, cookies: map[string]*http.Cookie{}} }

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

func (b *browser) do(method, target string, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	b.a.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.a.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	if m := csrfMeta.FindStringSubmatch(rec.Body.String()); m != nil {
		b.csrf = m[1]
	}
	return rec
}

// user creates a staff account with testPassword.
func (a *app) user(email string, role core.Role) core.User {
	a.t.Helper()
	h, err := auth.HashPassword(testPassword)
	if err != nil {
		a.t.Fatal(err)
	}
	u, err := a.db.CreateUser(context.Background(), core.User{Email: email, Name: "Test " + string(role), Role: role,
		PasswordHash: h, CreatedAt: time.Now().UTC()})
	if err != nil {
		a.t.Fatal(err)
	}
	return u
}

func (b *browser) signIn(email, pw string) *httptest.ResponseRecorder {
	b.a.t.Helper()
	rec := b.do("POST", "/signin", url.Values{"email": {email}, "password": {pw}}, nil)
	if rec.Code == http.StatusSeeOther {
		b.do("GET", "/", nil, nil) // pick up the CSRF token
	}
	return rec
}

func TestFirstRunSetup(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	b := a.browser()

	rec := b.do("GET", "/signin", nil, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "setup link") {
		t.Fatalf("sign-in page before any account: %d %s", rec.Code, rec.Body.String())
	}
	link, err := a.srv.SetupURL(ctx, "http://127.0.0.1:8080")
	if err != nil || !strings.HasPrefix(link, "http://127.0.0.1:8080/setup?token=") {
		t.Fatalf("setup link %q %v", link, err)
	}
	again, _ := a.srv.SetupURL(ctx, "http://x")
	if !strings.HasSuffix(again, strings.TrimPrefix(link, "http://127.0.0.1:8080")) {
		t.Errorf("the setup token changed between calls: %q %q", link, again)
	}
	u, _ := url.Parse(link)
	token := u.Query().Get("token")

	for _, bad := range []string{"", "wrong", token + "x", strings.Repeat("a", 5000)} {
		if rec := b.do("GET", "/setup?token="+url.QueryEscape(bad), nil, nil); rec.Code != 403 {
			t.Errorf("setup with token %.10q: %d", bad, rec.Code)
		}
		if rec := b.do("POST", "/setup", url.Values{"token": {bad}, "email": {"x@y.z"}, "password": {testPassword}, "password2": {testPassword}}, nil); rec.Code != 403 {
			t.Errorf("POST setup with token %.10q: %d", bad, rec.Code)
		}
	}
	if rec := b.do("GET", "/setup?token="+url.QueryEscape(token), nil, nil); rec.Code != 200 {
		t.Fatalf("setup page: %d", rec.Code)
	}
	for name, form := range map[string]url.Values{
		"bad email":        {"email": {"not-an-email"}, "password": {testPassword}, "password2": {testPassword}},
		"short password":   {"email": {"boss@shop.test"}, "password": {"short"}, "password2": {"short"}},
		"passwords differ": {"email": {"boss@shop.test"}, "password": {testPassword}, "password2": {testPassword + "!"}},
	} {
		form.Set("token", token)
		rec := b.do("POST", "/setup", form, nil)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `class="field-error"`) {
			t.Errorf("%s: %d, want 400 with the error beside the field", name, rec.Code)
		}
	}
	if n, _ := a.db.CountUsers(ctx); n != 0 {
		t.Fatalf("a refused setup created %d users", n)
	}
	rec = b.do("POST", "/setup", url.Values{"token": {token}, "name": {"Boss"}, "email": {"Boss@Shop.test"},
		"password": {testPassword}, "password2": {testPassword}}, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("setup: %d %s", rec.Code, rec.Body.String())
	}
	admin, err := a.db.GetUserByEmail(ctx, "boss@shop.test")
	if err != nil || admin.Role != core.RoleAdmin {
		t.Fatalf("first user %+v %v", admin, err)
	}
	if rec := b.do("GET", "/admin", nil, nil); rec.Code != 200 {
		t.Errorf("the new admin is not signed in: %d", rec.Code)
	}
	if l, _ := a.srv.SetupURL(ctx, "http://x"); l != "" {
		t.Errorf("setup link after setup: %q", l)
	}
	if rec := b.do("POST", "/setup", url.Values{"token": {token}, "email": {"second@shop.test"}, "password": {testPassword}, "password2": {testPassword}}, nil); rec.Code != 404 {
		t.Errorf("second setup: %d", rec.Code)
	}
	if strings.Contains(a.logs.String(), token) || strings.Contains(a.logs.String(), testPassword) {
		t.Error("the setup token or the password reached the log")
	}
}

func TestSignIn(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	agent := a.user("agent@shop.test", core.RoleAgent)

	t.Run("wrong password and unknown account look the same", func(t *testing.T) {
		b := a.browser()
		r1 := b.signIn("agent@shop.test", "wrong password!")
		r2 := b.signIn("nobody@shop.test", "wrong password!")
		for _, r := range []*httptest.ResponseRecorder{r1, r2} {
			if r.Code != 401 || !strings.Contains(r.Body.String(), "The email or the password is wrong.") {
				t.Errorf("%d %s", r.Code, r.Body.String())
			}
		}
		if len(b.cookies) != 0 {
			t.Errorf("a failed sign-in set cookies: %v", b.cookies)
		}
	})

	t.Run("cookie flags and a fresh session id (no fixation)", func(t *testing.T) {
		attacker := a.browser()
		attacker.signIn("agent@shop.test", testPassword)
		planted := attacker.cookies["retain_session"]
		if planted == nil {
			t.Fatal("no session cookie")
		}
		victim := a.browser()
		victim.cookies["retain_session"] = &http.Cookie{Name: "retain_session", Value: planted.Value}
		rec := victim.signIn("agent@shop.test", testPassword)
		var ck *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if c.Name == "retain_session" {
				ck = c
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
			t.Fatalf("cookie %+v", ck)
		}
		if ck.Value == planted.Value {
			t.Fatal("sign-in kept the session id the browser came with")
		}
		if rec := attacker.do("GET", "/customers", nil, nil); rec.Code != http.StatusSeeOther {
			t.Errorf("the planted session still works after the victim signed in over it: %d", rec.Code)
		}
		if u, _ := a.db.GetUser(ctx, agent.ID); u.LastLoginAt.IsZero() {
			t.Error("LastLoginAt not recorded")
		}
	})

	t.Run("next stays on this site", func(t *testing.T) {
		for next, want := range map[string]string{
			"/customers?q=ann": "/customers?q=ann", "//evil.example/x": "/", "/\\evil.example": "/",
			"https://evil.example/": "/", "javascript:alert(1)": "/", "/ok\r\nSet-Cookie: x=y": "/",
		} {
			b := a.browser()
			rec := b.do("POST", "/signin", url.Values{"email": {"agent@shop.test"}, "password": {testPassword}, "next": {next}}, nil)
			if got := rec.Header().Get("Location"); got != want {
				t.Errorf("next %q → %q, want %q", next, got, want)
			}
		}
	})

	t.Run("a page asks for sign-in and comes back", func(t *testing.T) {
		b := a.browser()
		rec := b.do("GET", "/customers?q=ann", nil, nil)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin?next=%2Fcustomers%3Fq%3Dann" {
			t.Fatalf("%d %q", rec.Code, rec.Header().Get("Location"))
		}
		rec = b.do("GET", "/customers", nil, map[string]string{"HX-Request": "true", "HX-Current-URL": "http://x/customers/5"})
		if rec.Code != http.StatusNoContent || rec.Header().Get("HX-Redirect") != "/signin?next=%2Fcustomers%2F5" {
			t.Errorf("htmx without a session: %d %q", rec.Code, rec.Header().Get("HX-Redirect"))
		}
	})

	t.Run("sign-out ends the session", func(t *testing.T) {
		b := a.browser()
		b.signIn("agent@shop.test", testPassword)
		old := *b.cookies["retain_session"]
		if rec := b.do("POST", "/signout", url.Values{"csrf_token": {b.csrf}}, nil); rec.Code != http.StatusSeeOther {
			t.Fatalf("sign-out: %d", rec.Code)
		}
		if _, ok := b.cookies["retain_session"]; ok {
			t.Error("cookie not cleared")
		}
		b.cookies["retain_session"] = &old // a copy kept by someone
		if rec := b.do("GET", "/customers", nil, nil); rec.Code != http.StatusSeeOther {
			t.Errorf("old cookie after sign-out: %d", rec.Code)
		}
	})

	t.Run("disabling a user ends their sessions at once", func(t *testing.T) {
		u := a.user("leaver@shop.test", core.RoleAgent)
		b := a.browser()
		b.signIn("leaver@shop.test", testPassword)
		if rec := b.do("GET", "/customers", nil, nil); rec.Code != 200 {
			t.Fatalf("before: %d", rec.Code)
		}
		if _, err := a.db.UpdateUser(ctx, u.ID, func(u *core.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if rec := b.do("GET", "/customers", nil, nil); rec.Code != http.StatusSeeOther {
			t.Errorf("disabled user's session still works: %d", rec.Code)
		}
		if rec := a.browser().signIn("leaver@shop.test", testPassword); rec.Code != 401 || !strings.Contains(rec.Body.String(), "disabled") {
			t.Errorf("disabled user signs in: %d", rec.Code)
		}
	})

	t.Run("an idle session ends", func(t *testing.T) {
		b := a.browser()
		b.signIn("agent@shop.test", testPassword)
		sum := hashCookie(b.cookies["retain_session"].Value)
		if err := a.db.TouchSession(ctx, sum, time.Now().Add(-a.cfg.Auth.SessionIdle-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if rec := b.do("GET", "/customers", nil, nil); rec.Code != http.StatusSeeOther {
			t.Errorf("idle session still works: %d", rec.Code)
		}
		if _, err := a.db.GetSession(ctx, sum); err == nil {
			t.Error("the ended session was not deleted")
		}
	})

	t.Run("no password or hash in pages or logs", func(t *testing.T) {
		b := a.browser()
		b.signIn("agent@shop.test", testPassword)
		for _, p := range []string{"/", "/customers", "/signin"} {
			if body := b.do("GET", p, nil, nil).Body.String(); strings.Contains(body, "$argon2id$") || strings.Contains(body, testPassword) {
				t.Errorf("%s shows a password or its hash", p)
			}
		}
		if l := a.logs.String(); strings.Contains(l, testPassword) || strings.Contains(l, "$argon2id$") || strings.Contains(l, b.cookies["retain_session"].Value) {
			t.Error("the log holds a password, a hash or a session secret")
		}
	})
}

func TestCSRF(t *testing.T) {
	a := newApp(t)
	a.user("agent@shop.test", core.RoleAgent)
	b := a.browser()
	b.signIn("agent@shop.test", testPassword)
	if b.csrf == "" {
		t.Fatal("no csrf token in the page")
	}
	patch := func(hdr map[string]string) int {
		req := httptest.NewRequest("PATCH", "/api/v1/customers/"+a.ids["ann"].String(), strings.NewReader(`{"name":"Changed"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(b.cookies["retain_session"])
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		a.h.ServeHTTP(rec, req)
		return rec.Code
	}
	for name, hdr := range map[string]map[string]string{
		"no token":         nil,
		"wrong token":      {"X-CSRF-Token": "x" + b.csrf},
		"cross-site fetch": {"X-CSRF-Token": b.csrf, "Sec-Fetch-Site": "cross-site"},
		"foreign origin":   {"X-CSRF-Token": b.csrf, "Origin": "https://evil.example"},
	} {
		if got := patch(hdr); got != 403 {
			t.Errorf("%s: %d, want 403", name, got)
		}
	}
	if c, _ := a.db.GetCustomer(context.Background(), a.ids["ann"]); c.Name != "Ann Example" {
		t.Fatalf("a refused request changed the customer: %q", c.Name)
	}
	if got := patch(map[string]string{"X-CSRF-Token": b.csrf, "Sec-Fetch-Site": "same-origin"}); got != 200 {
		t.Errorf("with the token: %d", got)
	}
	// A form post carries the token as a field.
	if rec := b.do("POST", "/signout", url.Values{}, nil); rec.Code != 403 {
		t.Errorf("sign-out without token: %d", rec.Code)
	}
	// Sign-in itself is protected by the origin check (login CSRF).
	if rec := a.browser().do("POST", "/signin", url.Values{"email": {"agent@shop.test"}, "password": {testPassword}},
		map[string]string{"Origin": "https://evil.example"}); rec.Code != 403 {
		t.Errorf("cross-origin sign-in: %d", rec.Code)
	}
}

func TestSignInRateLimit(t *testing.T) {
	a := newAppWith(t, func(c *config.Config) { c.Auth.MaxFailures = 3 })
	a.user("target@shop.test", core.RoleAgent)
	a.user("other@shop.test", core.RoleAgent)
	b := a.browser()
	for i := 0; i < 3; i++ {
		if rec := b.signIn("target@shop.test", "guess number "+string(rune('a'+i))); rec.Code != 401 {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	rec := b.signIn("target@shop.test", testPassword)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("after the limit, even the right password: %d", rec.Code)
	}
	if rec := b.signIn("other@shop.test", testPassword); rec.Code != http.StatusSeeOther {
		t.Errorf("another account from the same address: %d", rec.Code)
	}
	// The address limit: ten times the account limit, across accounts.
	for i := 0; i < 30; i++ {
		b.signIn("spray"+string(rune('a'+i))+"@shop.test", "wrong password")
	}
	if rec := b.signIn("other@shop.test", testPassword); rec.Code != http.StatusTooManyRequests {
		t.Errorf("after spraying from one address: %d", rec.Code)
	}
}

// Behind a trusted proxy the address limit counts the client its
// X-Forwarded-For names, not the proxy (which would lock everyone out at
// once); without one, X-Forwarded-For is a client's word and ignored.
func TestSignInLimitBehindProxy(t *testing.T) {
	spray := func(b *browser, xff string) {
		for i := 0; i < 30; i++ {
			b.do("POST", "/signin", url.Values{"email": {fmt.Sprintf("spray%d@shop.test", i)}, "password": {"wrong password"}},
				map[string]string{"X-Forwarded-For": xff})
		}
	}
	signIn := func(b *browser, xff string) int {
		return b.do("POST", "/signin", url.Values{"email": {"other@shop.test"}, "password": {testPassword}},
			map[string]string{"X-Forwarded-For": xff}).Code
	}
	// httptest requests come from 192.0.2.1, here the proxy.
	a := newAppWith(t, func(c *config.Config) { c.Auth.MaxFailures = 3; c.Server.TrustedProxies = []string{"192.0.2.0/24"} })
	a.user("other@shop.test", core.RoleAgent)
	spray(a.browser(), "203.0.113.5")
	if code := signIn(a.browser(), "203.0.113.5"); code != http.StatusTooManyRequests {
		t.Errorf("the spraying client: %d", code)
	}
	if code := signIn(a.browser(), "203.0.113.6"); code != http.StatusSeeOther {
		t.Errorf("another client behind the same proxy: %d", code)
	}
	// A client cannot hide behind a forged entry: the nearest untrusted
	// address counts.
	if code := signIn(a.browser(), "198.51.100.1, 203.0.113.5"); code != http.StatusTooManyRequests {
		t.Errorf("the spraying client with a forged X-Forwarded-For: %d", code)
	}

	b := newAppWith(t, func(c *config.Config) { c.Auth.MaxFailures = 3 })
	b.user("other@shop.test", core.RoleAgent)
	spray(b.browser(), "203.0.113.5")
	if code := signIn(b.browser(), "203.0.113.6"); code != http.StatusTooManyRequests {
		t.Errorf("no trusted proxy, a new X-Forwarded-For: %d (the header must be ignored)", code)
	}
}

func TestSecureCookieWhenHTTPS(t *testing.T) {
	a := newAppWith(t, func(c *config.Config) { c.Server.BaseURL = "https://crm.shop.test" })
	a.user("agent@shop.test", core.RoleAgent)
	rec := a.browser().signIn("agent@shop.test", testPassword)
	var ck *http.Cookie
	for _, c := range rec.Result().Cookies() {
		ck = c
	}
	if ck == nil || ck.Name != "__Host-retain_session" || !ck.Secure {
		t.Fatalf("cookie %+v", ck)
	}
}

func hashCookie(v string) []byte {
	h := sha256Sum([]byte(v))
	return h[:]
}

var sha256Sum = sha256.Sum256

// FuzzSignInForm: whatever a client posts to /signin or /setup, the answer
// is a page with a clear status, never a server error, and nobody is
// signed in or created by it.
func FuzzSignInForm(f *testing.F) {
	for _, s := range []string{"", "email=a%40b.c&password=x", "email=%ff%fe&password=%00", "email=" + strings.Repeat("a", 5000),
		"a=1&a=2&email=&password=", "%zz", "email=<script>&next=//evil", "token=x&email=a@b.c&password=0123456789&password2=0123456789"} {
		f.Add(s)
	}
	a := newApp(f)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/signin", "/setup"} {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			a.h.ServeHTTP(rec, req)
			if rec.Code >= 500 || rec.Code == http.StatusSeeOther {
				t.Fatalf("POST %s %q: %d", path, body, rec.Code)
			}
		}
	})
}
