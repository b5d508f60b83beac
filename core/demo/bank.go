package demo

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/retain-crm/retain/core"
)

const nBankProducts = 8

// bankProducts are what a customer can hold; opening one is a
// subscription_started, closing it a subscription_cancelled.
var bankProducts = [nBankProducts]struct{ id, name string }{
	{"current_account", "Konto Osobiste Plus"},
	{"savings", "Konto Oszczędnościowe"},
	{"credit_card", "Karta Kredytowa Visa Gold"},
	{"term_deposit", "Lokata 6M"},
	{"consumer_loan", "Kredyt Gotówkowy"},
	{"mortgage", "Kredyt Hipoteczny"},
	{"brokerage", "Rachunek Maklerski"},
	{"business_account", "Konto Firmowe"},
}

var (
	bankLangs = []*language{langPL, langUK, langRU, langGB}
	bankLangW = []int{78, 11, 6, 5}
	merchants = []struct{ name, mcc, cat string }{
		{"Sklep spożywczy", "5411", "groceries"}, {"Stacja paliw", "5541", "fuel"}, {"Apteka", "5912", "pharmacy"},
		{"Restauracja", "5812", "restaurants"}, {"Księgarnia internetowa", "5942", "books"}, {"Kino", "7832", "entertainment"},
		{"Komunikacja miejska", "4111", "transport"}, {"Sklep z elektroniką", "5732", "electronics"}, {"Drogeria", "5977", "cosmetics"},
		{"Sklep odzieżowy", "5651", "clothing"}, {"Platforma streamingowa", "4899", "subscriptions"}, {"Linie lotnicze", "4511", "travel"},
	}
	employers = []string{"Mazur Logistyka S.A.", "Kowalczyk i Synowie sp. z o.o.", "Urząd Miasta", "Szpital Wojewódzki",
		"Politechnika", "Nordic Software sp. z o.o.", "Zakład Energetyczny S.A.", "Piekarnia Zając"}
)

