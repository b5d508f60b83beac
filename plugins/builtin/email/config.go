package email

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/retain-crm/retain/plugins/sdk"
)

// schema is the configuration's JSON Schema; the admin UI renders the
// plugin's form from it, so the descriptions are the documentation.
const schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["host", "from"],
  "properties": {
    "host": {"type": "string", "description": "SMTP server host name or IPv4 address, e.g. smtp.example.com"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535,
      "description": "SMTP port; default 587 for starttls, 465 for tls, 25 for none"},
    "security": {"type": "string", "enum": ["starttls", "tls", "none"], "default": "starttls",
      "description": "starttls: plain connection upgraded with STARTTLS (required, not opportunistic); tls: TLS from the first byte (SMTPS); none: no encryption, allowed only to a loopback host unless allow_insecure is set"},
    "allow_insecure": {"type": "boolean", "default": false,
      "description": "allow security none to a host that is not loopback (mail and password travel in clear text)"},
    "username": {"type": "string", "description": "SMTP AUTH user name; empty: no authentication"},
    "password": {"type": "string", "writeOnly": true, "format": "password", "description": "SMTP AUTH password"},
    "from": {"type": "string", "format": "email", "description": "sender address (From and envelope sender), e.g. news@shop.example; its domain also ends every Message-ID"},
    "from_name": {"type": "string", "description": "display name of the sender, e.g. Example Shop"},
    "reply_to": {"type": "string", "format": "email", "description": "Reply-To address; empty: replies go to from"},
    "helo": {"type": "string", "description": "name this client gives in EHLO; default: the machine's host name"},
    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": 30,
      "description": "timeout of connecting and of each SMTP command, in seconds"},
    "max_connections": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4,
      "description": "SMTP connections kept open and used in parallel"},
    "unsubscribe_secret": {"type": "string", "writeOnly": true, "format": "password",
      "description": "key (at least 16 characters) signing one-click unsubscribe links; empty: one is generated once and kept in the plugin's key-value space. Changing it breaks the links in mail already sent"},
    "tls_skip_verify": {"type": "boolean", "default": false,
      "description": "do not verify the server's TLS certificate. For tests against a self-signed server only: it makes TLS useless against an attacker"}
  }
}`

// Security modes.
const (
	secSTARTTLS = "starttls"
	secTLS      = "tls"
	secNone     = "none"
)

// config is the validated configuration.
type config struct {
	Host              string `json:"host"`
	Port              int    `json:"port"`
	Security          string `json:"security"`
	AllowInsecure     bool   `json:"allow_insecure"`
	Username          string `json:"username"`
	Password          string `json:"password"`
	From              string `json:"from"`
	FromName          string `json:"from_name"`
	ReplyTo           string `json:"reply_to"`
	HELO              string `json:"helo"`
	TimeoutSeconds    int    `json:"timeout_seconds"`
	MaxConnections    int    `json:"max_connections"`
	UnsubscribeSecret string `json:"unsubscribe_secret"`
	TLSSkipVerify     bool   `json:"tls_skip_verify"`

	domain string // of From, for Message-IDs
}

func (c *config) timeout() time.Duration { return time.Duration(c.TimeoutSeconds) * time.Second }

// parseConfig decodes and checks raw strictly; every refusal is
// sdk.Invalidf naming the field.
func parseConfig(raw json.RawMessage) (*config, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	c := &config{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, sdk.Invalidf("email configuration: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, sdk.Invalidf("email configuration: trailing data after the JSON object")
	}
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("null")) {
		return nil, sdk.Invalidf("email configuration: expected a JSON object")
	}
	if c.Security == "" {
		c.Security = secSTARTTLS
	}
	switch c.Security {
	case secSTARTTLS, secTLS, secNone:
	default:
		return nil, sdk.Invalidf("security: %q is not one of starttls, tls, none", c.Security)
	}
	if err := checkHost(c.Host); err != nil {
		return nil, err
	}
	if c.Port == 0 {
		c.Port = map[string]int{secSTARTTLS: 587, secTLS: 465, secNone: 25}[c.Security]
	}
	if c.Port < 1 || c.Port > 65535 {
		return nil, sdk.Invalidf("port: %d is not between 1 and 65535", c.Port)
	}
	if c.Security == secNone && !isLoopback(c.Host) && !c.AllowInsecure {
		return nil, sdk.Invalidf("security: none sends mail and passwords in clear text; allowed only to a loopback host unless allow_insecure is true")
	}
	if c.TLSSkipVerify && c.Security == secNone {
		return nil, sdk.Invalidf("tls_skip_verify: meaningless with security none")
	}
	if (c.Username == "") != (c.Password == "") {
		return nil, sdk.Invalidf("username: username and password go together")
	}
	if hasControl(c.Username) || len(c.Username) > 256 {
		return nil, sdk.Invalidf("username: control characters or too long")
	}
	if hasControl(c.Password) || len(c.Password) > 1024 {
		return nil, sdk.Invalidf("password: control characters or too long")
	}
	if c.From == "" {
		return nil, sdk.Invalidf("from: required")
	}
	var err error
	if c.From, err = bareAddress(c.From); err != nil {
		return nil, sdk.Invalidf("from: %v", err)
	}
	c.domain = strings.ToLower(c.From[strings.LastIndexByte(c.From, '@')+1:])
	if c.FromName = strings.TrimSpace(c.FromName); hasControl(c.FromName) || len(c.FromName) > 200 {
		return nil, sdk.Invalidf("from_name: control characters or longer than 200 bytes")
	}
	if c.ReplyTo != "" {
		if c.ReplyTo, err = bareAddress(c.ReplyTo); err != nil {
			return nil, sdk.Invalidf("reply_to: %v", err)
		}
	}
	if c.HELO != "" && !isHostname(c.HELO) {
		return nil, sdk.Invalidf("helo: %q is not a host name", c.HELO)
	}
	if c.TimeoutSeconds == 0 {
		c.TimeoutSeconds = 30
	}
	if c.TimeoutSeconds < 1 || c.TimeoutSeconds > 600 {
		return nil, sdk.Invalidf("timeout_seconds: %d is not between 1 and 600", c.TimeoutSeconds)
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 4
	}
	if c.MaxConnections < 1 || c.MaxConnections > 64 {
		return nil, sdk.Invalidf("max_connections: %d is not between 1 and 64", c.MaxConnections)
	}
	if s := c.UnsubscribeSecret; s != "" && (len(s) < 16 || len(s) > 1024) {
		return nil, sdk.Invalidf("unsubscribe_secret: must be 16 to 1024 bytes")
	}
	return c, nil
}

func checkHost(h string) error {
	switch {
	case h == "":
		return sdk.Invalidf("host: required")
	case strings.Contains(h, ":"):
		// go-mail joins host and port as "%s:%d"; an IPv6 literal would
		// come out ambiguous.
		return sdk.Invalidf("host: IPv6 addresses are not supported; give a host name")
	case net.ParseIP(h) != nil:
		return nil
	case !isHostname(h):
		return sdk.Invalidf("host: %q is not a host name or IP address (no scheme, port or path)", h)
	}
	return nil
}

// isHostname accepts DNS names: labels of letters, digits, '-' and '_'.
func isHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' {
			return false
		}
		for _, r := range label {
			if !(r < unicode.MaxASCII && (r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r))) {
				return false
			}
		}
	}
	return true
}

func isLoopback(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(h, "localhost")
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// bareAddress accepts "user@domain" only (no display name, no group) and
// returns it as parsed.
func bareAddress(s string) (string, error) {
	if len(s) > 254 || hasControl(s) {
		return "", errString("not an e-mail address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", errString("not an e-mail address: " + err.Error())
	}
	if a.Name != "" || a.Address != strings.TrimSpace(s) {
		return "", errString("give the bare address (user@domain); the display name has its own field")
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || !isHostname(a.Address[at+1:]) {
		return "", errString("the domain is not a host name")
	}
	return a.Address, nil
}

type errString string

func (e errString) Error() string { return string(e) }
