package demo

import (
	"math"
	"strconv"
	"time"

	"github.com/retain-crm/retain/core"
)

// product is a catalogue line; price is a decimal in the list's base
// currency, minor the price in the generator's currency.
type product struct {
	sku, name string
	cat       int
	price     string
	minor     int64
}

const (
	catTea = iota
	catCoffee
	catCosmetics
	catAccessory
	catShipping
)

var catNames = []string{"tea", "coffee", "cosmetics", "accessories"}

// catalogue of the demo shop, prices in EUR.
var catalogue = []product{
	{"TEA-SEN-100", "Sencha Kagoshima 100 g", catTea, "12.90", 0},
	{"TEA-EGS-100", "Earl Grey Supreme 100 g", catTea, "9.50", 0},
	{"TEA-MAT-030", "Matcha Ceremonial Uji 30 g", catTea, "24.00", 0},
	{"TEA-ASM-250", "Assam Breakfast 250 g", catTea, "11.90", 0},
	{"TEA-ROO-100", "Rooibos Vanilla 100 g", catTea, "7.90", 0},
	{"TEA-DFF-050", "Darjeeling First Flush 50 g", catTea, "16.50", 0},
	{"TEA-JAS-050", "Jasmine Dragon Pearls 50 g", catTea, "14.90", 0},
	{"TEA-CHA-100", "Masala Chai Blend 100 g", catTea, "8.90", 0},
	{"TEA-GEN-100", "Genmaicha 100 g", catTea, "8.50", 0},
	{"TEA-PUE-100", "Pu-erh 2015 Cake 100 g", catTea, "19.90", 0},
	{"COF-ETH-250", "Ethiopia Yirgacheffe beans 250 g", catCoffee, "13.90", 0},
	{"COF-COL-250", "Colombia Huila beans 250 g", catCoffee, "12.50", 0},
	{"COF-ESP-1KG", "Espresso Blend Milano 1 kg", catCoffee, "32.00", 0},
	{"COF-DEC-250", "Decaf Swiss Water 250 g", catCoffee, "12.90", 0},
	{"COF-KEN-250", "Kenya AA beans 250 g", catCoffee, "15.50", 0},
	{"COF-CBR-004", "Cold Brew Bags 4 pcs", catCoffee, "9.90", 0},
	{"COS-FCR-050", "Rosehip Face Cream 50 ml", catCosmetics, "29.00", 0},
	{"COS-SER-030", "Hyaluronic Serum 30 ml", catCosmetics, "34.00", 0},
	{"COS-CLN-150", "Green Tea Cleanser 150 ml", catCosmetics, "18.50", 0},
	{"COS-LIP-005", "Shea Lip Balm", catCosmetics, "6.90", 0},
	{"COS-HND-075", "Lavender Hand Cream 75 ml", catCosmetics, "11.00", 0},
	{"COS-MSK-075", "Matcha Clay Mask 75 ml", catCosmetics, "21.00", 0},
	{"ACC-POT-800", "Glass Teapot 800 ml", catAccessory, "27.00", 0},
	{"ACC-DRP-002", "Ceramic Pour-over Dripper", catAccessory, "22.00", 0},
	{"ACC-GFT-BOX", "Tea Sampler Gift Box", catAccessory, "39.00", 0},
	{"ACC-WHK-001", "Bamboo Matcha Whisk", catAccessory, "15.00", 0},
	{"SHIP-STD", "Standard shipping", catShipping, "4.90", 0},
}

// Subscription boxes, prices in EUR per month.
var boxes = []struct{ plan, price string }{
	{"tea-box-monthly", "24.90"}, {"coffee-box-monthly", "29.90"}, {"beauty-box-monthly", "34.90"},
}

// eurRate is roughly how many units of a currency one euro buys; the demo
// only needs prices that look right, not exchange rates. Unlisted
// currencies are priced one to one.
func eurRate(code string) float64 {
	if r, ok := eurRates[code]; ok {
		return r
	}
	return 1
}

