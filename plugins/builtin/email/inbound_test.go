package email_test

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"

	"github.com/retain-crm/retain/plugins/builtin/email"
	"github.com/retain-crm/retain/plugins/builtin/email/emailtest"
	"github.com/retain-crm/retain/plugins/sdk"
)

const formType = "application/x-www-form-urlencoded"

func inbound(method, path, contentType, body string) *sdk.InboundRequest {
	r := &sdk.InboundRequest{Method: method, Path: path, Body: []byte(body), RemoteAddr: "192.0.2.1:5555"}
	if contentType != "" {
		r.Headers = []*sdk.Header{{Name: "content-type", Value: contentType}}
	}
	return r
}

func multipartBody(t *testing.T, fields map[string]string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	return w.FormDataContentType(), b.String()
}

func TestUnsubscribeFlow(t *testing.T) {
	srv := emailtest.NewServer(t)
	h := start(t, srv, map[string]any{"from_name": "Shop <b>&</b>"})
	ctx := context.Background()
	if _, err := h.Channel.Send(ctx, message("u1")); err != nil {
		t.Fatal(err)
	}
	// The link as the mail carries it, below /hooks/email.
	link := strings.Trim(srv.Messages()[0].Header.Get("List-Unsubscribe"), "<>")
	path := strings.TrimPrefix(link, hookURL)
	if path == link || !strings.HasPrefix(path, "/unsubscribe?") {
		t.Fatalf("link %q", link)
	}

	t.Run("GET shows a form and changes nothing", func(t *testing.T) {
		for _, m := range []string{"GET", "HEAD", "get"} {
			r, err := h.Channel.ParseInbound(ctx, inbound(m, path, "", ""))
			if err != nil {
				t.Fatal(err)
			}
			body := string(r.GetBody())
			if len(r.GetInteractions()) != 0 || len(r.GetConsentChanges()) != 0 {
				t.Fatalf("%s unsubscribed: %v", m, r)
			}
			if r.GetStatusCode() != 200 || !strings.HasPrefix(r.GetContentType(), "text/html") ||
				!strings.Contains(body, `<form method="post" action="unsubscribe?c=42&amp;t=`+wantToken(secret, "42")+`">`) ||
				!strings.Contains(body, `name="List-Unsubscribe" value="One-Click"`) {
				t.Errorf("page: %d %s\n%s", r.GetStatusCode(), r.GetContentType(), body)
			}
			for _, bad := range []string{"<script", "style=", "<b>&"} {
				if strings.Contains(body, bad) {
					t.Errorf("page contains %q:\n%s", bad, body)
				}
			}
		}
	})

	t.Run("one-click POST unsubscribes", func(t *testing.T) {
		ct, mp := multipartBody(t, map[string]string{"List-Unsubscribe": "One-Click"})
		var keys []string
		for _, tc := range []struct{ name, ct, body string }{
			{"form", formType, "List-Unsubscribe=One-Click"},
			{"form with charset", formType + "; charset=utf-8", "List-Unsubscribe=One-Click"},
			{"no content type", "", "List-Unsubscribe=One-Click"},
			{"multipart", ct, mp},
		} {
			r, err := h.Channel.ParseInbound(ctx, inbound("POST", path, tc.ct, tc.body))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if r.GetStatusCode() != 200 || len(r.GetConsentChanges()) != 1 || len(r.GetInteractions()) != 1 {
				t.Fatalf("%s: %v", tc.name, r)
			}
			cc, in := r.GetConsentChanges()[0], r.GetInteractions()[0]
			if cc.GetCustomer().GetId() != "42" || cc.GetChannel() != "email" || cc.GetGranted() || cc.GetSource() != "list-unsubscribe" {
				t.Errorf("%s: consent change %v", tc.name, cc)
			}
			if in.GetCustomer().GetId() != "42" || in.GetType() != sdk.TypeUnsubscribed || in.GetChannel() != "email" ||
				!strings.HasPrefix(in.GetIdempotencyKey(), "email:unsubscribe:42:") || in.GetTime() == nil {
				t.Errorf("%s: interaction %v", tc.name, in)
			}
			keys = append(keys, in.GetIdempotencyKey())
		}
		// A repeated POST (a client retrying, a replay) names the same
		// interaction, so the host stores one.
		for _, k := range keys {
			if k != keys[0] {
				t.Errorf("idempotency keys differ: %v", keys)
			}
		}
	})

	q, _ := url.ParseQuery(strings.TrimPrefix(path, "/unsubscribe?"))
	tok := q.Get("t")
	for _, tc := range []struct {
		name, method, path, ct, body string
		kind                         error
	}{
		{"forged token", "POST", "/unsubscribe?c=42&t=AAAAAAAAAAAAAAAAAAAAAA", formType, "List-Unsubscribe=One-Click", sdk.ErrPermissionDenied},
		{"another customer's token", "POST", "/unsubscribe?c=43&t=" + tok, formType, "List-Unsubscribe=One-Click", sdk.ErrPermissionDenied},
		{"forged token on GET", "GET", "/unsubscribe?c=42&t=x", "", "", sdk.ErrPermissionDenied},
		{"missing token", "POST", "/unsubscribe?c=42", formType, "List-Unsubscribe=One-Click", sdk.ErrPermissionDenied},
		{"empty token", "GET", "/unsubscribe?c=42&t=", "", "", sdk.ErrPermissionDenied},
		{"token of another secret", "POST", "/unsubscribe?c=42&t=" + wantToken("another secret 123", "42"), formType, "List-Unsubscribe=One-Click", sdk.ErrPermissionDenied},
		{"missing customer", "POST", "/unsubscribe?t=" + tok, formType, "List-Unsubscribe=One-Click", sdk.ErrInvalid},
		{"customer twice", "POST", "/unsubscribe?c=42&c=43&t=" + tok, formType, "List-Unsubscribe=One-Click", sdk.ErrInvalid},
		{"token twice", "POST", "/unsubscribe?c=42&t=" + tok + "&t=" + tok, formType, "List-Unsubscribe=One-Click", sdk.ErrInvalid},
		{"hostile customer id", "GET", "/unsubscribe?c=%3Cscript%3E&t=" + tok, "", "", sdk.ErrInvalid},
		{"bad query escape", "GET", "/unsubscribe?c=%zz&t=" + tok, "", "", sdk.ErrInvalid},
		{"empty body", "POST", path, formType, "", sdk.ErrInvalid},
		{"wrong value", "POST", path, formType, "List-Unsubscribe=Yes", sdk.ErrInvalid},
		{"JSON body", "POST", path, "application/json", `{"List-Unsubscribe":"One-Click"}`, sdk.ErrInvalid},
		{"malformed content type", "POST", path, "multipart/form-data; boundary", "x", sdk.ErrInvalid},
		{"multipart without boundary", "POST", path, "multipart/form-data", "x", sdk.ErrInvalid},
		{"malformed multipart", "POST", path, "multipart/form-data; boundary=zz", "--zz\r\nbroken", sdk.ErrInvalid},
		{"malformed form", "POST", path, formType, "List-Unsubscribe=%zz", sdk.ErrInvalid},
		{"huge body", "POST", path, formType, "List-Unsubscribe=One-Click&x=" + strings.Repeat("a", 1<<20), sdk.ErrTooLarge},
		{"unknown path", "POST", "/bounce", formType, "", sdk.ErrNotFound},
		{"path traversal", "GET", "/../unsubscribe?c=42&t=" + tok, "", "", sdk.ErrNotFound},
		{"root", "GET", "/", "", "", sdk.ErrNotFound},
		{"empty path", "GET", "", "", "", sdk.ErrNotFound},
		{"trailing slash", "GET", "/unsubscribe/?c=42&t=" + tok, "", "", sdk.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := h.Channel.ParseInbound(ctx, inbound(tc.method, tc.path, tc.ct, tc.body))
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err %v (response %v), want %v", err, r, tc.kind)
			}
		})
	}
	t.Run("other methods: 405, nothing stored", func(t *testing.T) {
		for _, m := range []string{"PUT", "DELETE", "OPTIONS", ""} {
			r, err := h.Channel.ParseInbound(ctx, inbound(m, path, formType, "List-Unsubscribe=One-Click"))
			if err != nil || r.GetStatusCode() != 405 || len(r.GetConsentChanges())+len(r.GetInteractions()) != 0 {
				t.Errorf("%s: %v %v", m, r, err)
			}
		}
	})
	t.Run("multipart with many parts", func(t *testing.T) {
		fields := map[string]string{}
		for i := range 40 {
			fields[string(rune('a'+i%26))+strings.Repeat("x", i)] = "v"
		}
		ct, body := multipartBody(t, fields)
		if _, err := h.Channel.ParseInbound(ctx, inbound("POST", path, ct, body)); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("err %v", err)
		}
	})
}

