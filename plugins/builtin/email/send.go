package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/retain-crm/retain/plugins/sdk"
)

// newClient is the go-mail client of a configuration. It holds settings
// only; the pool dials its connections through it.
func newClient(c *config) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(c.Port),
		gomail.WithTimeout(c.timeout()),
		gomail.WithTLSConfig(&tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12,
			InsecureSkipVerify: c.TLSSkipVerify}), //nolint:gosec // documented as for tests only
		// No NOOP before and no RSET after each message: two round trips
		// fewer per message. A connection that died in the pool fails at
		// MAIL FROM, before anything was committed, and Send retries it
		// once on a fresh one.
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	switch c.Security {
	case secTLS:
		opts = append(opts, gomail.WithSSL())
	case secSTARTTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case secNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.HELO != "" {
		opts = append(opts, gomail.WithHELO(c.HELO))
	}
	if c.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if c.Security == secNone {
			// The admin chose clear text (loopback or allow_insecure);
			// auto-discovery would refuse PLAIN without TLS.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	return gomail.NewClient(c.Host, opts...)
}

// messageID is the Message-ID of the message with idempotency key key:
// the same key gives the same id, so a receiver can drop a resend.
func messageID(key, domain string) string {
	sum := sha256.Sum256([]byte(key))
	return "<" + hex.EncodeToString(sum[:])[:32] + "@" + domain + ">"
}

// Send delivers m and answers its Message-ID (angle brackets included).
// Safe for concurrent use: each call borrows one pooled connection.
func (p *Plugin) Send(ctx context.Context, m *sdk.Message) (string, error) {
	var (
		st  *state
		cn  *conn
		msg *gomail.Msg
		id  string
		err error
	)
	for { // again when Configure replaced the state while we waited
		if st = p.st.Load(); st == nil {
			return "", sdk.Retryablef("email channel not configured yet")
		}
		if msg, id, err = st.build(m); err != nil {
			return "", err
		}
		if cn, err = st.pool.get(ctx); err == nil {
			break
		}
		if !errors.Is(err, errPoolClosed) {
			return "", sdk.Retryablef("waiting for an SMTP connection: %v", err)
		}
	}
	for attempt := 0; ; attempt++ {
		if cn.c == nil {
			if cn.c, err = st.client.DialToSMTPClientWithContext(ctx); err != nil {
				cn.c = nil
				st.pool.put(cn, false)
				if ctx.Err() == nil { // the server's fault, not a caller who gave up
					p.noteFailure(err)
				}
				return "", sdk.Retryablef("connecting to %s:%d: %v", st.cfg.Host, st.cfg.Port, err)
			}
		}
		err = st.client.SendWithSMTPClient(cn.c, msg)
		if err == nil || msg.IsDelivered() {
			st.pool.put(cn, err == nil)
			p.noteSuccess()
			return id, nil
		}
		code, reason := sendErrorOf(err)
		broken := code == 0 // no SMTP reply: the connection is gone or unusable
		if !broken && cn.c.Reset() != nil {
			broken = true
		}
		// A connection that died while pooled (the server restarted or
		// timed it out) fails before the message was committed (anything
		// but the end of DATA): retry once on a fresh connection, and drop
		// the other idle ones, which are likely dead too.
		if broken && cn.reused && attempt == 0 && reason != gomail.ErrSMTPDataClose {
			quit(cn.c)
			cn.c, cn.reused = nil, false
			st.pool.dropIdle()
			msg, _, _ = st.build(m) // a fresh Msg: go-mail marked the failed one
			continue
		}
		st.pool.put(cn, !broken)
		if broken {
			p.noteFailure(err)
		}
		return "", classify(code, reason, err)
	}
}

// sendErrorOf digs the SMTP reply code (0: none, a network error) and the
// stage out of what go-mail returned.
func sendErrorOf(err error) (int, gomail.SendErrReason) {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return 0, gomail.ErrAmbiguous
	}
	code := se.ErrorCode()
	if code == 0 {
		var tp *textproto.Error
		if errors.As(err, &tp) {
			code = tp.Code
		}
	}
	return code, se.Reason
}

