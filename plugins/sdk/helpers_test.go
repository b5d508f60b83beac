package sdk

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestHeaderValue(t *testing.T) {
	r := &InboundRequest{Headers: []*Header{{Name: "Content-Type", Value: "a"}, {Name: "content-type", Value: "b"}}}
	if got := HeaderValue(r, "CONTENT-TYPE"); got != "a" {
		t.Errorf("got %q", got)
	}
	if got := HeaderValue(r, "X-None"); got != "" {
		t.Errorf("absent: %q", got)
	}
	if got := HeaderValue(nil, "x"); got != "" {
		t.Errorf("nil request: %q", got)
	}
}

func TestDecodeConfig(t *testing.T) {
	type conf struct {
		Server string `json:"server"`
		Port   int    `json:"port"`
	}
	c := conf{Server: "default", Port: 1}
	if err := DecodeConfig(json.RawMessage(`{"port":2}`), &c); err != nil || c.Server != "default" || c.Port != 2 {
		t.Fatalf("%+v %v", c, err)
	}
	if err := DecodeConfig(nil, &c); err != nil {
		t.Fatalf("empty: %v", err)
	}
	for in, want := range map[string]string{`{"sever":"x"}`: "sever", `{"port":"x"}`: "port", `[1]`: "configuration", `{} {}`: "after", `{`: "configuration"} {
		err := DecodeConfig(json.RawMessage(in), &c)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want invalid naming %q", in, err, want)
		}
	}
}
