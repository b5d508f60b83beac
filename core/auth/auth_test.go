package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") || strings.Contains(h, "correct") {
		t.Fatalf("unexpected hash form %q", h)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"correct horse batterY", false}, {"", false}, {strings.Repeat("x", 10000), false}} {
		ok, err := VerifyPassword(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.pw[:min(len(tc.pw), 20)], ok, err, tc.want)
		}
	}
	h2, _ := HashPassword("correct horse battery")
	if h2 == h {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestPasswordPolicy(t *testing.T) {
	for _, pw := range []string{"", "short", strings.Repeat("x", MaxPasswordLen+1)} {
		if _, err := HashPassword(pw); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("HashPassword(len %d) = %v, want ErrInvalid", len(pw), err)
		}
	}
}

func TestVerifyMalformedHash(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$AA", "$argon2id$v=18$m=64,t=1,p=1$AA$AA"} {
		if ok, err := VerifyPassword(h, "whatever-password"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", h, ok, err)
		}
	}
}

func TestToken(t *testing.T) {
	s, p, h, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, TokenPrefix) || !strings.HasPrefix(s, p) || len(s) < 50 {
		t.Fatalf("token %q prefix %q", s, p)
	}
	if string(HashToken(s)) != string(h) {
		t.Fatal("hash mismatch")
	}
	s2, _, _, _ := NewToken()
	if s2 == s {
		t.Fatal("tokens repeat")
	}
}
