package segments

import (
	"slices"
	"time"

	"github.com/retain-crm/retain/core"
)

// A profile is the part of a customer record that rules can test, kept
// compactly: repeated strings (tags, channels, countries, attribute names)
// are interned, so a million customers cost tens of megabytes, not the
// gigabyte their full records would. Evaluation fills a reusable
// core.Customer from it and calls core.Rule.Match, so there is one
// definition of what a rule means.

type strTable struct {
	idx map[string]uint32
	s   []string
}

func (t *strTable) intern(s string) uint32 {
	if s == "" {
		return 0
	}
	if i, ok := t.idx[s]; ok {
		return i
	}
	t.s = append(t.s, s)
	i := uint32(len(t.s) - 1)
	t.idx[s] = i
	return i
}

func (t *strTable) str(i uint32) string { return t.s[i] }

type attr struct {
	k uint32
	v any // string, float64 or bool, as stored
}

type profile struct {
	created                             int64 // UnixNano
	country, city, region, locale, zone uint32
	gone                                bool
	email                               string
	tags, consent                       []uint32 // consent: channels granted
	attrs                               []attr
}

// profiles is every customer's profile in ID order. IDs come from a
// growing sequence, so new customers append; erased ones are marked gone
// (their slot is reused if the ID ever comes back, which it does not).
type profiles struct {
	ids  []core.ID
	p    []profile
	live int
	strs strTable
}

func newProfiles() profiles {
	return profiles{strs: strTable{idx: map[string]uint32{"": 0}, s: []string{""}}}
}

func (ps *profiles) len() int { return ps.live }

func (ps *profiles) find(id core.ID) (int, bool) {
	if n := len(ps.ids); n > 0 && ps.ids[n-1] < id {
		return n, false // the common case: a new customer
	}
	return slices.BinarySearch(ps.ids, id)
}

func (ps *profiles) get(id core.ID) *profile {
	i, ok := ps.find(id)
	if !ok || ps.p[i].gone {
		return nil
	}
	return &ps.p[i]
}

func (ps *profiles) put(c *core.Customer) {
	t := &ps.strs
	p := profile{created: c.CreatedAt.UnixNano(), country: t.intern(c.Address.Country), city: t.intern(c.Address.City),
		region: t.intern(c.Address.Region), locale: t.intern(c.Locale), zone: t.intern(c.TimeZone)}
	if len(c.Emails) > 0 {
		p.email = c.Emails[0]
	}
	if len(c.Tags) > 0 {
		p.tags = make([]uint32, len(c.Tags))
		for i, tag := range c.Tags {
			p.tags[i] = t.intern(tag)
		}
	}
	for ch, cs := range c.Consent {
		if cs.Granted {
			p.consent = append(p.consent, t.intern(string(ch)))
		}
	}
	if len(c.Attributes) > 0 {
		p.attrs = make([]attr, 0, len(c.Attributes))
		for k, v := range c.Attributes {
			if s, ok := v.(string); ok && len(s) <= 32 {
				v = t.str(t.intern(s)) // short values (plans, tiers) repeat
			}
			p.attrs = append(p.attrs, attr{t.intern(k), v})
		}
	}
	i, ok := ps.find(c.ID)
	switch {
	case ok:
		if ps.p[i].gone {
			ps.live++
		}
		ps.p[i] = p
	case i == len(ps.ids):
		ps.ids = append(ps.ids, c.ID)
		ps.p = append(ps.p, p)
		ps.live++
	default:
		ps.ids = slices.Insert(ps.ids, i, c.ID)
		ps.p = slices.Insert(ps.p, i, p)
		ps.live++
	}
}

func (ps *profiles) remove(id core.ID) {
	if i, ok := ps.find(id); ok && !ps.p[i].gone {
		ps.p[i] = profile{gone: true}
		ps.live--
	}
}

// recordNeeds says which parts of the record a rule reads, so fill does
// only that work.
type recordNeeds struct{ any, attrs, tags, consent bool }

func recordNeedsOf(r core.Rule) recordNeeds {
	var n recordNeeds
	var walk func(core.Rule)
	walk = func(x core.Rule) {
		switch {
		case x.Attribute != nil:
			n.attrs = true
		case x.Tag != nil:
			n.tags = true
		case x.Consent != nil:
			n.consent = true
		}
		for _, s := range x.All {
			walk(s)
		}
		for _, s := range x.Any {
			walk(s)
		}
		if x.Not != nil {
			walk(*x.Not)
		}
	}
	walk(r)
	n.any = r.Needs().Record
	return n
}

// fill makes c the profile's customer for a rule that reads rn. c is
// reused between customers: every part a rule may read is overwritten.
func (p *profile) fill(c *core.Customer, t *strTable, rn recordNeeds) {
	c.CreatedAt = time.Unix(0, p.created).UTC()
	c.Address.Country, c.Address.City, c.Address.Region = t.str(p.country), t.str(p.city), t.str(p.region)
	c.Locale, c.TimeZone = t.str(p.locale), t.str(p.zone)
	c.Emails = c.Emails[:0]
	if p.email != "" {
		c.Emails = append(c.Emails, p.email)
	}
	if rn.tags {
		c.Tags = c.Tags[:0]
		for _, i := range p.tags {
			c.Tags = append(c.Tags, t.str(i))
		}
	}
	if rn.consent {
		if c.Consent == nil {
			c.Consent = map[core.Channel]core.Consent{}
		}
		clear(c.Consent)
		for _, i := range p.consent {
			c.Consent[core.Channel(t.str(i))] = core.Consent{Granted: true}
		}
	}
	if rn.attrs {
		if c.Attributes == nil {
			c.Attributes = map[string]any{}
		}
		clear(c.Attributes)
		for _, a := range p.attrs {
			c.Attributes[t.str(a.k)] = a.v
		}
	}
}
