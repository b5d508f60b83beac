package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// messaging opens the plugins and outbox pages and sends the target
// customer a message from their page through the echo channel, a real
// plugin subprocess: the message is sent through htmx, appears in the
// customer's messages and in the outbox, and the echo plugin's receipt
// marks it sent.
func messaging(t *testing.T, b *tab) {
	b.navigate("/admin/plugins")
	b.waitJS("the plugins page", `document.querySelector("h1")?.innerText === "Plugins"`)
	b.waitJS("the echo plugin running", `document.querySelector("table.plugins")?.innerText.toLowerCase().includes("running")`)
	b.screenshotSchemes("plugins")

	b.navigate("/admin/outbox")
	b.waitJS("the outbox page", `document.querySelector("h1")?.innerText === "Outbox"`)
	if !b.exists(".outbox-tiles") && !strings.Contains(b.text("main"), "not running") {
		t.Errorf("the outbox page shows neither counts nor why: %q", b.text("main"))
	}

	b.navigate(fmt.Sprintf("/customers/%s", b.s.target.ID))
	b.waitJS("the send form", `document.querySelector("#send-message") !== null`)
	// The harness runs the echo channel, so the form must offer it; the
	// "no channel" notes are covered by core/web's handler tests.
	if !b.exists("#send-channel") {
		t.Fatalf("the echo channel runs but the send form offers no channel: %q", b.text("#send-message"))
	}
	b.do(markPage())
	text := fmt.Sprintf("Your parcel is on its way (e2e %d)", time.Now().UnixNano())
	subject := "Parcel " + text[len(text)-8:]
	b.typeInto("#send-subject", subject)
	b.typeInto("#send-text", text)
	b.click(`#send-message button[type="submit"]`)
	b.waitJS("the message in the customer's messages", fmt.Sprintf(`document.querySelector("#messages-list")?.innerText.includes(%q)`, subject))
	if !eval[bool](b, pageMarked) {
		t.Error("sending reloaded the page")
	}
	if v := eval[string](b, `document.querySelector("#send-text")?.value ?? ""`); v != "" {
		t.Errorf("the message box still holds %q after sending", v)
	}
	b.navigate("/admin/outbox")
	b.waitJS("the message in the outbox", fmt.Sprintf(`document.querySelector("table.outbox")?.innerText.includes(%q)`, subject))
	// The delivery workers hand it to the echo plugin; the page is server
	// rendered, so reload until its row says sent.
	sent := fmt.Sprintf(`[...document.querySelectorAll("table.outbox tr")].some(r => r.innerText.includes(%q) && r.querySelector(".msg-sent") !== null)`, subject)
	for i := 0; !eval[bool](b, sent); i++ {
		if i == 50 {
			t.Fatalf("the message was not marked sent in the outbox: %q", b.text("table.outbox"))
		}
		time.Sleep(100 * time.Millisecond)
		b.navigate("/admin/outbox")
		b.waitJS("the outbox page", `document.querySelector("h1")?.innerText === "Outbox"`)
	}
	b.screenshot("outbox")

	b.navigate("/admin/plugins/echo")
	b.waitJS("the echo plugin's page", `document.querySelector("h1")?.innerText.includes("echo")`)
	b.screenshot("admin-plugin")
}
