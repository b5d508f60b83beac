// Command ntfy is an example third-party channel plugin for retain: it
// delivers messages as push notifications through an ntfy server
// (https://ntfy.sh or a self-hosted one). It is built as its own binary,
//
//	go build -o ntfy ./plugins/examples/ntfy
//
// copied into the CRM's plugins folder and pinned by its SHA-256 — never
// linked into the retain binary. docs/plugins.md walks through it.
//
// Like any third-party plugin it imports only plugins/sdk (a test in
// plugins/ enforces it). What it shows:
//
//   - a manifest with a configuration schema (a writeOnly secret) and grants
//     it really uses: customer field "tags" (urgent priority for tagged
//     customers) and capability "kv" (duplicate protection, a daily count,
//     the key that signs reply buttons);
//   - Send with retryable and permanent errors, and the idempotency key used
//     where the provider has no idempotency header of its own;
//   - ParseInbound: reply and unsubscribe buttons on the notification post
//     back to /hooks/ntfy/reply with a signed token.
package main

import "github.com/retain-crm/retain/plugins/sdk"

func main() { sdk.Serve(New()) }
