package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// messaging opens the plugins and outbox pages and sends the target
// customer a message from their page. Whether a channel runs depends on
// how the app wires plugins for this test: with one, the message is sent
// through htmx and appears in the customer's messages; without one, the
// pages say so instead of offering what cannot work.
func messaging(t *testing.T, b *tab) {
	b.navigate("/admin/plugins")
	b.waitJS("the plugins page", `document.querySelector("h1")?.innerText === "Plugins"`)
	if !b.exists("table.plugins") && !strings.Contains(b.text("main"), "not running") && !strings.Contains(b.text("main"), "No plugins are configured") {
		t.Errorf("the plugins page shows neither plugins nor why there are none: %q", b.text("main"))
	}
	b.screenshotSchemes("plugins")

	b.navigate("/admin/outbox")
	b.waitJS("the outbox page", `document.querySelector("h1")?.innerText === "Outbox"`)
	if !b.exists(".outbox-tiles") && !strings.Contains(b.text("main"), "not running") {
		t.Errorf("the outbox page shows neither counts nor why: %q", b.text("main"))
	}

	b.navigate(fmt.Sprintf("/customers/%s", b.s.target.ID))
	b.waitJS("the send form", `document.querySelector("#send-message") !== null`)
	if !b.exists("#send-channel") {
		msg := b.text("#send-message")
		if !strings.Contains(msg, "No channel is running") && !strings.Contains(msg, "not running") {
			t.Errorf("no channel, and no note saying so: %q", msg)
		}
		return
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
}
