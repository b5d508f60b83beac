// Package emailtest is a real SMTP server (emersion/go-smtp) on loopback
// for tests and benchmarks of the email channel: it records every message
// it accepts, can be told to refuse with a given SMTP code, and can offer
// STARTTLS, implicit TLS and AUTH with a throwaway certificate.
//
// It imports only the standard library and go-smtp/go-sasl, so any package
// (the plugin's tests, core/app's crash test and benchmarks) may use it.
//
//	srv := emailtest.NewServer(t)
//	cfg, _ := json.Marshal(srv.Config("shop@example.com"))
//	... send through the email plugin configured with cfg ...
//	srv.Wait(ctx, 1000)
//	if srv.Distinct() != 1000 { ... }
package emailtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO
	// MessageID is the Message-ID header as sent, angle brackets included
	// ("<...@example.com>"); the email plugin returns the same string as
	// its provider id.
	MessageID string
	Header    mail.Header
	// Raw is the whole message as received (headers and body); nil when
	// the server was started WithoutBodies.
	Raw []byte
}

// Option changes what NewServer starts.
type Option func(*options)

type options struct {
	starttls, implicitTLS, noBodies bool
	user, pass                      string
}

// WithSTARTTLS offers STARTTLS with a self-signed certificate (configure
// the client with tls_skip_verify).
func WithSTARTTLS() Option { return func(o *options) { o.starttls = true } }

// WithImplicitTLS serves TLS from the first byte (security "tls"), with a
// self-signed certificate.
func WithImplicitTLS() Option { return func(o *options) { o.implicitTLS = true } }

// WithAuth requires AUTH PLAIN with these credentials before MAIL FROM.
func WithAuth(username, password string) Option {
	return func(o *options) { o.user, o.pass = username, password }
}

// WithoutBodies keeps only the headers of each message (Raw is nil), so a
// benchmark of many messages does not hold them all in memory.
func WithoutBodies() Option { return func(o *options) { o.noBodies = true } }

// Server is a running SMTP server on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	Addr string // "127.0.0.1:PORT"
	Host string // "127.0.0.1"
	Port int

	opts      options
	srv       *smtp.Server
	closeOnce sync.Once

	mu       sync.Mutex
	msgs     []Message
	ids      map[string]int
	conns    int
	open     map[net.Conn]struct{}
	rcptCode int
	rcptEnh  smtp.EnhancedCode
	dataCode int
	changed  chan struct{} // closed and replaced whenever msgs grows
}

// NewServer starts a server on 127.0.0.1:0; t's cleanup stops it.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{ids: map[string]int{}, open: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(&s.opts)
	}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.MaxMessageBytes = 16 << 20
	s.srv.MaxRecipients = 100
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.ErrorLog = log.New(io.Discard, "", 0) // connections cut by tests are expected
	s.srv.AllowInsecureAuth = !s.opts.starttls && !s.opts.implicitTLS
	var tlsConf *tls.Config
	if s.opts.starttls || s.opts.implicitTLS {
		cert, err := selfSigned()
		if err != nil {
			t.Fatalf("emailtest: certificate: %v", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.opts.starttls {
		s.srv.TLSConfig = tlsConf
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("emailtest: listen: %v", err)
	}
	s.Addr = l.Addr().String()
	l = listener{Listener: l, s: s}
	if s.opts.implicitTLS {
		l = tls.NewListener(l, tlsConf)
	}
	s.Host = "127.0.0.1"
	s.Port = l.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(l) //nolint:errcheck // returns when Close closes the listener
	t.Cleanup(s.Close)
	return s
}

// Config returns a configuration of the email plugin that reaches this
// server, sending from the address from. Add keys before marshalling it.
func (s *Server) Config(from string) map[string]any {
	c := map[string]any{"host": s.Host, "port": s.Port, "from": from, "security": "none"}
	switch {
	case s.opts.implicitTLS:
		c["security"], c["tls_skip_verify"] = "tls", true
	case s.opts.starttls:
		c["security"], c["tls_skip_verify"] = "starttls", true
	}
	if s.opts.user != "" {
		c["username"], c["password"] = s.opts.user, s.opts.pass
	}
	return c
}

// Close stops the server and cuts its connections (a "server down" test).
// Calling it again does nothing.
func (s *Server) Close() { s.closeOnce.Do(func() { s.srv.Close() }) }

// DropConnections cuts the open SMTP connections but keeps listening, as
// a server does that restarts or times idle clients out.
func (s *Server) DropConnections() {
	s.mu.Lock()
	open := make([]net.Conn, 0, len(s.open))
	for c := range s.open {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// Fail makes every following RCPT TO answer code (e.g. 451 or 550); 0
// accepts again.
func (s *Server) Fail(code int) { s.FailEnhanced(code, smtp.EnhancedCodeNotSet) }

// FailEnhanced is Fail with an RFC 3463 enhanced code (e.g. {5, 1, 1} for
// "no such mailbox", {5, 7, 1} for a policy refusal).
func (s *Server) FailEnhanced(code int, enh smtp.EnhancedCode) {
	s.mu.Lock()
	s.rcptCode, s.rcptEnh = code, enh
	s.mu.Unlock()
}

// FailData makes every following message be refused with code at the end
// of DATA, after it was transmitted; 0 accepts again.
func (s *Server) FailData(code int) { s.mu.Lock(); s.dataCode = code; s.mu.Unlock() }

// Messages returns a copy of the accepted messages, in order of arrival.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is the number of accepted messages, duplicates included.
func (s *Server) Count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.msgs) }

// Distinct is the number of distinct Message-IDs accepted.
func (s *Server) Distinct() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.ids) }

// MessageIDs maps each accepted Message-ID to how many times it arrived.
func (s *Server) MessageIDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.ids))
	for k, v := range s.ids {
		out[k] = v
	}
	return out
}

// Connections is the number of TCP connections accepted so far (a client that
// reuses its connections opens few).
func (s *Server) Connections() int { s.mu.Lock(); defer s.mu.Unlock(); return s.conns }

// Reset forgets the accepted messages and the connection count.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs, s.ids, s.conns = nil, map[string]int{}, 0
}

// Wait blocks until at least n messages were accepted or ctx ends.
func (s *Server) Wait(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := len(s.msgs), s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	s.ids[m.MessageID]++
	close(s.changed)
	s.changed = make(chan struct{})
}

func smtpErr(code int) error {
	if code == 0 {
		return nil
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "emailtest: told to fail"}
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

// listener counts and tracks the TCP connections (a session restarts
// after STARTTLS, a connection does not).
type listener struct {
	net.Listener
	s *Server
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns++
	l.s.open[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s *Server
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.open, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != se.s.opts.user || pass != se.s.opts.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.user != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.s.mu.Lock()
	code, enh := se.s.rcptCode, se.s.rcptEnh
	se.s.mu.Unlock()
	if code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "emailtest: told to fail"}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.s.mu.Lock()
	code := se.s.dataCode
	se.s.mu.Unlock()
	if err := smtpErr(code); err != nil {
		return err
	}
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable message: " + err.Error()}
	}
	m := Message{From: se.from, To: se.to, MessageID: strings.TrimSpace(pm.Header.Get("Message-Id")), Header: pm.Header}
	if !se.s.opts.noBodies {
		m.Raw = raw
	}
	se.s.add(m)
	se.from, se.to = "", nil
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// selfSigned makes a throwaway certificate for 127.0.0.1 and localhost.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "emailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
