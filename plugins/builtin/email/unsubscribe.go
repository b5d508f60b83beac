package email

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/retain-crm/retain/plugins/sdk"
)

// token signs customer cid's unsubscribe link: the first 16 bytes (128
// bits, 22 characters) of HMAC-SHA256(secret, cid + "\x00email") in
// base64url. The channel name is in the MAC so a token of another channel
// using the same secret cannot unsubscribe from e-mail.
func token(secret []byte, cid string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(cid + "\x00" + Name))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// validCustomerID bounds what a link may carry as a customer id: up to 64
// letters, digits, '.', '_' or '-' (the CRM's ids are decimal numbers).
func validCustomerID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// maxInboundBody: a one-click POST is 26 bytes; a form-data one a few
// hundred.
const maxInboundBody = 64 << 10

// ParseInbound serves /hooks/email/unsubscribe?c=CUSTOMER&t=TOKEN:
//   - POST with the body List-Unsubscribe=One-Click (form-urlencoded or
//     multipart/form-data, RFC 8058) withdraws the customer's e-mail
//     consent and records an "unsubscribed" interaction (once a day);
//   - GET or HEAD (a person clicking a link, or a link scanner) changes
//     nothing and answers a page with a button that makes that POST.
//
// A missing or forged token is PermissionDenied, a malformed request
// Invalid, another path NotFound; another method is answered 405.
func (p *Plugin) ParseInbound(_ context.Context, r *sdk.InboundRequest) (*sdk.InboundResponse, error) {
	st := p.st.Load()
	if st == nil {
		return nil, sdk.Retryablef("email channel not configured yet")
	}
	u, err := url.Parse(r.GetPath())
	if err != nil {
		return nil, sdk.Invalidf("path: %v", err)
	}
	if u.Path != "/unsubscribe" {
		return nil, sdk.NotFoundf("no %q here; the email channel answers /unsubscribe", u.Path)
	}
	method := strings.ToUpper(r.GetMethod())
	if method != "GET" && method != "HEAD" && method != "POST" {
		return page(405, "Method not allowed", "Use the link in the e-mail.", nil), nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, sdk.Invalidf("query: %v", err)
	}
	cid, err := single(q, "c")
	if err != nil {
		return nil, err
	}
	if !validCustomerID(cid) {
		return nil, sdk.Invalidf("c: not a customer id")
	}
	tok, err := single(q, "t")
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, sdk.PermissionDeniedf("unsubscribe link without token")
	}
	if !hmac.Equal([]byte(tok), []byte(token(st.secret, cid))) {
		return nil, sdk.PermissionDeniedf("unsubscribe token does not match")
	}
	if method != "POST" {
		// Never unsubscribe on GET: scanners follow links in mail.
		return page(200, "Unsubscribe", "Stop receiving e-mail"+from(st.cfg)+"?",
			&form{Action: "unsubscribe?c=" + url.QueryEscape(cid) + "&t=" + url.QueryEscape(tok)}), nil
	}
	if len(r.GetBody()) > maxInboundBody {
		return nil, fmt.Errorf("%w: body over %d bytes", sdk.ErrTooLarge, maxInboundBody)
	}
	if err := oneClick(sdk.HeaderValue(r, "Content-Type"), r.GetBody()); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	who := &sdk.CustomerRef{Id: cid}
	resp := page(200, "Unsubscribed", "You will receive no more e-mail"+from(st.cfg)+".", nil)
	resp.Interactions = []*sdk.Interaction{{
		Customer: who, Type: sdk.TypeUnsubscribed, Channel: Name, Time: timestamppb.New(now),
		Properties: map[string]string{"source": "list-unsubscribe"},
		// One a day: a client that posts twice (or a replayed request)
		// stores nothing new; unsubscribing again another day does.
		IdempotencyKey: "email:unsubscribe:" + cid + ":" + now.Format(time.DateOnly),
	}}
	resp.ConsentChanges = []*sdk.ConsentChange{{Customer: who, Channel: Name, Granted: false,
		Source: "list-unsubscribe", Time: timestamppb.New(now)}}
	return resp, nil
}

func single(q url.Values, k string) (string, error) {
	switch v := q[k]; len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	default:
		return "", sdk.Invalidf("%s: given %d times", k, len(v))
	}
}

// oneClick checks the RFC 8058 body: the field List-Unsubscribe with the
// value One-Click, form-urlencoded (the usual) or multipart/form-data.
func oneClick(contentType string, body []byte) error {
	media, params := "application/x-www-form-urlencoded", map[string]string(nil)
	if contentType != "" {
		var err error
		if media, params, err = mime.ParseMediaType(contentType); err != nil {
			return sdk.Invalidf("Content-Type: %v", err)
		}
	}
	var value string
	switch media {
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return sdk.Invalidf("body: %v", err)
		}
		value = vals.Get("List-Unsubscribe")
	case "multipart/form-data":
		if params["boundary"] == "" {
			return sdk.Invalidf("Content-Type: multipart without boundary")
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for i := 0; ; i++ {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || i >= 16 {
				return sdk.Invalidf("body: malformed multipart form")
			}
			if part.FormName() == "List-Unsubscribe" {
				b, err := io.ReadAll(io.LimitReader(part, 64))
				if err != nil {
					return sdk.Invalidf("body: %v", err)
				}
				value = string(b)
				break
			}
		}
	default:
		return sdk.Invalidf("Content-Type %s: expected a form", media)
	}
	if strings.TrimSpace(value) != "One-Click" {
		return sdk.Invalidf("body: expected List-Unsubscribe=One-Click")
	}
	return nil
}

func from(c *config) string {
	if c.FromName != "" {
		return " from " + c.FromName
	}
	return " from " + c.From
}

type form struct{ Action string }

// pageTmpl is the whole UI of the channel: no script, no inline style, so
// it works under the strictest Content-Security-Policy.
var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title></head>
<body><main><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{with .Form}}<form method="post" action="{{.Action}}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>{{end}}
</main></body></html>
`))

func page(status int32, title, text string, f *form) *sdk.InboundResponse {
	var b bytes.Buffer
	_ = pageTmpl.Execute(&b, struct {
		Title, Text string
		Form        *form
	}{title, text, f}) // executes into memory; it cannot fail
	return &sdk.InboundResponse{StatusCode: status, ContentType: "text/html; charset=utf-8", Body: b.Bytes()}
}