var eurRates = map[string]float64{"EUR": 1, "USD": 1.08, "GBP": 0.85, "PLN": 4.3, "RUB": 100, "UAH": 45, "JPY": 160, "CHF": 0.95,
	"SEK": 11.4, "NOK": 11.6, "DKK": 7.46, "CZK": 25, "HUF": 395, "RON": 5, "BGN": 1.96, "CAD": 1.47, "AUD": 1.65,
	"NZD": 1.8, "TRY": 35, "INR": 90, "CNY": 7.8, "BRL": 5.9, "MXN": 19, "ZAR": 20, "KRW": 1450, "ILS": 4, "KZT": 500,
	"HKD": 8.4, "SGD": 1.45, "AED": 4, "SAR": 4, "THB": 38, "IDR": 17000, "VND": 27000, "CLP": 1000, "ISK": 150}

// convert turns minor units of base into a shop price in the generator's
// currency, rounded the way shops price (12.90, 55.90, 1 990).
func (g *gen) convert(minor int64, base string) int64 {
	bexp, _ := core.CurrencyExponent(base)
	units := float64(minor) / math.Pow10(bexp) / eurRate(base) * g.rate
	return charm(units, g.exp)
}

func charm(units float64, exp int) int64 {
	switch {
	case exp == 0:
		step := 10.0
		if units > 5000 {
			step = 100
		}
		return int64(math.Max(step, math.Round(units/step)*step))
	case units < 2:
		return int64(math.Round(units * math.Pow10(exp)))
	}
	one := math.Pow10(exp)
	return int64(math.Round(units)*one - one/10) // x.90
}

// priceList converts a list priced in base; app stores price at x.99.
func (g *gen) priceList(list []product, base string, app bool) []product {
	out := make([]product, len(list))
	copy(out, list)
	for i := range out {
		m, err := core.ParseAmount(out[i].price, base)
		if err != nil {
			panic("demo: bad catalogue price " + out[i].price) // a programming error in the table above
		}
		out[i].minor = g.convert(m, base)
		if app && g.exp > 0 {
			bexp, _ := core.CurrencyExponent(base)
			one := math.Pow10(g.exp)
			units := float64(m) / math.Pow10(bexp) / eurRate(base) * g.rate
			out[i].minor = int64(math.Max(1, math.Round(units))*one - one/100)
		}
	}
	return out
}

// D2C personas.
const (
	d2cProspect = iota // signed up, never bought
	d2cOneTime
	d2cLapsing
	d2cLoyal
)

var (
	d2cLangs = []*language{langDE, langFR, langES, langPL, langGB, langUS, langRU}
	d2cLangW = []int{30, 18, 14, 16, 12, 5, 5}
	d2cChans = []string{"organic_search", "paid_search", "social", "referral", "email", "affiliate", "marketplace", "influencer"}
)

func (g *gen) d2cProfile() {
	p := &g.p
	g.pickLang(d2cLangs, d2cLangW)
	p.acq = g.acquire()
	p.persona = pickW(g.r, []int{8, 42, 33, 17})
	p.category = pickW(g.r, []int{50, 30, 20})
	u := g.r.Float64()
	switch p.category {
	case catTea:
		p.interval = 20 + 20*u
	case catCoffee:
		p.interval = 14 + 16*u
	default:
		p.interval = 45 + 45*u
	}
	switch p.persona {
	case d2cLapsing:
		p.pDrop = 0.15 + 0.3*g.r.Float64()
		p.subscriber = g.chance(0.08)
	case d2cLoyal:
		p.pDrop = 0.01 + 0.05*g.r.Float64()
		p.subscriber = g.chance(0.35)
	default:
		p.pDrop = 1
	}
	p.channel = d2cChans[pickW(g.r, []int{30, 20, 18, 10, 7, 6, 6, 3})]
	g.consent(0.82, 0.3, 0.15, 0.05)
	if p.persona == d2cLoyal && g.chance(0.4) {
		p.tags = append(p.tags, "vip")
	}
	if g.chance(0.015) {
		p.tags = append(p.tags, "wholesale")
	}
	if g.chance(0.005) {
		p.tags = append(p.tags, "b2b")
	}
	if p.subscriber {
		p.tags = append(p.tags, "subscriber")
	}
	if g.chance(0.15) {
		p.tags = append(p.tags, "first-order-discount")
	}
	if g.chance(0.08) {
		p.tags = append(p.tags, "gift-buyer")
	}
	p.tags = append(p.tags, []string{"tea-lover", "coffee", "skincare"}[p.category])
}

