package importer

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/retain-crm/retain/core"
)

// timeLayouts are tried, in order, when the mapping sets no time_layout.
// Day-first dates (2/1/2006) are not guessed: 1/2/2006 is read US-style;
// set time_layout for the other.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
	"20060102",
	"1/2/2006 15:04",
	"1/2/2006 15:04:05",
	"1/2/2006",
	"2006/01/02 15:04:05",
	"2006/01/02",
	time.RFC1123Z,
	time.RFC1123,
}

// timeParser parses one column's times, remembering which layout worked
// (the next value almost always has the same) and the last value (order
// lines repeat their time).
type timeParser struct {
	layout string // fixed by the mapping ("unix" for epoch seconds)
	loc    *time.Location
	last   int
	prev   string
	prevT  time.Time
}

func (tp *timeParser) parse(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == tp.prev && s != "" {
		return tp.prevT, true
	}
	var t time.Time
	var ok bool
	switch tp.layout {
	case "":
		t, ok = parseTimeAutoFrom(s, tp.loc, &tp.last)
	case "unix":
		t, ok = parseUnix(s)
	default:
		var err error
		t, err = time.ParseInLocation(tp.layout, s, tp.loc)
		ok = err == nil
	}
	if ok {
		tp.prev, tp.prevT = s, t
	}
	return t, ok
}

// parseTimeAuto reads s with the common layouts; loc nil means UTC.
func parseTimeAuto(s string, loc *time.Location) (time.Time, bool) {
	i := 0
	return parseTimeAutoFrom(s, loc, &i)
}

func parseTimeAutoFrom(s string, loc *time.Location, last *int) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.ParseInLocation(timeLayouts[*last], s, loc); err == nil {
		return t, true
	}
	for i, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			*last = i
			return t, true
		}
	}
	if len(s) >= 9 {
		return parseUnix(s)
	}
	return time.Time{}, false
}

// parseUnix reads epoch seconds (with an optional fraction), the only
// unambiguous way a bare number is a time. Milliseconds are recognised by
// their size (13 digits).
func parseUnix(s string) (time.Time, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, false
	}
	if f > 1e11 { // milliseconds
		f /= 1000
	}
	if f > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// cleanID trims an id and, unless told otherwise, turns an integer written
// as a float ("17850.0", as spreadsheets export ids) back into the integer.
func cleanID(s string, keepFloat bool) string {
	s = strings.TrimSpace(s)
	if keepFloat {
		return s
	}
	if i := strings.IndexByte(s, '.'); i > 0 {
		frac := s[i+1:]
		if strings.Trim(frac, "0") == "" && isDigits(s[:i]) {
			return s[:i]
		}
	}
	return s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// splitList splits a cell of several emails or phones.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' })
}

// parseBool reads consent and boolean attribute cells.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "y", "yes", "true", "t", "x", "on", "opt-in", "optin", "opted in", "subscribed", "granted":
		return true, true
	case "0", "n", "no", "false", "f", "off", "opt-out", "optout", "opted out", "unsubscribed", "denied", "revoked":
		return false, true
	}
	return false, false
}

// customer builds a customer from a record. Only mapped, non-empty cells
// set anything, so an upsert never blanks a field the file leaves empty.
func (c *custPlan) customer(r *record, keepFloat bool, tagSep string, types map[string]string, addTags []string, prefix string) (core.Customer, error) {
	var cu core.Customer
	cu.ExternalID = cleanID(c.externalID.get(r), keepFloat)
	if c.name != nil {
		cu.Name = c.name.get(r)
	}
	if cu.Name == "" && (c.first != nil || c.last != nil) {
		cu.Name = strings.TrimSpace(c.first.get(r) + " " + c.last.get(r))
	}
	for _, col := range c.emails {
		cu.Emails = append(cu.Emails, splitList(col.get(r))...)
	}
	for _, col := range c.phones {
		cu.Phones = append(cu.Phones, splitList(col.get(r))...)
	}
	for _, col := range c.tags {
		for _, t := range strings.Split(col.get(r), tagSep) {
			if t = strings.TrimSpace(t); t != "" {
				cu.Tags = append(cu.Tags, t)
			}
		}
	}
	cu.Tags = append(cu.Tags, addTags...)
	cu.Address = core.Address{
		Line1: c.line1.get(r), Line2: c.line2.get(r), City: c.city.get(r),
		Region: c.region.get(r), PostalCode: c.postal.get(r), Country: c.country.get(r),
	}
	cu.Locale = c.locale.get(r)
	cu.TimeZone = c.timeZone.get(r)
	for _, a := range c.attrs {
		v := strings.TrimSpace(a.col.get(r))
		if v == "" {
			continue
		}
		if cu.Attributes == nil {
			cu.Attributes = map[string]any{}
		}
		switch a.typ {
		case "number":
			f, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", ""), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return cu, core.FieldErr(prefix+"attributes."+a.name, "%q is not a number", v)
			}
			cu.Attributes[a.name] = f
		case "bool":
			b, ok := parseBool(v)
			if !ok {
				return cu, core.FieldErr(prefix+"attributes."+a.name, "%q is not yes or no", v)
			}
			cu.Attributes[a.name] = b
		default:
			cu.Attributes[a.name] = v
		}
	}
	for _, cs := range c.consent {
		v := strings.TrimSpace(cs.col.get(r))
		if v == "" {
			continue
		}
		b, ok := parseBool(v)
		if !ok {
			return cu, core.FieldErr(prefix+"consent."+cs.name, "%q is not yes or no", v)
		}
		if cu.Consent == nil {
			cu.Consent = map[core.Channel]core.Consent{}
		}
		cu.Consent[core.Channel(strings.ToLower(cs.name))] = core.Consent{Granted: b}
	}
	return cu, nil
}
