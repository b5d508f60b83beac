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

func TestActionHelpers(t *testing.T) {
	if a := TagAction("t", "7", "vip"); a.GetAddTag() != "vip" || a.GetId() != "t" || a.GetCustomerId() != "7" {
		t.Errorf("tag: %v", a)
	}
	if a := UntagAction("u", "7", "vip"); a.GetRemoveTag() != "vip" {
		t.Errorf("untag: %v", a)
	}
	a, err := AttributeAction("a", "7", "tier", map[string]int{"level": 2})
	if err != nil || a.GetSetAttribute().GetValueJson() != `{"level":2}` {
		t.Errorf("attribute: %v %v", a, err)
	}
	if a, _ := AttributeAction("a", "7", "tier", nil); a.GetSetAttribute().GetValueJson() != "null" {
		t.Errorf("removing: %v", a)
	}
	if _, err := AttributeAction("a", "7", "f", func() {}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unencodable: %v", err)
	}
	if a := InteractionAction("i", "7", &Interaction{Type: "note"}); a.GetAppendInteraction().GetType() != "note" {
		t.Errorf("interaction: %v", a)
	}
	if a := MessageAction("m", "7", &Message{Channel: "email"}); a.GetEnqueueMessage().GetChannel() != "email" {
		t.Errorf("message: %v", a)
	}
}