// classify maps an SMTP failure to the SDK's kinds: 4xx and network errors
// may pass later, 5xx on MAIL/RCPT/DATA will not, and a 5xx refusing the
// recipient's address itself is a hard bounce.
func classify(code int, reason gomail.SendErrReason, err error) error {
	switch {
	case reason == gomail.ErrGetSender || reason == gomail.ErrGetRcpts || reason == gomail.ErrNoUnencoded:
		return sdk.Permanentf("message refused before sending: %v", err)
	case reason == gomail.ErrSMTPRcptTo && hardBounce(code, enhancedCode(err)):
		return sdk.Bouncedf("SMTP server refused the recipient: %v", err)
	case code >= 500 && code < 600:
		return sdk.Permanentf("SMTP server refused the message (%s): %v", reason, err)
	default:
		return sdk.Retryablef("SMTP %s: %v", reason, err)
	}
}

// hardBounce tells a refusal of the address (RFC 3463 5.1.x bad mailbox or
// domain, 5.2.1 mailbox disabled; without an enhanced code, 550/551/553)
// from a refusal for another reason: policy (5.7.x), a full mailbox
// (5.2.2), the system (5.3.x/5.4.x) — those say nothing about the address
// and must not mark it dead.
func hardBounce(code int, enhanced string) bool {
	switch {
	case code < 500 || code > 599:
		return false
	case strings.HasPrefix(enhanced, "5.1."), enhanced == "5.2.1":
		return true
	case enhanced != "" && enhanced != "5.0.0":
		return false
	}
	return code == 550 || code == 551 || code == 553
}

// enhancedCode is the RFC 3463 status code of an SMTP reply ("5.1.1"), or "".
func enhancedCode(err error) string {
	var se *gomail.SendError
	if errors.As(err, &se) {
		return se.EnhancedStatusCode()
	}
	return ""
}

// Headers a message may not set: the plugin owns them (addresses, ids,
// dates, MIME structure) or they would forge the trace.
func refusedHeader(canon string) bool {
	switch canon {
	case "From", "Sender", "To", "Cc", "Bcc", "Reply-To", "Message-Id", "Date", "Subject", "Mime-Version",
		"Return-Path", "Received", "Dkim-Signature", "Content-Transfer-Encoding", "Content-Type":
		return true
	}
	return strings.HasPrefix(canon, "Content-") || strings.HasPrefix(canon, "Resent-") ||
		strings.HasPrefix(canon, "Arc-") || strings.HasPrefix(canon, "X-Original-")
}

const (
	maxHeaders     = 50
	maxHeaderValue = 900 // a header line stays under RFC 5322's 998
)

// build makes the go-mail message of m and its Message-ID.
func (st *state) build(m *sdk.Message) (*gomail.Msg, string, error) {
	key := m.GetIdempotencyKey()
	if key == "" {
		return nil, "", sdk.Invalidf("message without idempotency key")
	}
	rc := m.GetRecipient()
	if rc.GetEmail() == "" {
		return nil, "", sdk.Permanentf("the recipient has no e-mail address")
	}
	to, err := mail.ParseAddress(rc.GetEmail())
	if err != nil || to.Name != "" || hasControl(rc.GetEmail()) || len(rc.GetEmail()) > 254 {
		return nil, "", sdk.Permanentf("recipient address %q is not an e-mail address", rc.GetEmail())
	}
	if m.GetText() == "" && m.GetHtml() == "" {
		return nil, "", sdk.Invalidf("message has neither text nor html")
	}
	id := messageID(key, st.cfg.domain)
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(&mail.Address{Name: st.cfg.FromName, Address: st.cfg.From})
	msg.ToMailAddress(&mail.Address{Name: cleanName(rc.GetName()), Address: to.Address})
	if st.cfg.ReplyTo != "" {
		msg.ReplyToMailAddress(&mail.Address{Address: st.cfg.ReplyTo})
	}
	msg.Subject(m.GetSubject()) // encoded word-wise by go-mail: a CR/LF in it cannot start a header
	msg.SetGenHeader(gomail.HeaderMessageID, id)
	msg.SetDate()
	unsub := st.unsubscribeURL(m)
	if len(m.GetHeaders()) > maxHeaders {
		return nil, "", sdk.Invalidf("more than %d headers", maxHeaders)
	}
	for name, value := range m.GetHeaders() {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if !validHeaderName(name) {
			return nil, "", sdk.Invalidf("header name %q is not a token", name)
		}
		if refusedHeader(canon) {
			return nil, "", sdk.Invalidf("header %s is set by the email channel, not by the message", canon)
		}
		if strings.ContainsAny(value, "\r\n\x00") || len(value) > maxHeaderValue {
			return nil, "", sdk.Invalidf("header %s: line breaks, NUL or longer than %d bytes", canon, maxHeaderValue)
		}
		if unsub != "" && (canon == "List-Unsubscribe" || canon == "List-Unsubscribe-Post") {
			continue // the one-click link below replaces the sender's
		}
		msg.SetGenHeader(gomail.Header(canon), value)
	}
	if unsub != "" {
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, "<"+unsub+">")
		// RFC 8058 one-click needs an https URI; over http the link is
		// still offered (RFC 2369), without the one-click promise.
		if strings.HasPrefix(unsub, "https://") {
			msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
		}
	}
	switch {
	case m.GetText() != "" && m.GetHtml() != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.GetText())
		msg.AddAlternativeString(gomail.TypeTextHTML, m.GetHtml())
	case m.GetText() != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.GetText())
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.GetHtml())
	}
	return msg, id, nil
}

