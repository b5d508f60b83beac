package core

import (
	"fmt"
	"strings"
	"unicode"
)

func isLetterOrDigit(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// NormalizePhone brings a phone number to E.164 (+ and 8 to 15 digits).
// Spaces, dots, dashes and brackets are dropped; a leading "00" is read as "+".
// A number without a country code gets defaultCC (digits, no '+'), with a
// national trunk '0' removed; with no defaultCC such a number is refused,
// because guessing the country would silently mis-file customers.
func NormalizePhone(s, defaultCC string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return "", fmt.Errorf("%q is not a phone number", s)
		}
	}
	n := b.String()
	switch {
	case strings.HasPrefix(n, "+"):
	case strings.HasPrefix(n, "00"):
		n = "+" + n[2:]
	case defaultCC != "":
		n = "+" + defaultCC + strings.TrimPrefix(n, "0")
	default:
		return "", fmt.Errorf("%q has no country code (write it as +<country><number>)", s)
	}
	digits := len(n) - 1
	if digits < 8 || digits > 15 || n[1] == '0' {
		return "", fmt.Errorf("%q is not a valid international number", s)
	}
	return n, nil
}
