package sms

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// ---------------------------------------------------------------- JSON paths

// parsePath splits a dotted path ("messages.0.id"): object keys and array
// indexes, no wildcards. Empty: nil.
func parsePath(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 256 {
		return nil, fmt.Errorf("longer than 256 bytes")
	}
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%q has an empty step", s)
		}
	}
	return parts, nil
}

// Lookup walks path into a decoded JSON value (decoded with UseNumber):
// a step is an object key, or an index into an array.
func Lookup(v any, path []string) (any, bool) {
	for _, step := range path {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[step]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// scalarText is a JSON scalar as text ("" and false for objects, arrays
// and null).
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// truthy: true, a non-zero number, or a string other than "", "0",
// "false", "no", "error", "failed".
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case json.Number:
		f, err := v.Float64()
		return err == nil && f != 0
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "", "0", "false", "no", "error", "failed", "failure":
			return false
		}
		return true
	}
	return false
}

// ---------------------------------------------------------------- status codes

// statusSet is the success rule over HTTP status codes.
type statusSet [][2]int

func (s statusSet) has(code int) bool {
	for _, r := range s {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

// parseStatusSet reads "200-299", "200,202", or a JSON array of codes and
// such strings. Empty: 200-299.
func parseStatusSet(raw json.RawMessage) (statusSet, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return statusSet{{200, 299}}, nil
	}
	var items []string
	var s string
	var list []json.RawMessage
	switch {
	case json.Unmarshal(raw, &s) == nil:
		items = strings.Split(s, ",")
	case json.Unmarshal(raw, &list) == nil:
		for _, e := range list {
			var n int
			if json.Unmarshal(e, &n) == nil {
				items = append(items, strconv.Itoa(n))
			} else if json.Unmarshal(e, &s) == nil {
				items = append(items, strings.Split(s, ",")...)
			} else {
				return nil, fmt.Errorf("want codes or ranges like \"200-299\"")
			}
		}
	default:
		return nil, fmt.Errorf("want a string like \"200-299,302\" or a list of codes")
	}
	var set statusSet
	for _, it := range items {
		it = strings.TrimSpace(it)
		lo, hi, isRange := strings.Cut(it, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("%q is not a status code or range within 100-599", it)
		}
		set = append(set, [2]int{a, b})
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("empty")
	}
	return set, nil
}

// ---------------------------------------------------------------- segments

// gsm7 is the GSM 03.38 default alphabet; gsm7ext its extension table
// (each costs two septets).
const (
	gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7ext = "^{}\\[~]|€\f"
)

// Segments says how many SMS parts text needs: GSM-7 when every character
// is in the GSM alphabet (160 septets alone, 153 per part when split),
// else UCS-2 (70 UTF-16 units alone, 67 per part).
func Segments(text string) (parts int, encoding string) {
	septets, gsm := 0, true
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7ext, r):
			septets += 2
		default:
			gsm = false
		}
	}
	if gsm {
		return split(septets, 160, 153), "GSM-7"
	}
	return split(len(utf16.Encode([]rune(text))), 70, 67), "UCS-2"
}

func split(n, single, per int) int {
	if n <= single {
		return 1
	}
	return (n + per - 1) / per
}
