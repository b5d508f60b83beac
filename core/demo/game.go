package demo

import (
	"math"
	"strconv"
	"time"

	"github.com/retain-crm/retain/core"
)

// gameStore lists the in-app purchases, prices in USD.
var gameStore = []product{
	{"GEM-0100", "100 Gems", 0, "0.99", 0},
	{"PACK-STARTER", "Starter Pack", 0, "2.99", 0},
	{"NOADS", "Remove Ads", 0, "3.99", 0},
	{"GEM-0550", "550 Gems", 0, "4.99", 0},
	{"SKIN-FROST", "Frost Knight Skin", 0, "7.99", 0},
	{"GEM-1200", "1,200 Gems", 0, "9.99", 0},
	{"PASS-SEASON", "Season Pass", 0, "9.99", 0},
	{"GEM-6500", "6,500 Gems", 0, "49.99", 0},
	{"GEM-14000", "14,000 Gems", 0, "99.99", 0},
}

var (
	gameLangs = []*language{langUS, langGB, langDE, langRU, langJA, langES, langPL, langFR, langUK}
	gameLangW = []int{34, 7, 9, 12, 10, 9, 7, 7, 5}
	platforms = []struct{ name, store string }{
		{"ios", "app_store"}, {"android", "google_play"}, {"pc", "steam"}, {"console", "playstation_store"},
	}
	devices = [][]string{
		{"iPhone 13", "iPhone 15", "iPhone SE", "iPad Air"},
		{"Pixel 8", "Galaxy S23", "Galaxy A54", "Redmi Note 12", "Xperia 10"},
		{"Windows PC", "Steam Deck", "MacBook Air"},
		{"PlayStation 5", "Nintendo Switch", "Xbox Series X"},
	}
	nickA = []string{"Shadow", "Frost", "Iron", "Night", "Lucky", "Silent", "Crimson", "Pixel", "Storm", "Mighty"}
	nickB = []string{"Fox", "Wolf", "Knight", "Ninja", "Dragon", "Rider", "Mage", "Bear", "Hawk", "Blade"}
)

// survival is the share of players still playing d days after install:
// the D1/D7/D30 curve of a typical free-to-play game.
var survival = []struct{ d, s float64 }{{0, 1}, {1, 0.38}, {7, 0.17}, {30, 0.07}, {90, 0.03}, {365, 0.012}, {730, 0.006}}

// updateEvery is the cadence of content updates (new app version, an email
// announcement, a bump in installs).
const updateEvery = 60 * day

func (g *gen) gameProfile() {
	p := &g.p
	g.pickLang(gameLangs, gameLangW)
	if g.chance(0.3) {
		n := (g.we - g.ws - 20*day) / updateEvery
		p.acq = g.ws + 20*day + g.r.Int64N(max(1, n))*updateEvery + g.r.Int64N(10*day)
		if p.acq >= g.we {
			p.acq = g.acquire()
		}
	} else {
		p.acq = g.acquire()
	}
	u := g.r.Float64()
	p.lifetime = 730 + 365*g.r.ExpFloat64()
	for i := 1; i < len(survival); i++ {
		a, b := survival[i-1], survival[i]
		if u > b.s {
			p.lifetime = a.d + (b.d-a.d)*math.Log(a.s/u)/math.Log(a.s/b.s)
			break
		}
	}
	p.playProb = 0.3 + 0.6*g.r.Float64()
	p.platform = pickW(g.r, []int{38, 45, 12, 5})
	p.payer = g.chance(0.02 + 0.25*math.Min(1, p.lifetime/180))
	p.whale = p.payer && g.chance(0.1)
	days := math.Min(p.lifetime, float64(g.we-p.acq)/day)
	p.level = 1 + int(math.Min(119, 4*math.Sqrt(days*p.playProb*1.6)))
	g.consent(0.55, 0.05, []float64{0.65, 0.6, 0.2, 0.3}[p.platform], 0.03)
	if p.payer {
		p.tags = append(p.tags, "payer")
	}
	if p.whale {
		p.tags = append(p.tags, "whale", "vip")
	}
	if g.chance(0.02) {
		p.tags = append(p.tags, "beta-tester")
	}
	if g.chance(0.1) {
		p.tags = append(p.tags, "discord-member")
	}
}

func (g *gen) gameAttributes(c *core.Customer) {
	p := &g.p
	c.Attributes["platform"] = platforms[p.platform].name
	c.Attributes["device"] = pick(g.r, devices[p.platform])
	c.Attributes["level"] = p.level
	c.Attributes["payer"] = p.payer
	c.Attributes["player_name"] = pick(g.r, nickA) + pick(g.r, nickB) + strconv.Itoa(g.r.IntN(1000))
	c.Attributes["install_date"] = time.Unix(p.acq, 0).UTC().Format("2006-01-02")
}