func (g *gen) d2cAttributes(c *core.Customer) {
	p := &g.p
	c.Attributes["acquisition_channel"] = p.channel
	c.Attributes["favourite_category"] = catNames[p.category]
	c.Attributes["loyalty_tier"] = []string{"none", "bronze", "silver", "gold"}[p.persona]
	if g.chance(0.4) {
		c.Attributes["birthday_month"] = 1 + g.r.IntN(12)
	}
	if p.channel == "referral" {
		c.Attributes["referred_by"] = externalID(D2C, g.r.IntN(max(1, g.idx+1)))
	}
}

// d2cSim writes a shop customer's history: visits, orders at the customer's
// replenishment interval until they lapse, refunds, tickets, a subscription
// box, newsletters and notes.
func (g *gen) d2cSim() {
	p, k := &g.p, g.k
	t := g.evening(p.acq)
	if t < p.acq {
		t = p.acq + int64(g.r.IntN(3*hour))
	}
	g.visit(t, g.poisson(2*k))
	var last int64
	orders := 0
	if p.persona != d2cProspect {
		t += int64(5+g.r.IntN(30)) * minute
		for t < g.we {
			g.d2cOrder(t, orders)
			orders++
			last = t
			if p.subscriber && orders == 1+g.r.IntN(2) {
				g.d2cBox(t + int64(1+g.r.IntN(10))*day)
			}
			if g.chance(p.pDrop) {
				break
			}
			gap := int64(p.interval * g.lognorm(0.25) * day)
			if g.chance(0.3 * k) {
				g.d2cReminder(t + gap*4/5)
			}
			t = g.evening(t + gap)
			if t < last {
				t = last + hour
			}
			if g.chance(0.6 * k) {
				g.visit(t-int64(g.r.IntN(2*hour)), g.poisson(1.2*k))
			}
		}
	}
	// Browsing without buying, across the customer's life.
	active := float64(g.we-p.acq) / (30 * day)
	for range g.poisson(0.15 * k * active) {
		g.visit(g.evening(p.acq+g.r.Int64N(g.we-p.acq)), 1+g.poisson(1.5*k))
	}
	g.d2cCampaigns(last)
	if p.emailOff != 0 {
		e := g.add(p.emailOff, "unsubscribed", core.ChannelEmail)
		e.Text = g.text(func(t *texts) []string { return t.unsubscribe }, nil)
		e.Properties = map[string]string{"list": "newsletter"}
	}
	if g.chance(0.04) {
		g.note(p.acq + g.r.Int64N(g.we-p.acq))
	}
	if orders > 0 && g.chance(0.06) {
		g.survey(last+int64(3+g.r.IntN(20))*day, "nps", orders)
	}
}

// visit writes a web session with n page views.
func (g *gen) visit(t int64, pages int) {
	ch := core.Channel("web")
	if g.chance(0.25) {
		ch = "app"
	}
	sess := -1
	if e := g.add(t, core.TypeSession, ch); e != &g.scratch {
		sess = len(g.buf) - 1
	}
	dur := 20
	for i := range pages {
		t += int64(15 + g.r.IntN(150))
		dur += 30 + g.r.IntN(150)
		path := visitPaths[g.r.IntN(len(visitPaths))]
		if i > 0 && g.chance(0.5) {
			path = "/products/" + lowerSKU(g.cat[g.r.IntN(len(g.cat)-1)].sku)
		}
		pv := g.add(t, core.TypePageView, ch)
		pv.Properties = map[string]string{"path": path}
	}
	if sess >= 0 {
		g.buf[sess].Properties = map[string]string{"duration_s": strconv.Itoa(dur), "pages": strconv.Itoa(pages),
			"utm_source": g.p.channel}
	}
}

