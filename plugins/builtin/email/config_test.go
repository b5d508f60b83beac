package email_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/retain-crm/retain/plugins/builtin/email"
	"github.com/retain-crm/retain/plugins/sdk"
)

func TestConfigRefused(t *testing.T) {
	base := `"from":"news@shop.example","unsubscribe_secret":"0123456789abcdef"`
	for _, tc := range []struct {
		name, config, field string
	}{
		{"not JSON", `{`, "configuration"},
		{"array", `[]`, "configuration"},
		{"null", `null`, "configuration"},
		{"string", `"smtp.example.com"`, "configuration"},
		{"trailing data", `{"host":"smtp.example.com",` + base + `} {}`, "trailing"},
		{"unknown key", `{"host":"smtp.example.com","hots":"x",` + base + `}`, "hots"},
		{"no host", `{` + base + `}`, "host"},
		{"host with scheme", `{"host":"smtp://smtp.example.com",` + base + `}`, "host"},
		{"host with port", `{"host":"smtp.example.com:25",` + base + `}`, "host"},
		{"IPv6 literal", `{"host":"::1","security":"none",` + base + `}`, "host"},
		{"host with path", `{"host":"smtp.example.com/x",` + base + `}`, "host"},
		{"host with newline", `{"host":"smtp.example.com\r\nRCPT",` + base + `}`, "host"},
		{"host with space", `{"host":"smtp example",` + base + `}`, "host"},
		{"host too long", `{"host":"` + strings.Repeat("a.", 130) + `com",` + base + `}`, "host"},
		{"host as number", `{"host":25,` + base + `}`, "host"},
		{"port 0 is the default, -1 is not", `{"host":"smtp.example.com","port":-1,` + base + `}`, "port"},
		{"port too big", `{"host":"smtp.example.com","port":65536,` + base + `}`, "port"},
		{"port as string", `{"host":"smtp.example.com","port":"25",` + base + `}`, "port"},
		{"port fraction", `{"host":"smtp.example.com","port":2.5,` + base + `}`, "port"},
		{"unknown security", `{"host":"smtp.example.com","security":"ssl",` + base + `}`, "security"},
		{"clear text to a remote host", `{"host":"smtp.example.com","security":"none",` + base + `}`, "security"},
		{"clear text to a private address", `{"host":"10.0.0.5","security":"none",` + base + `}`, "security"},
		{"skip verify without TLS", `{"host":"127.0.0.1","security":"none","tls_skip_verify":true,` + base + `}`, "tls_skip_verify"},
		{"username without password", `{"host":"smtp.example.com","username":"u",` + base + `}`, "username"},
		{"password without username", `{"host":"smtp.example.com","password":"p",` + base + `}`, "username"},
		{"username with newline", `{"host":"smtp.example.com","username":"u\n","password":"p",` + base + `}`, "username"},
		{"no from", `{"host":"smtp.example.com","unsubscribe_secret":"0123456789abcdef"}`, "from"},
		{"from not an address", `{"host":"smtp.example.com","from":"shop","unsubscribe_secret":"0123456789abcdef"}`, "from"},
		{"from with a name", `{"host":"smtp.example.com","from":"Shop <news@shop.example>","unsubscribe_secret":"0123456789abcdef"}`, "from"},
		{"from with CRLF", `{"host":"smtp.example.com","from":"news@shop.example\r\nBcc: x@y","unsubscribe_secret":"0123456789abcdef"}`, "from"},
		{"from with bad domain", `{"host":"smtp.example.com","from":"news@[1.2.3.4]","unsubscribe_secret":"0123456789abcdef"}`, "from"},
		{"two froms", `{"host":"smtp.example.com","from":"a@x.example, b@y.example","unsubscribe_secret":"0123456789abcdef"}`, "from"},
		{"from_name with newline", `{"host":"smtp.example.com","from_name":"Shop\r\nBcc: x",` + base + `}`, "from_name"},
		{"reply_to bad", `{"host":"smtp.example.com","reply_to":"nope",` + base + `}`, "reply_to"},
		{"helo bad", `{"host":"smtp.example.com","helo":"x y",` + base + `}`, "helo"},
		{"timeout negative", `{"host":"smtp.example.com","timeout_seconds":-5,` + base + `}`, "timeout_seconds"},
		{"timeout huge", `{"host":"smtp.example.com","timeout_seconds":86400,` + base + `}`, "timeout_seconds"},
		{"too many connections", `{"host":"smtp.example.com","max_connections":1000,` + base + `}`, "max_connections"},
		{"negative connections", `{"host":"smtp.example.com","max_connections":-1,` + base + `}`, "max_connections"},
		{"short secret", `{"host":"smtp.example.com","from":"news@shop.example","unsubscribe_secret":"short"}`, "unsubscribe_secret"},
		{"no secret and no kv", `{"host":"smtp.example.com","from":"news@shop.example"}`, "unsubscribe_secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := email.New().Configure(context.Background(), json.RawMessage(tc.config), nil)
			if !errors.Is(err, sdk.ErrInvalid) {
				t.Fatalf("err %v, want invalid", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestConfigAccepted(t *testing.T) {
	for _, c := range []string{
		`{"host":"smtp.example.com","from":"news@shop.example","unsubscribe_secret":"0123456789abcdef"}`,
		`{"host":"smtp.example.com","port":465,"security":"tls","username":"u","password":"p","from":"news@shop.example",` +
			`"from_name":"Shop, Inc.","reply_to":"help@shop.example","helo":"mta.shop.example","timeout_seconds":5,` +
			`"max_connections":8,"unsubscribe_secret":"0123456789abcdef","tls_skip_verify":false}`,
		`{"host":"localhost","security":"none","from":"a@b.example","unsubscribe_secret":"0123456789abcdef"}`,
		`{"host":"10.0.0.5","security":"none","allow_insecure":true,"from":"a@b.example","unsubscribe_secret":"0123456789abcdef"}`,
	} {
		if err := email.New().Configure(context.Background(), json.RawMessage(c), nil); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}