// gameSim writes a player's history: sessions day by day until the player's
// lifetime runs out (most within days), level-ups, in-app purchases for
// payers, pushes and a come-back for a few lapsed players, update emails,
// surveys and tickets.
func (g *gen) gameSim() {
	p, k := &g.p, g.k
	inst := p.acq
	end := min(g.we, inst+int64(p.lifetime*day))
	plat := platforms[p.platform]
	level, purchases := 1, 0
	life := float64(max(end-inst, hour))
	session := func(t int64, firstDay bool) {
		f := float64(t-inst) / life
		dur := 480 * g.lognorm(0.6)
		if f > 0.8 && !firstDay {
			dur *= 0.5 // sessions get shorter before a player leaves
		}
		nl := 1 + int(float64(p.level-1)*math.Pow(clamp(f, 0, 1), 0.6))
		e := g.add(t, core.TypeSession, "app")
		e.Properties = map[string]string{"duration_s": strconv.Itoa(int(dur)), "level": strconv.Itoa(nl), "platform": plat.name,
			"app_version": "1." + strconv.FormatInt(max(0, (t-g.ws)/updateEvery), 10) + ".0"}
		if nl/5 > level/5 {
			l := g.add(t+int64(dur/2), "level_up", "app")
			l.Properties = map[string]string{"level": strconv.Itoa(nl / 5 * 5)}
		}
		level = max(level, nl)
		if p.payer && (g.chance(0.04) || (p.whale && g.chance(0.16))) {
			g.gamePurchase(t+int64(dur/3), purchases)
			purchases++
		}
	}
	// install day: the tutorial and a session or two
	t := inst + minute
	session(t, true)
	if g.chance(0.7) {
		e := g.add(t+int64(5*minute), "tutorial_completed", "app")
		e.Properties = map[string]string{"platform": plat.name}
	}
	for range g.poisson(0.8 * k) {
		session(g.evening(inst+int64(g.r.IntN(20))*hour), true)
	}
	for ds := inst + day; ds < end; ds += day {
		if !g.chance(math.Min(0.98, p.playProb*k)) {
			continue
		}
		for range 1 + g.poisson(0.6*k) {
			session(g.evening(ds), false)
		}
	}
	if p.pushOK {
		for w := inst + 7*day; w < end; w += 7 * day {
			if g.chance(0.15 * k) {
				g.gamePush(w, false)
			}
		}
		if end < g.we { // lapsed: try to win the player back
			for _, after := range []int64{3, 7, 14, 30} {
				if g.chance(0.6*k) && g.gamePush(end+after*day, true) {
					for range 1 + g.r.IntN(3) {
						session(g.evening(end+after*day+int64(g.r.IntN(4))*day), false)
					}
					break
				}
			}
		}
	}
	if p.emailOK {
		for u := g.ws + 20*day; u < min(g.we, end+180*day); u += updateEvery {
			if u < inst || !g.emailAllowed(u) || !g.chance(0.3*k) {
				continue
			}
			ut := g.localTime(u, 16, 18)
			v := "1." + strconv.FormatInt((u-g.ws)/updateEvery, 10)
			m := g.add(ut, core.TypeMessageSent, core.ChannelEmail)
			m.Text = "Update " + v + ": new season, new heroes"
			m.Properties = map[string]string{"campaign": "update-" + v}
			pOpen := 0.3
			if u > end {
				pOpen = 0.08
			}
			if g.chance(pOpen) {
				o := g.add(ut+int64(10+g.r.IntN(1000))*minute, core.TypeOpened, core.ChannelEmail)
				o.Properties = map[string]string{"campaign": "update-" + v}
			}
		}
	}
	if p.lifetime >= 7 && g.chance(0.25) {
		g.survey(inst+int64(7+g.r.IntN(7))*day, "nps", int(math.Min(10, p.lifetime/20)))
	}
	if g.chance(0.02 + 0.08*b2f(p.payer)) {
		it := pick(g.r, g.store)
		vals := map[byte]string{'p': it.name, 'o': "GPA." + strconv.Itoa(3300+g.idx%6000) + "-" + strconv.Itoa(1000+g.idx%9000),
			'a': core.FormatAmount(it.minor, g.o.Currency) + " " + g.o.Currency}
		g.ticket(inst+int64(g.r.Float64()*float64(max(end-inst, day))), "player_support", vals,
			func(t *texts) []string { return t.gameTicket },
			func(t *texts) []string { return t.gameUpdate },
			func(t *texts) []string { return t.gameClose })
	}
}

// gamePurchase writes an in-app purchase (and rarely its refund).
func (g *gen) gamePurchase(t int64, n int) {
	p := &g.p
	var it product
	switch {
	case n == 0 && g.chance(0.5):
		it = g.store[1] // starter pack
	case p.whale:
		it = g.store[3+g.r.IntN(len(g.store)-3)]
	default:
		it = g.store[pickW(g.r, []int{40, 5, 10, 20, 8, 8, 8, 1, 0})]
	}
	plat := platforms[p.platform]
	e := g.add(t, core.TypePurchase, "in_app")
	e.Items = []core.LineItem{{SKU: it.sku, Name: it.name, Quantity: 1, UnitPrice: it.minor}}
	e.Properties = map[string]string{"store": plat.store, "platform": plat.name,
		"transaction_id": plat.store + "-" + strconv.Itoa(g.idx) + "-" + strconv.Itoa(n)}
	g.money(e, it.minor)
	if g.chance(0.02) {
		r := g.add(t+int64(1+g.r.IntN(14))*day, core.TypeRefund, "in_app")
		r.Items = []core.LineItem{{SKU: it.sku, Name: it.name, Quantity: 1, UnitPrice: it.minor}}
		r.Properties = map[string]string{"store": plat.store, "reason": pick(g.r, []string{"accidental_purchase", "chargeback", "not_received"})}
		g.money(r, it.minor)
	}
}

// gamePush sends a push notification; it reports whether the player opened
// it.
func (g *gen) gamePush(t int64, winBack bool) bool {
	t = g.localTime(t, 17, 20)
	e := g.add(t, core.TypeMessageSent, core.ChannelPush)
	e.Text = g.text(func(t *texts) []string { return t.gamePush }, map[byte]string{'n': g.first})
	camp := "live-ops"
	if winBack {
		camp = "win-back"
	}
	e.Properties = map[string]string{"campaign": camp}
	pOpen := 0.25
	if winBack {
		pOpen = 0.1
	}
	if !g.chance(pOpen) {
		return false
	}
	o := g.add(t+int64(1+g.r.IntN(120))*minute, core.TypeOpened, core.ChannelPush)
	o.Properties = map[string]string{"campaign": camp}
	return winBack && g.chance(0.35)
}