var visitPaths = []string{"/", "/shop/tea", "/shop/coffee", "/shop/cosmetics", "/cart", "/account/orders",
	"/blog/how-to-brew-matcha", "/blog/cold-brew-at-home"}

func lowerSKU(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (g *gen) orderRef(t int64, n int) string {
	return seq("ORD", time.Unix(t, 0).UTC().Year(), (g.idx*37+n*7919)%1000000)
}

// d2cOrder writes a purchase with line items, its confirmation email and
// sometimes a refund or a support ticket.
func (g *gen) d2cOrder(t int64, n int) {
	p := &g.p
	ref := g.orderRef(t, n)
	lines := 1 + g.poisson(0.8)
	items := make([]core.LineItem, 0, lines+1)
	var total int64
	for i := range lines {
		var pr product
		for {
			pr = g.cat[g.r.IntN(len(g.cat)-1)]
			if i == 0 && pr.cat != p.category && g.chance(0.85) {
				continue
			}
			break
		}
		q := int64(1 + g.poisson(0.3))
		if hasTag(p.tags, "wholesale") {
			q = int64(5 + g.r.IntN(20))
		}
		items = append(items, core.LineItem{SKU: pr.sku, Name: pr.name, Quantity: q, UnitPrice: pr.minor})
		total += q * pr.minor
	}
	if total < g.freeShip {
		ship := g.cat[len(g.cat)-1]
		items = append(items, core.LineItem{SKU: ship.sku, Name: ship.name, Quantity: 1, UnitPrice: ship.minor})
		total += ship.minor
	}
	ch := core.Channel("web")
	if g.chance(0.2) {
		ch = "app"
	}
	e := g.add(t, core.TypePurchase, ch)
	e.Items = items
	props := map[string]string{"order_id": ref, "payment_method": g.payment(), "items": strconv.Itoa(len(items))}
	amount := total
	if n == 0 && hasTag(p.tags, "first-order-discount") {
		props["discount_code"] = "WELCOME10"
		off := total / 10
		props["discount"] = core.FormatAmount(off, g.o.Currency)
		amount -= off
	}
	e.Properties = props
	g.money(e, amount)

	if p.emailOK && g.chance(0.8*g.k) { // transactional mail is volume: it thins out first
		m := g.add(t+int64(30+g.r.IntN(90)), core.TypeMessageSent, core.ChannelEmail)
		m.Text = g.text(func(t *texts) []string { return t.d2cOrderMail }, map[byte]string{'o': ref})
		m.Properties = map[string]string{"template": "order_confirmation", "order_id": ref}
		if g.chance(0.55) {
			o := g.add(t+int64(10+g.r.IntN(600))*minute, core.TypeOpened, core.ChannelEmail)
			o.Properties = map[string]string{"template": "order_confirmation"}
		}
	}
	if g.chance(0.04) {
		it := items[g.r.IntN(len(items))]
		if it.SKU == "SHIP-STD" {
			it = items[0]
		}
		r := g.add(t+int64(3+g.r.IntN(18))*day+int64(g.r.IntN(8*hour)), core.TypeRefund, ch)
		reason := g.text(func(t *texts) []string { return t.d2cRefund }, nil)
		r.Items = []core.LineItem{it}
		r.Properties = map[string]string{"order_id": ref, "reason": reason}
		r.Text = reason
		g.money(r, it.Quantity*it.UnitPrice)
	}
	if g.chance(0.035) {
		prod := items[0].Name
		vals := map[byte]string{'o': ref, 'p': prod, 'd': strconv.Itoa(5 + g.r.IntN(10)),
			'a': core.FormatAmount(items[0].UnitPrice, g.o.Currency) + " " + g.o.Currency}
		g.ticket(t+int64(2+g.r.IntN(9))*day, "order", vals,
			func(t *texts) []string { return t.d2cTicket },
			func(t *texts) []string { return t.d2cUpdate },
			func(t *texts) []string { return t.d2cClose })
	}
}

func (g *gen) payment() string {
	switch g.p.lang.country {
	case "PL":
		return []string{"blik", "card", "przelewy24", "card"}[g.r.IntN(4)]
	case "DE":
		return []string{"paypal", "card", "klarna", "sepa"}[g.r.IntN(4)]
	case "FR":
		return []string{"card", "paypal", "card"}[g.r.IntN(3)]
	}
	return []string{"card", "paypal", "apple_pay"}[g.r.IntN(3)]
}

func hasTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

// d2cReminder writes the "you are about to run out" email.
func (g *gen) d2cReminder(t int64) {
	if !g.emailAllowed(t) {
		return
	}
	prod := g.cat[g.r.IntN(len(g.cat)-1)]
	for prod.cat != g.p.category {
		prod = g.cat[g.r.IntN(len(g.cat)-1)]
	}
	t = g.localTime(t, 9, 11)
	m := g.add(t, core.TypeMessageSent, core.ChannelEmail)
	m.Text = g.text(func(t *texts) []string { return t.d2cRemind }, map[byte]string{'n': g.first, 'p': prod.name})
	m.Properties = map[string]string{"campaign": "replenishment-reminder", "sku": prod.sku}
	g.engage(t, "replenishment-reminder", 0.5, 0.2)
}

// engage writes opens and clicks after a message, a click leading to a visit.
func (g *gen) engage(t int64, campaign string, pOpen, pClick float64) {
	if !g.chance(pOpen) {
		return
	}
	t += int64(5+g.r.IntN(24*60)) * minute
	o := g.add(t, core.TypeOpened, core.ChannelEmail)
	o.Properties = map[string]string{"campaign": campaign}
	if g.chance(pClick) {
		c := g.add(t+int64(5+g.r.IntN(60)), core.TypeClicked, core.ChannelEmail)
		c.Properties = map[string]string{"campaign": campaign}
		g.visit(t+int64(2*minute), g.poisson(1.5*g.k))
	}
}

// d2cCampaigns writes the newsletters the customer received: a campaign
// every two weeks, sent to a targeted part of the list each time.
func (g *gen) d2cCampaigns(lastOrder int64) {
	p := &g.p
	if !p.emailOK {
		return
	}
	first := g.ws + 5*day
	for c, j := first, 0; c < g.we; c, j = c+14*day, j+1 {
		if c < p.acq || !g.emailAllowed(c) || !g.chance(0.25*g.k) {
			continue
		}
		t := g.localTime(c, 10, 11)
		name := "newsletter-" + time.Unix(c, 0).UTC().Format("2006-01-02")
		m := g.add(t, core.TypeMessageSent, core.ChannelEmail)
		m.Text = g.text(func(t *texts) []string { return t.d2cSubject }, map[byte]string{'n': g.first})
		m.Properties = map[string]string{"campaign": name}
		pOpen := 0.45
		if lastOrder == 0 || c-lastOrder > int64(3*p.interval*day) {
			pOpen = 0.15 // lapsed readers stop opening
		}
		g.engage(t, name, pOpen, 0.2)
	}
}

// d2cBox writes a subscription box: started, renewed monthly, and cancelled
// with a reason after a geometric number of months.
func (g *gen) d2cBox(t int64) {
	p := &g.p
	b := boxes[min(p.category, len(boxes)-1)]
	m, _ := core.ParseAmount(b.price, "EUR")
	price := g.convert(m, "EUR")
	id := "SUB-" + strconv.Itoa(100000+g.idx)
	churn := 0.05
	if p.persona == d2cLapsing {
		churn = 0.2
	}
	e := g.add(t, core.TypeSubscriptionStarted, "web")
	e.Properties = map[string]string{"plan": b.plan, "subscription_id": id, "interval": "month"}
	g.money(e, price)
	start := time.Unix(t, 0).UTC()
	for n := 1; ; n++ {
		r := start.AddDate(0, n, 0).Unix()
		if r >= g.we {
			return
		}
		if g.chance(churn) {
			c := g.add(r-int64(g.r.IntN(10))*day, core.TypeSubscriptionCancelled, "web")
			reason := g.text(func(t *texts) []string { return t.d2cCancel }, nil)
			c.Text = reason
			c.Properties = map[string]string{"plan": b.plan, "subscription_id": id, "months": strconv.Itoa(n)}
			return
		}
		e := g.add(r, core.TypeSubscriptionRenewed, "web")
		e.Properties = map[string]string{"plan": b.plan, "subscription_id": id, "period": strconv.Itoa(n + 1)}
		g.money(e, price)
	}
}

// ticket writes a support ticket: opened, updated once or twice, closed,
// and sometimes rated.
func (g *gen) ticket(t int64, category string, vals map[byte]string, open, upd, cls func(*texts) []string) {
	id := "T-" + strconv.Itoa(10000+(g.idx*13+int(t/day))%900000)
	ch := core.Channel(pick(g.r, []string{"email", "chat", "phone", "web"}))
	e := g.add(t, core.TypeTicketOpened, ch)
	e.Text = g.text(open, vals)
	e.Properties = map[string]string{"ticket_id": id, "status": "open", "category": category,
		"priority": pick(g.r, []string{"low", "normal", "normal", "high"})}
	for range 1 + g.r.IntN(2) {
		t += int64(2+g.r.IntN(46)) * hour
		u := g.add(t, core.TypeTicketUpdated, ch)
		u.Text = g.text(upd, vals)
		u.Properties = map[string]string{"ticket_id": id, "status": "pending"}
	}
	t += int64(4+g.r.IntN(120)) * hour
	c := g.add(t, core.TypeTicketClosed, ch)
	c.Text = g.text(cls, vals)
	c.Properties = map[string]string{"ticket_id": id, "status": "closed"}
	if g.chance(0.4) {
		g.survey(t+int64(1+g.r.IntN(24))*hour, "csat", 0)
	}
}

// survey writes a survey response: NPS 0–10 or CSAT 1–5 with a comment.
// Customers with more orders (loyalty > 0) lean positive.
func (g *gen) survey(t int64, kind string, loyalty int) {
	var score, top, pos int
	if kind == "nps" {
		top = 10
		score = int(clamp(math.Round(6.5+float64(min(loyalty, 10))*0.25+2.2*g.r.NormFloat64()), 0, 10))
		pos = 7
	} else {
		top = 5
		score = int(clamp(math.Round(4+1.1*g.r.NormFloat64()), 1, 5))
		pos = 4
	}
	e := g.add(t, core.TypeSurveyResponse, core.ChannelEmail)
	e.Properties = map[string]string{"survey": kind, "score": strconv.Itoa(score), "scale_max": strconv.Itoa(top)}
	if g.chance(0.6) {
		if score >= pos {
			e.Text = g.text(func(t *texts) []string { return t.praise }, nil)
		} else {
			e.Text = g.text(func(t *texts) []string { return t.gripe }, nil)
		}
	}
}

// note writes a staff note.
func (g *gen) note(t int64) {
	t = g.localTime(t, 9, 17)
	e := g.add(t, core.TypeNote, "")
	var sel func(*texts) []string
	switch g.o.Industry {
	case Bank:
		sel = func(t *texts) []string { return t.bankNote }
	default:
		sel = func(t *texts) []string { return t.d2cNote }
	}
	e.Text = g.text(sel, map[byte]string{'p': g.cat[g.r.IntN(len(g.cat)-1)].name})
	e.Properties = map[string]string{"author": pick(g.r, []string{"anna@example.com", "tom@example.com", "marta@example.com", "lukas@example.com"})}
}