func (g *gen) bankProfile() {
	p := &g.p
	g.pickLang(bankLangs, bankLangW)
	// A bank in Poland: everyone lives in Poland, whatever language they
	// prefer to be served in (locale uk-PL, ru-PL).
	if p.lang != langPL {
		p.home = langPL
		p.city = &langPL.cities[g.r.IntN(len(langPL.cities))]
		p.tzOff = int64(p.city.off) * hour
		if p.lang.code != "en" {
			p.locale = p.lang.code + "-PL"
		}
	}
	if g.chance(0.4) {
		p.acq = g.ws - int64(30*day) - g.r.Int64N(10*365*day) // a customer from before the CRM
	} else {
		p.acq = g.acquire()
	}
	p.segment = []string{"mass", "affluent", "private", "sme"}[pickW(g.r, []int{70, 20, 3, 7})]
	p.branch = p.city.name + " " + pick(g.r, []string{"Centrum", "Centrum", "Rynek", "Dworzec", "Galeria"})
	p.digital = g.chance(0.72)
	p.salary = p.segment != "sme" && g.chance(0.62)
	base := map[string]float64{"mass": 6000, "affluent": 60000, "private": 400000, "sme": 30000}[p.segment]
	p.balance = base * g.lognorm(0.8)

	from := max(p.acq, g.ws)
	switch pickW(g.r, []int{62, 24, 14}) {
	case 1:
		if lo, hi := from+60*day, g.we-30*day; hi > lo {
			p.dormantAt = lo + g.r.Int64N(hi-lo)
		}
	case 2:
		if lo, hi := from+90*day, g.we-day; hi > lo {
			p.closeAt = lo + g.r.Int64N(hi-lo)
		}
	}
	odds := [nBankProducts]float64{1, 0.55, 0.35, 0.15, 0.15, 0.12, 0.06, 0}
	switch p.segment {
	case "affluent":
		odds[3], odds[5], odds[6] = 0.35, 0.3, 0.25
	case "private":
		odds[3], odds[5], odds[6] = 0.5, 0.35, 0.7
	case "sme":
		odds[7] = 1
	}
	for i := range nBankProducts {
		if !g.chance(odds[i]) {
			continue
		}
		at := p.acq
		if i > 0 {
			at = p.acq + int64(g.r.Float64()*float64(g.we-p.acq))
		}
		if p.closeAt != 0 && at >= p.closeAt {
			continue
		}
		p.products[i] = at
	}
	g.consent(0.75, 0.6, 0.8*b2f(p.digital), 0.05)
	if p.segment == "private" {
		p.tags = append(p.tags, "vip", "private-banking")
	}
	if p.segment == "sme" {
		p.tags = append(p.tags, "sme")
	}
	if p.digital {
		p.tags = append(p.tags, "mobile-app")
		if g.chance(0.7) {
			p.tags = append(p.tags, "e-statement")
		}
	}
	if p.salary {
		p.tags = append(p.tags, "salary-account")
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (g *gen) bankAttributes(c *core.Customer) {
	p := &g.p
	var held []string
	for i, at := range p.products {
		if at != 0 && at < g.we && p.closeAt == 0 {
			held = append(held, bankProducts[i].id)
		}
	}
	status := "active"
	switch {
	case p.closeAt != 0:
		status = "closed"
	case p.dormantAt != 0:
		status = "dormant"
	}
	c.Attributes["segment"] = p.segment
	c.Attributes["branch"] = p.branch
	c.Attributes["products"] = strings.Join(held, ",")
	c.Attributes["products_count"] = len(held)
	c.Attributes["status"] = status
	c.Attributes["customer_since"] = time.Unix(p.acq, 0).UTC().Format("2006-01-02")
	c.Attributes["credit_score_band"] = string(rune('A' + pickW(g.r, []int{20, 35, 25, 15, 5})))
	if p.segment == "affluent" || p.segment == "private" {
		c.Attributes["relationship_manager"] = pick(g.r, []string{"Agnieszka Wrona", "Paweł Sowa", "Ewa Szczygieł", "Marek Czapla"})
	}
}

// pln converts an amount in złoty to minor units of the generator's currency.
func (g *gen) pln(x float64) int64 {
	return int64(math.Round(x / 4.3 * g.rate * math.Pow10(g.exp)))
}

// activity is how engaged the customer still is at t: 1 normally, fading
// after dormantAt, falling in the three months before closing.
func (g *gen) activity(t int64) float64 {
	p := &g.p
	a := 1.0
	if p.dormantAt != 0 && t > p.dormantAt {
		a *= math.Exp(-float64(t-p.dormantAt) / (75 * day))
	}
	if p.closeAt != 0 && t > p.closeAt-90*day {
		a *= clamp(float64(p.closeAt-t)/(90*day), 0.1, 1)
	}
	return a
}

func (g *gen) accountNo(i int) string {
	return "PL** **** " + strconv.Itoa(1000+(g.idx*31+i*977)%9000)
}

// bankSim writes a bank customer's history: product openings, monthly
// balances and transaction summaries, card payments, app logins, messages,
// calls to the branch, complaints, and for some a fade into dormancy or the
// closing of every product.
func (g *gen) bankSim() {
	p, k := &g.p, g.k
	end := g.we
	if p.closeAt != 0 {
		end = p.closeAt
	}
	for i, at := range p.products {
		if at == 0 {
			continue
		}
		t := g.localTime(at, 9, 18)
		ch := core.Channel("branch")
		if p.digital && g.chance(0.6) {
			ch = "online"
		}
		e := g.add(t, core.TypeSubscriptionStarted, ch)
		e.Properties = map[string]string{"product": bankProducts[i].id, "product_name": bankProducts[i].name, "account": g.accountNo(i)}
		switch bankProducts[i].id {
		case "credit_card":
			e.Properties["limit"] = core.FormatAmount(g.pln(float64(2000+1000*g.r.IntN(15))), g.o.Currency)
		case "term_deposit":
			g.money(e, g.pln(math.Round(p.balance*0.5/100)*100+1000))
			e.Properties["rate"] = pick(g.r, []string{"4.50", "5.00", "5.25", "6.00"})
		case "consumer_loan":
			g.money(e, g.pln(float64(5000+1000*g.r.IntN(60))))
			e.Properties["rate"] = pick(g.r, []string{"9.99", "11.50", "12.90"})
			e.Properties["term_months"] = pick(g.r, []string{"24", "36", "48", "60"})
		case "mortgage":
			g.money(e, g.pln(float64(250000+10000*g.r.IntN(70))))
			e.Properties["term_months"] = pick(g.r, []string{"240", "300", "360"})
		}
	}

	period := int(clamp(math.Floor(1/k+0.25), 1, 6)) // months between balance snapshots
	bal := p.balance
	income := p.balance * (0.4 + 0.3*g.r.Float64())
	employer := pick(g.r, employers)
	from := time.Unix(max(p.acq, g.ws), 0).UTC()
	ms := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	acct := g.accountNo(0)
	for m := 0; ms.Unix() < end; m++ {
		me := ms.AddDate(0, 1, 0)
		month := ms.Format("2006-01")
		t0, t1 := ms.Unix(), me.Unix()
		act := g.activity(t0)
		// balance drifts with the customer's engagement
		drift := 0.01 + 0.05*g.r.NormFloat64()
		if act < 0.8 {
			drift -= 0.15 * (1 - act)
		}
		bal = math.Max(0, bal*(1+drift))
		if m%period == 0 {
			// the month's in- and outflows as one summary
			in := 0.0
			if p.salary && act > 0.3 {
				in = income
			}
			in += bal * 0.1 * g.r.Float64() * act
			out := (in + bal*0.05) * (0.7 + 0.4*g.r.Float64())
			if in > 0 || act > 0.2 {
				e := g.add(g.localTime(min(t1, end)-day, 20, 23), "transaction", "")
				g.money(e, g.pln(math.Round(in+out)))
				e.Properties = map[string]string{"kind": "monthly_summary", "month": month, "account": acct,
					"inflow": core.FormatAmount(g.pln(in), g.o.Currency), "outflow": core.FormatAmount(g.pln(out), g.o.Currency),
					"count": strconv.Itoa(int(math.Round(act * float64(5+g.r.IntN(40)))))}
				if in > 0 && p.salary {
					e.Properties["salary_from"] = employer
				}
			}
			e := g.add(min(t1, end)-1, "balance", "")
			g.money(e, g.pln(math.Round(bal)))
			e.Properties = map[string]string{"product": "current_account", "account": acct, "month": month}
		}
		for range g.poisson(0.25 * k * act) {
			mc := pick(g.r, merchants)
			t := g.evening(t0 + g.r.Int64N(t1-t0))
			e := g.add(t, "card_payment", "card")
			g.money(e, g.pln(math.Round(10+200*g.lognorm(0.9))/1))
			e.Properties = map[string]string{"merchant": mc.name, "mcc": mc.mcc, "category": mc.cat, "card": "Visa **" + strconv.Itoa(10+g.idx%90)}
		}
		if p.digital {
			for range g.poisson(0.35 * k * act) {
				t := g.evening(t0 + g.r.Int64N(t1-t0))
				ch := core.Channel("mobile_app")
				if g.chance(0.2) {
					ch = "web"
				}
				e := g.add(t, core.TypeSession, ch)
				e.Properties = map[string]string{"duration_s": strconv.Itoa(int(60 + 120*g.lognorm(0.6)*act)), "action": pick(g.r, []string{"balance_check", "transfer", "blik", "statement", "card_settings"})}
			}
		}
		if g.chance(0.12 * k) {
			g.bankMessage(t0 + g.r.Int64N(t1-t0))
		}
		if g.chance(0.02 * (0.5 + act)) {
			g.bankCall(t0+g.r.Int64N(t1-t0), "")
		}
		ms = me
	}
	if g.chance(0.05) || (p.closeAt != 0 && g.chance(0.3)) {
		t := max(p.acq, g.ws) + g.r.Int64N(max(1, end-max(p.acq, g.ws)))
		ref := "TRX-" + strconv.Itoa(100000+g.idx%900000)
		g.ticket(g.localTime(t, 8, 20), "complaint", map[byte]string{'o': ref, 'a': core.FormatAmount(g.pln(float64(50*(1+g.r.IntN(20)))), g.o.Currency) + " " + g.o.Currency},
			func(t *texts) []string { return t.bankComplaint },
			func(t *texts) []string { return t.bankUpdate },
			func(t *texts) []string { return t.bankClose })
	}
	if pNote := 0.03 + 0.27*b2f(p.segment == "affluent" || p.segment == "private"); g.chance(pNote) {
		g.note(max(p.acq, g.ws) + g.r.Int64N(g.we-max(p.acq, g.ws)))
	}
	if g.chance(0.08) {
		g.survey(max(p.acq, g.ws)+g.r.Int64N(end-max(p.acq, g.ws)), "nps", 3)
	}
	if p.closeAt != 0 {
		g.bankCall(p.closeAt-int64(3+g.r.IntN(20))*day, "retention")
		reason := g.text(func(t *texts) []string { return t.bankClosure }, nil)
		for i, at := range p.products {
			if at == 0 {
				continue
			}
			e := g.add(p.closeAt+int64(i)*minute, core.TypeSubscriptionCancelled, "branch")
			e.Properties = map[string]string{"product": bankProducts[i].id, "product_name": bankProducts[i].name, "account": g.accountNo(i), "reason": reason}
			e.Text = reason
		}
	}
}

// bankCall writes a phone call with the advisor's note, in the customer's
// language.
func (g *gen) bankCall(t int64, purpose string) {
	t = g.localTime(t, 8, 19)
	e := g.add(t, core.TypeCall, "phone")
	e.Text = g.text(func(t *texts) []string { return t.bankCall }, map[byte]string{'o': "**** " + strconv.Itoa(1000+g.idx%9000)})
	dir := "inbound"
	if purpose != "" || g.chance(0.3) {
		dir = "outbound"
	}
	e.Properties = map[string]string{"direction": dir, "duration_s": strconv.Itoa(60 + g.r.IntN(900)), "branch": g.p.branch}
	if purpose != "" {
		e.Properties["purpose"] = purpose
	}
}

// bankMessage writes a service or offer message on a channel the customer
// allows.
func (g *gen) bankMessage(t int64) {
	ch := core.ChannelEmail
	switch {
	case g.p.pushOK && g.chance(0.5):
		ch = core.ChannelPush
	case g.emailAllowed(t):
	case g.p.smsOK:
		ch = core.ChannelSMS
	default:
		return
	}
	t = g.localTime(t, 9, 18)
	e := g.add(t, core.TypeMessageSent, ch)
	e.Text = g.text(func(t *texts) []string { return t.bankMsg }, nil)
	e.Properties = map[string]string{"template": "bank-service"}
	if ch != core.ChannelSMS && g.chance(0.35) {
		o := g.add(t+int64(5+g.r.IntN(600))*minute, core.TypeOpened, ch)
		o.Properties = map[string]string{"template": "bank-service"}
	}
}
