package demo

import (
	"math"
	"slices"
	"time"

	"github.com/retain-crm/retain/core"
)

// profile is what the history of a customer depends on; it is re-derived
// from the profile stream for both phases, so it must draw the same numbers
// every time.
type profile struct {
	lang   *language
	home   *language // where the customer lives when not lang's country (bank), else nil
	locale string
	city   *city
	female bool
	acq    int64 // acquisition (account opening, install, first visit)
	tzOff  int64 // standard UTC offset in seconds, for times of day

	emailOK, smsOK, pushOK, msgrOK bool
	emailAt, emailOff              int64 // consent given; withdrawn (0 = never)
	tags                           []string

	// d2c
	persona    int     // see d2c* constants
	category   int     // catTea, catCoffee, catCosmetics
	interval   float64 // replenishment interval in days
	pDrop      float64 // chance of lapsing after each order
	subscriber bool
	channel    string

	// bank
	segment   string
	branch    string
	products  [len(bankProducts)]int64 // opening time, 0 = not held
	closeAt   int64                    // all products closed (0 = never)
	dormantAt int64                    // activity starts fading (0 = never)
	digital   bool
	salary    bool
	balance   float64 // typical balance of the current account, in PLN

	// game
	lifetime float64 // days between install and the last session
	playProb float64 // chance of playing on a day while active
	platform int
	payer    bool
	whale    bool
	level    int // level reached at the end
}

// pickLang chooses a language by weight.
func (g *gen) pickLang(langs []*language, w []int) {
	g.p.lang = langs[pickW(g.r, w)]
	g.p.locale = g.p.lang.locale
	g.p.city = &g.p.lang.cities[g.r.IntN(len(g.p.lang.cities))]
	g.p.tzOff = int64(g.p.city.off) * hour
	g.p.female = g.r.IntN(100) < 51
}

// acquire draws an acquisition time in the window, with more customers in
// recent months (a growing business): density rises linearly.
func (g *gen) acquire() int64 {
	span := float64(g.we - g.ws)
	u := math.Sqrt(0.25 + 0.75*g.r.Float64()) // in [0.5,1], density ∝ u
	return g.ws + int64((u-0.5)*2*span*0.999)
}

// consent draws per-channel consent: most grant email, some withdraw later.
func (g *gen) consent(email, sms, push, msgr float64) {
	p := &g.p
	p.emailOK = g.chance(email)
	p.emailAt = p.acq
	if p.emailOK && g.chance(0.12) {
		p.emailOff = p.acq + int64(g.r.Float64()*float64(g.we-p.acq))
	}
	p.smsOK = g.chance(sms)
	p.pushOK = g.chance(push)
	p.msgrOK = g.chance(msgr)
}

// emailAllowed reports whether marketing email may go out at t.
func (g *gen) emailAllowed(t int64) bool {
	return g.p.emailOK && t >= g.p.emailAt && (g.p.emailOff == 0 || t < g.p.emailOff)
}

// customer builds the core.Customer of the loaded profile from the record
// stream.
func (g *gen) customer() core.Customer {
	p := &g.p
	g.reseed(streamRecord)
	per := makePerson(g.r, p.lang, p.female, g.idx+1)
	home := p.lang
	if p.home != nil {
		home = p.home
	}
	acq := time.Unix(p.acq, 0).UTC()
	c := core.Customer{
		ExternalID: g.extID,
		Name:       per.name,
		Emails:     []string{per.email},
		Locale:     p.locale,
		TimeZone:   p.city.tz,
		CreatedAt:  acq,
		UpdatedAt:  acq,
		Attributes: map[string]any{},
		Consent:    map[core.Channel]core.Consent{},
	}
	c.Address = core.Address{City: p.city.name, Region: p.city.region, PostalCode: fill(g.r, p.city.postal), Country: home.country}
	if g.o.Industry != Game {
		c.Address.Line1, c.Address.Line2 = home.address(g.r, pick(g.r, home.streets))
	}
	if g.o.Industry != Game || g.chance(0.15) {
		if p.home != nil && g.chance(0.25) {
			c.Phones = []string{phone(g.r, p.lang, &p.lang.cities[0])} // kept the number from home
		} else {
			c.Phones = []string{phone(g.r, home, p.city)}
		}
	}
	src := map[Industry]string{D2C: "checkout", Bank: "branch form", Game: "in-game prompt"}[g.o.Industry]
	set := func(ch core.Channel, ok bool, off int64) {
		if ok {
			c.Consent[ch] = core.Consent{Granted: true, At: acq, Source: src}
			if off != 0 {
				c.Consent[ch] = core.Consent{Granted: false, At: time.Unix(off, 0).UTC(), Source: "unsubscribe link"}
				c.UpdatedAt = time.Unix(off, 0).UTC()
			}
		} else if g.chance(0.5) {
			c.Consent[ch] = core.Consent{Granted: false, At: acq, Source: src}
		}
	}
	set(core.ChannelEmail, p.emailOK, p.emailOff)
	set(core.ChannelSMS, p.smsOK, 0)
	set(core.ChannelPush, p.pushOK, 0)
	if p.msgrOK {
		set(core.ChannelMessenger, true, 0)
	}
	c.Tags = append([]string{"demo"}, p.tags...)
	if p.emailOK && p.emailOff == 0 {
		c.Tags = append(c.Tags, "newsletter")
	}
	switch g.o.Industry {
	case D2C:
		g.d2cAttributes(&c)
	case Bank:
		g.bankAttributes(&c)
	case Game:
		g.gameAttributes(&c)
	}
	slices.Sort(c.Tags)
	c.Tags = slices.Compact(c.Tags)
	return c
}

// firstName of the loaded customer, for message templates. It is the first
// draw makePerson makes from the record stream, so it matches the name.
func (g *gen) firstName() string {
	g.reseed(streamRecord)
	if g.p.female {
		return native(pick(g.r, g.p.lang.female))
	}
	return native(pick(g.r, g.p.lang.male))
}
