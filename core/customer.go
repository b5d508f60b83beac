package core

import (
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits on customer fields. They keep one record small enough that a page of
// a million customers stays fast, and refuse obvious garbage early.
const (
	MaxExternalIDLen = 200
	MaxNameLen       = 300
	MaxContacts      = 20 // emails or phones per customer
	MaxTags          = 100
	MaxTagLen        = 64
	MaxAttributes    = 200
	MaxAttrKeyLen    = 64
	MaxAttrValueLen  = 4096
	MaxShortField    = 300 // address lines, city, locale, time zone...
)

// Channel is a way of reaching a customer. Consent is held per channel.
type Channel string

// The channels consent is recorded for. Plugins may add more; these are the
// ones the product knows by name.
const (
	ChannelEmail     Channel = "email"
	ChannelSMS       Channel = "sms"
	ChannelPush      Channel = "push"
	ChannelMessenger Channel = "messenger"
)

// KnownChannels lists the channels in the order the UI shows them.
var KnownChannels = []Channel{ChannelEmail, ChannelSMS, ChannelPush, ChannelMessenger}

// Consent records whether a customer agreed to be contacted on a channel.
type Consent struct {
	Granted bool      `json:"granted"`
	At      time.Time `json:"at"`
	Source  string    `json:"source,omitempty"` // "import", "api", "unsubscribe link", a user's email...
}

// Address is a postal address; every part is optional.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"` // ISO 3166-1 alpha-2 where known, else as given
}

// IsZero reports whether no part of the address is set.
func (a Address) IsZero() bool { return a == Address{} }

// Customer is a person or business the shop keeps.
type Customer struct {
	ID         ID                  `json:"id"`
	ExternalID string              `json:"external_id,omitempty"` // unique; the import key
	Name       string              `json:"name,omitempty"`
	Emails     []string            `json:"emails,omitempty"` // lower-cased; the first is the primary
	Phones     []string            `json:"phones,omitempty"` // E.164
	Address    Address             `json:"address,omitzero"`
	Locale     string              `json:"locale,omitempty"`    // BCP 47, e.g. "pl-PL"
	TimeZone   string              `json:"time_zone,omitempty"` // IANA, e.g. "Europe/Warsaw"
	Attributes map[string]any      `json:"attributes,omitempty"`
	Tags       []string            `json:"tags,omitempty"` // lower-cased, sorted, unique
	Consent    map[Channel]Consent `json:"consent,omitempty"`
	CreatedAt  time.Time           `json:"created_at"`
	UpdatedAt  time.Time           `json:"updated_at"`
	FirstSeen  time.Time           `json:"first_seen,omitzero"` // earliest interaction
	LastSeen   time.Time           `json:"last_seen,omitzero"`  // latest interaction
}

// DisplayName is what a list shows for the customer when it has no name.
func (c *Customer) DisplayName() string {
	switch {
	case c.Name != "":
		return c.Name
	case len(c.Emails) > 0:
		return c.Emails[0]
	case len(c.Phones) > 0:
		return c.Phones[0]
	case c.ExternalID != "":
		return c.ExternalID
	}
	return "#" + c.ID.String()
}

// HasConsent reports whether the customer may be contacted on ch right now.
func (c *Customer) HasConsent(ch Channel) bool {
	cs, ok := c.Consent[ch]
	return ok && cs.Granted
}

