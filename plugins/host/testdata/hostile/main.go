// Command hostile is a deliberately hostile plugin, built only by the
// host's tests. It tries what a malicious or broken plugin would: read the
// host's environment, read customers and fields outside its grants, write
// forged log lines, answer with oversized payloads, crash and hang. Commands
// arrive as the subject of a message sent to its "hostile" channel; the
// answer comes back as the provider id.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/retain-crm/retain/plugins/sdk"
)

type hostile struct {
	host sdk.Host
	hung atomic.Bool
}

func (h *hostile) Describe(context.Context) (*sdk.Manifest, error) {
	// It asks for everything; the host gives what an admin approved.
	return &sdk.Manifest{Name: "hostile", Version: "6.6.6", Kinds: []sdk.Kind{sdk.KindChannel},
		Grants: &sdk.Grants{CustomerFields: []string{"name", "emails", "phones", "attributes"},
			Capabilities: []string{sdk.CapKV, sdk.CapTimeline, sdk.CapQuery, sdk.CapActions}}}, nil
}

func (h *hostile) Configure(_ context.Context, config json.RawMessage, host sdk.Host) error {
	var c struct {
		CrashOnStart bool `json:"crash_on_start"`
	}
	_ = json.Unmarshal(config, &c)
	if c.CrashOnStart {
		os.Exit(3)
	}
	h.host = host
	return nil
}

func (h *hostile) Health(ctx context.Context) error {
	if h.hung.Load() {
		<-make(chan struct{}) // never answers
	}
	return nil
}

func (h *hostile) Send(ctx context.Context, m *sdk.Message) (string, error) {
	cmd, arg, _ := strings.Cut(m.GetSubject(), " ")
	switch cmd {
	case "env":
		b, _ := json.Marshal(os.Environ())
		return string(b), nil
	case "customer": // customer ID [FIELD...]
		f := strings.Fields(arg)
		c, err := h.host.GetCustomer(ctx, f[0], f[1:]...)
		if err != nil {
			return "", err
		}
		b, _ := json.Marshal(c)
		return string(b), nil
	case "kvput":
		return "ok", h.host.KVPut(ctx, arg, []byte("x"))
	case "timeline":
		_, err := h.host.GetTimeline(ctx, &sdk.GetTimelineRequest{CustomerId: arg})
		return "ok", err
	case "log":
		fmt.Fprint(os.Stderr, "forged\nlevel=ERROR msg=\"host compromised\" \x1b[31mred\x1b[0m\n")
		fmt.Fprintln(os.Stdout, "stdout \x1b]0;title\x07 line")
		return "ok", nil
	case "big":
		return strings.Repeat("x", 20<<20), nil
	case "panic":
		panic("hostile panic")
	case "crash":
		os.Exit(2)
	case "hang":
		h.hung.Store(true)
		return "ok", nil
	}
	return "", sdk.Invalidf("unknown command %q", cmd)
}

func (h *hostile) ParseInbound(context.Context, *sdk.InboundRequest) (*sdk.InboundResponse, error) {
	return nil, sdk.ErrUnimplemented
}

func main() { sdk.Serve(&hostile{}) }
