package search

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/retain-crm/retain/core"
)

// custDoc is what the index holds for a customer. The Type method tells
// bleve which document mapping applies.
type custDoc struct {
	Kind   string     `json:"kind"`
	Cust   string     `json:"cid"`
	Time   *time.Time `json:"time,omitempty"`
	Title  string     `json:"title"`
	Sub    string     `json:"sub,omitempty"`
	Name   string     `json:"name,omitempty"`
	NameW  string     `json:"name_w,omitempty"`
	NameX  string     `json:"name_x,omitempty"`
	Email  []string   `json:"email,omitempty"`
	EmailX []string   `json:"email_x,omitempty"`
	Phone  []string   `json:"phone,omitempty"`
	PhoneX []string   `json:"phone_x,omitempty"`
	Ext    string     `json:"ext,omitempty"`
	ExtX   string     `json:"ext_x,omitempty"`
	Tags   []string   `json:"tags,omitempty"`
}

func (custDoc) Type() string { return docCust }

type interDoc struct {
	Kind    string    `json:"kind"`
	Cust    string    `json:"cid"`
	Time    time.Time `json:"time"`
	Title   string    `json:"title"`
	Sub     string    `json:"sub,omitempty"`
	IType   string    `json:"type"`
	Channel string    `json:"channel,omitempty"`
	Text    string    `json:"text,omitempty"`
	TextRu  string    `json:"text_ru,omitempty"`
	TextPl  string    `json:"text_pl,omitempty"`
	Extra   []string  `json:"extra,omitempty"`
}

func (interDoc) Type() string { return docInter }

// Document ids: a kind letter and the decimal id, so a hit's kind and id are
// read from its id without a stored field.
func custDocID(id core.ID) string  { return "c" + strconv.FormatUint(uint64(id), 10) }
func interDocID(id core.ID) string { return "i" + strconv.FormatUint(uint64(id), 10) }

func parseDocID(s string) (core.EntityKind, core.ID, bool) {
	if len(s) < 2 {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(s[1:], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	switch s[0] {
	case 'c':
		return core.KindCustomer, core.ID(n), true
	case 'i':
		return core.KindInteraction, core.ID(n), true
	}
	return 0, 0, false
}

func customerDoc(c *core.Customer) custDoc {
	d := custDoc{
		Kind:   kindCust,
		Cust:   c.ID.String(),
		Title:  c.DisplayName(),
		Name:   c.Name,
		NameW:  c.Name,
		NameX:  c.Name,
		Email:  c.Emails,
		EmailX: c.Emails,
		Phone:  c.Phones,
		Ext:    c.ExternalID,
		ExtX:   c.ExternalID,
		Tags:   c.Tags,
	}
	if !c.LastSeen.IsZero() {
		t := c.LastSeen.UTC()
		d.Time = &t
	}
	if len(c.Emails) > 0 && c.Emails[0] != d.Title {
		d.Sub = c.Emails[0]
	} else if len(c.Phones) > 0 && c.Phones[0] != d.Title {
		d.Sub = c.Phones[0]
	}
	for _, p := range c.Phones {
		d.PhoneX = append(d.PhoneX, digitsOnly(p))
	}
	return d
}

// textual reports whether an interaction has anything a person would search
// for. Interactions without text, items or properties (page views, opens,
// sessions) are not indexed at all: at ten million of them they would only
// bloat the index, and type/time filters over them belong to the store's
// timeline, not to search.
func textual(in *core.Interaction) bool {
	return strings.TrimSpace(in.Text) != "" || len(in.Items) > 0 || len(in.Properties) > 0
}

func interactionDoc(in *core.Interaction, customerName string) interDoc {
	d := interDoc{
		Kind:    kindInter,
		Cust:    in.CustomerID.String(),
		Time:    in.Time.UTC(),
		Title:   interactionTitle(in),
		Sub:     customerName,
		IType:   string(in.Type),
		Channel: string(in.Channel),
		Text:    in.Text,
	}
	// The language-specific copies only exist when the text is in that
	// script, so an English note is not stemmed as Russian.
	cyr, pol := scripts(in.Text)
	if cyr {
		d.TextRu = in.Text
	}
	if pol {
		d.TextPl = in.Text
	}
	for _, it := range in.Items {
		if it.Name != "" {
			d.Extra = append(d.Extra, it.Name)
		}
		if it.SKU != "" {
			d.Extra = append(d.Extra, it.SKU)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(in.Properties)) {
		if v := in.Properties[k]; strings.TrimSpace(v) != "" {
			d.Extra = append(d.Extra, v)
		}
	}
	return d
}

// interactionTitle is the type and, when there is one, the amount:
// "purchase · 129.00 PLN".
func interactionTitle(in *core.Interaction) string {
	t := strings.ReplaceAll(string(in.Type), "_", " ")
	if in.Amount != 0 && in.Currency != "" {
		t += " · " + core.FormatAmount(in.Amount, in.Currency) + " " + in.Currency
	}
	return t
}

// scripts reports whether s holds Cyrillic letters and whether it holds
// letters only Polish uses among the languages we stem.
func scripts(s string) (cyrillic, polish bool) {
	for _, r := range s {
		if r < 0x80 {
			continue
		}
		if unicode.Is(unicode.Cyrillic, r) {
			cyrillic = true
		}
		switch r {
		case 'ą', 'ć', 'ę', 'ł', 'ń', 'ó', 'ś', 'ź', 'ż', 'Ą', 'Ć', 'Ę', 'Ł', 'Ń', 'Ó', 'Ś', 'Ź', 'Ż':
			polish = true
		}
		if cyrillic && polish {
			return
		}
	}
	return
}

func digitsOnly(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}