// unsubscribeURL is the one-click link for m, or "" when the host gave no
// hook URL or the message names no customer.
func (st *state) unsubscribeURL(m *sdk.Message) string {
	hook := m.GetMetadata()[sdk.MetaHookURL]
	cid := m.GetRecipient().GetCustomerId()
	if hook == "" || !validCustomerID(cid) {
		return ""
	}
	u, err := url.Parse(hook)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" ||
		u.Fragment != "" || strings.ContainsFunc(hook, func(r rune) bool { return r <= ' ' || r == '<' || r == '>' || r > '~' }) {
		return "" // not a URL the host builds; never put it in a header
	}
	return strings.TrimSuffix(hook, "/") + "/unsubscribe?c=" + url.QueryEscape(cid) + "&t=" + token(st.secret, cid)
}

// validHeaderName: RFC 5322 field names are printable ASCII without ':';
// letters, digits and '-' are all a real header uses.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// cleanName drops control characters from a display name and bounds it.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return strings.TrimSpace(s)
}

// pool bounds the parallel sends to n and keeps their connections open
// between messages. Idle connections are a stack: under light load the
// most recently used one serves again and the rest time out, so few
// connections stay open.
type pool struct {
	sem chan struct{} // one token per connection in use

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

type conn struct {
	c      *smtp.Client // nil: dial before use
	used   time.Time
	reused bool // it sat in the pool since its last message
}

var errPoolClosed = errors.New("connection pool replaced")

// idleMax: a connection unused this long is closed instead of reused
// (servers drop idle clients after a few minutes; RFC 5321 says 5).
const idleMax = 60 * time.Second

func newPool(n int) *pool { return &pool{sem: make(chan struct{}, n)} }

// get waits for a free place and returns the freshest idle connection, or
// one to dial.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		<-p.sem
		return nil, errPoolClosed
	}
	for len(p.idle) > 0 {
		cn := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(cn.used) < idleMax {
			cn.reused = true
			return cn, nil
		}
		quit(cn.c)
	}
	return &conn{}, nil
}

// put gives the place back, keeping the connection when ok.
func (p *pool) put(cn *conn, ok bool) {
	p.mu.Lock()
	if ok && !p.closed && cn.c != nil {
		cn.used, cn.reused = time.Now(), false
		p.idle = append(p.idle, cn)
	} else if cn.c != nil {
		quit(cn.c)
	}
	p.mu.Unlock()
	<-p.sem
}

// dropIdle closes the idle connections.
func (p *pool) dropIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cn := range p.idle {
		quit(cn.c)
	}
	p.idle = nil
}

// close drops the idle connections; busy ones are closed when put back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.dropIdle()
}

// quit says QUIT in the background (it waits for the server's answer) and
// closes the connection.
func quit(c *smtp.Client) {
	go func() {
		if c.Quit() != nil {
			c.Close()
		}
	}()
}