// FuzzParseInbound: whatever arrives, ParseInbound never panics, and it
// withdraws consent only on a POST to /unsubscribe carrying the right
// token for that customer.
func FuzzParseInbound(f *testing.F) {
	p := email.New()
	if err := p.Configure(context.Background(), []byte(`{"host":"127.0.0.1","security":"none","from":"a@b.example","unsubscribe_secret":"`+secret+`"}`), nil); err != nil {
		f.Fatal(err)
	}
	ch := p.(sdk.Channel)
	tok := wantToken(secret, "42")
	f.Add("POST", "/unsubscribe?c=42&t="+tok, formType, []byte("List-Unsubscribe=One-Click"))
	f.Add("GET", "/unsubscribe?c=42&t="+tok, "", []byte(nil))
	f.Add("POST", "/unsubscribe?c=42&t="+tok, "multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n"))
	f.Add("POST", "/unsubscribe?c=43&t=x", formType, []byte("List-Unsubscribe=One-Click"))
	f.Add("PUT", "/x?%", "text/plain", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, method, path, ct string, body []byte) {
		r := &sdk.InboundRequest{Method: method, Path: path, Body: body, Headers: []*sdk.Header{{Name: "Content-Type", Value: ct}}}
		resp, err := ch.ParseInbound(context.Background(), r)
		if err != nil {
			if resp != nil {
				t.Fatalf("error %v with a response", err)
			}
			return
		}
		if len(resp.GetConsentChanges()) == 0 && len(resp.GetInteractions()) == 0 {
			return
		}
		u, perr := url.Parse(path)
		if perr != nil || !strings.EqualFold(method, "POST") || u.Path != "/unsubscribe" {
			t.Fatalf("consent withdrawn by %s %q", method, path)
		}
		cid := resp.GetConsentChanges()[0].GetCustomer().GetId()
		if u.Query().Get("t") != wantToken(secret, cid) || u.Query().Get("c") != cid {
			t.Fatalf("consent of %q withdrawn without its token: %q", cid, path)
		}
	})
}