// Normalize cleans the customer in place (trims, lower-cases emails and tags,
// brings phones to E.164, sorts and de-duplicates) and validates it. The
// returned error is a *FieldError naming the first bad field. defaultCC is the
// calling code (without '+') assumed for phone numbers written without one;
// empty means such numbers are refused.
func (c *Customer) Normalize(defaultCC string) error {
	c.ExternalID = strings.TrimSpace(c.ExternalID)
	c.Name = strings.Join(strings.Fields(c.Name), " ")
	c.Locale = strings.TrimSpace(c.Locale)
	c.TimeZone = strings.TrimSpace(c.TimeZone)
	if err := checkText("external_id", c.ExternalID, MaxExternalIDLen); err != nil {
		return err
	}
	if err := checkText("name", c.Name, MaxNameLen); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    *string
	}{
		{"address.line1", &c.Address.Line1}, {"address.line2", &c.Address.Line2},
		{"address.city", &c.Address.City}, {"address.region", &c.Address.Region},
		{"address.postal_code", &c.Address.PostalCode}, {"address.country", &c.Address.Country},
		{"locale", &c.Locale}, {"time_zone", &c.TimeZone},
	} {
		*f.v = strings.TrimSpace(*f.v)
		if err := checkText(f.name, *f.v, MaxShortField); err != nil {
			return err
		}
	}
	if c.TimeZone != "" && !knownZone(c.TimeZone) {
		return FieldErr("time_zone", "unknown time zone %q", c.TimeZone)
	}

	emails, err := normalizeList("emails", c.Emails, NormalizeEmail)
	if err != nil {
		return err
	}
	c.Emails = emails
	phones, err := normalizeList("phones", c.Phones, func(s string) (string, error) { return NormalizePhone(s, defaultCC) })
	if err != nil {
		return err
	}
	c.Phones = phones
	tags, err := normalizeList("tags", c.Tags, NormalizeTag)
	if err != nil {
		return err
	}
	if len(tags) > MaxTags {
		return FieldErr("tags", "at most %d tags", MaxTags)
	}
	slices.Sort(tags)
	c.Tags = tags

	if len(c.Attributes) > MaxAttributes {
		return FieldErr("attributes", "at most %d attributes", MaxAttributes)
	}
	for k, v := range c.Attributes {
		if k == "" || len(k) > MaxAttrKeyLen || !utf8.ValidString(k) {
			return FieldErr("attributes", "attribute name %q must be 1 to %d characters of valid UTF-8", k, MaxAttrKeyLen)
		}
		nv, err := normalizeAttr(v)
		if err != nil {
			return FieldErr("attributes."+k, "%v", err)
		}
		c.Attributes[k] = nv
	}
	for ch := range c.Consent {
		if ch == "" || len(ch) > 32 {
			return FieldErr("consent", "channel name %q must be 1 to 32 characters", ch)
		}
	}
	return nil
}

// normalizeAttr accepts the JSON scalar types (string, number, bool) and
// converts Go integer types to float64 so stored values compare one way.
func normalizeAttr(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, float64:
		return x, nil
	case string:
		if len(x) > MaxAttrValueLen || !utf8.ValidString(x) {
			return nil, fmt.Errorf("value must be at most %d bytes of valid UTF-8", MaxAttrValueLen)
		}
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case float32:
		return float64(x), nil
	}
	return nil, fmt.Errorf("value must be a string, number, boolean or null, not %T", v)
}

// zones caches time zone names already checked: time.LoadLocation reads
// the zone database on every call, which a bulk import would do per row.
// Only valid names are kept, so the cache is bounded by the zone database
// and hostile input cannot grow it.
var zones sync.Map // name -> struct{}

func knownZone(name string) bool {
	if _, ok := zones.Load(name); ok {
		return true
	}
	if _, err := time.LoadLocation(name); err != nil {
		return false
	}
	zones.Store(name, struct{}{})
	return true
}

func checkText(field, v string, max int) error {
	if len(v) > max {
		return FieldErr(field, "at most %d bytes", max)
	}
	if !utf8.ValidString(v) {
		return FieldErr(field, "not valid UTF-8")
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return FieldErr(field, "contains control characters")
	}
	return nil
}

func normalizeList(field string, in []string, norm func(string) (string, error)) ([]string, error) {
	if len(in) > MaxContacts && field != "tags" {
		return nil, FieldErr(field, "at most %d entries", MaxContacts)
	}
	out := in[:0:0]
	for i, s := range in {
		n, err := norm(s)
		if err != nil {
			return nil, FieldErr(fmt.Sprintf("%s[%d]", field, i), "%v", err)
		}
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// NormalizeEmail trims and lower-cases an address and checks its form.
// An empty string stays empty.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	if len(s) > 254 || !utf8.ValidString(s) {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	return s, nil
}

// NormalizeTag lower-cases and trims a tag; tags are words, dashes,
// underscores, colons and dots (so "vip", "plan:gold", "source.import").
func NormalizeTag(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	if len(s) > MaxTagLen || !utf8.ValidString(s) {
		return "", fmt.Errorf("tag %q must be at most %d bytes of valid UTF-8", s, MaxTagLen)
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == ':' || r == '.' || isLetterOrDigit(r)) {
			return "", fmt.Errorf("tag %q may hold only letters, digits and - _ : .", s)
		}
	}
	return s, nil
}

// AttributeText shows an attribute value as staff type it and exports
// write it: strings as they are, numbers without exponent, booleans as
// true/false.
func AttributeText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
