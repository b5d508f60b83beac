// Package demo generates deterministic, realistic demo data for `retain demo`:
// customers of a D2C shop, a retail bank or a mobile game, and their history
// of purchases, sessions, messages, tickets, calls and subscriptions.
//
// It imports only the standard library and core. Output is a pure function
// of Options: the same options and seed give byte-identical customers and
// events (no time.Now, no map iteration reaches the output, math/rand/v2 PCG
// streams seeded per customer).
//
// How it works, and why it stays small at a million customers: every
// customer i has three independent random streams derived from (Seed, i):
// a "profile" stream (language, acquisition date, persona, products...), a
// "record" stream (name, email, phone, address) and an "events" stream (the
// history). Customers are emitted first; then, for each customer in turn,
// the profile is re-derived (a few dozen random draws) and its history is
// simulated into a small buffer, sorted by time and emitted. Nothing is
// kept per customer between the two phases, so memory is O(one customer's
// history + one batch). Events are therefore ordered by customer, then by
// time — the order that makes appends to a store keyed customer|time|seq
// sequential.
//
// How the total number of events meets Options.Interactions: every rate in
// the simulation (page views, sessions, messages, transactions, tickets...)
// is multiplied by an intensity k. Before generating, k is calibrated by
// bisection on a fixed sample of up to 1000 customers so that the sample's
// mean equals Interactions/Customers; while generating, k is corrected per
// customer by the ratio of what is still needed to what was planned
// (clamped to [k/2, 2k]). The total lands within a few percent of the
// target (tests check 5%; at realistic sizes it is usually well under 1%).
// Rare, meaningful events (orders, refunds, tickets, notes, calls, surveys,
// subscription renewals) keep their realistic rates and do not scale, so
// there is a floor per customer below which a target cannot be met and
// more is produced: about 5 for d2c, 9 for bank (where the balance and
// transaction summaries thin out to one every six months first) and 2 for
// game.
package demo

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/retain-crm/retain/core"
)

// Industry selects the kind of business the demo data describes.
type Industry string

// The industries Generate knows.
const (
	D2C  Industry = "d2c"  // a tea, coffee and cosmetics web shop
	Bank Industry = "bank" // a retail bank with branches in Poland
	Game Industry = "game" // a free-to-play mobile and PC game
)

// Industries lists the known industries in the order a help text shows them.
var Industries = []Industry{D2C, Bank, Game}

// Limits on Options; they keep a mistyped flag from filling a disk.
const (
	MaxCustomers    = 10_000_000
	MaxInteractions = 100_000_000
	// Batch sizes handed to the sinks (both below core.MaxBatch).
	CustomerBatch = 1000
	EventBatch    = 5000
)

// DefaultEnd is the fixed end of the default history window, so that output
// never depends on the day the demo runs.
var DefaultEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Options say what to generate. Zero values take the documented defaults.
type Options struct {
	Industry Industry
	// Customers is the exact number of customers (at least 1).
	Customers int
	// Interactions is the target total number of events; 0 means a default
	// per industry (10 per customer for d2c, 12 for game, 24 for bank —
	// where a monthly balance alone is 24 over two years — capped at
	// 10,000,000 in total).
	Interactions int
	// Seed selects the data set; the same seed and options give the same
	// output byte for byte.
	Seed int64
	// Start and End bound the history (End exclusive). Default: the two
	// years before DefaultEnd; with only one set, the other is two years
	// away from it.
	Start, End time.Time
	// Currency of all amounts (ISO 4217). Default EUR for d2c, PLN for bank,
	// USD for game.
	Currency string
}

// Event is an interaction of a customer known by external id, since the
// store assigns core.IDs only when the customers are upserted. The caller
// resolves CustomerExternalID to an ID and sets Interaction.CustomerID.
type Event struct {
	CustomerExternalID string
	core.Interaction
}

// Resolved returns o with every default filled in, or an ErrInvalid error.
func (o Options) Resolved() (Options, error) {
	switch o.Industry {
	case D2C, Bank, Game:
	case "":
		return o, core.FieldErr("industry", "required (one of d2c, bank, game)")
	default:
		return o, core.FieldErr("industry", "unknown industry %q (one of d2c, bank, game)", o.Industry)
	}
	if o.Customers < 1 || o.Customers > MaxCustomers {
		return o, core.FieldErr("customers", "must be between 1 and %d", MaxCustomers)
	}
	if o.Interactions < 0 || o.Interactions > MaxInteractions {
		return o, core.FieldErr("interactions", "must be between 0 and %d", MaxInteractions)
	}
	if o.Interactions == 0 {
		per := map[Industry]int{D2C: 10, Bank: 24, Game: 12}[o.Industry]
		o.Interactions = min(o.Customers*per, 10_000_000)
	}
	const twoYears = 2 * 365 * 24 * time.Hour
	switch {
	case o.Start.IsZero() && o.End.IsZero():
		o.End = DefaultEnd
		o.Start = o.End.AddDate(-2, 0, 0)
	case o.Start.IsZero():
		o.Start = o.End.AddDate(-2, 0, 0)
	case o.End.IsZero():
		o.End = o.Start.AddDate(2, 0, 0)
	}
	o.Start, o.End = o.Start.UTC().Truncate(time.Second), o.End.UTC().Truncate(time.Second)
	if o.End.Sub(o.Start) < 7*24*time.Hour {
		return o, core.FieldErr("end", "the history window must be at least 7 days")
	}
	if o.End.Sub(o.Start) > 20*twoYears || o.Start.Year() < 1970 || o.End.Year() > 9000 {
		return o, core.FieldErr("start", "the history window must lie between 1970 and 9000 and span at most 40 years")
	}
	if o.Currency == "" {
		o.Currency = map[Industry]string{D2C: "EUR", Bank: "PLN", Game: "USD"}[o.Industry]
	}
	if _, ok := core.CurrencyExponent(o.Currency); !ok {
		return o, core.FieldErr("currency", "unknown ISO 4217 code %q", o.Currency)
	}
	return o, nil
}

// Generate streams o.Customers customers to customers (in batches of at most
// CustomerBatch), then their events to events (in batches of at most
// EventBatch), grouped by customer in the order the customers came and in
// time order within a customer. The slices passed to the sinks are theirs to
// keep. It stops at the first sink error (returned as is) or when ctx is
// done (ctx.Err()).
func Generate(ctx context.Context, o Options, customers func([]core.Customer) error, events func([]Event) error) error {
	o, err := o.Resolved()
	if err != nil {
		return err
	}
	g := newGen(o)

	batch := make([]core.Customer, 0, min(CustomerBatch, o.Customers))
	for i := range o.Customers {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		g.loadProfile(i)
		batch = append(batch, g.customer())
		if len(batch) == cap(batch) || i == o.Customers-1 {
			if err := customers(batch); err != nil {
				return err
			}
			batch = make([]core.Customer, 0, min(CustomerBatch, o.Customers-i-1))
		}
	}

	k0 := g.calibrate()
	target := float64(o.Interactions)
	perCust := target / float64(o.Customers)
	var produced int
	out := make([]Event, 0, EventBatch)
	for i := range o.Customers {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// Steer toward the target: what each remaining customer should
		// still produce, relative to the plan.
		need := (target - float64(produced)) / float64(o.Customers-i)
		g.k = k0 * clamp(need/perCust, 0.5, 2)
		g.loadProfile(i)
		g.simulate()
		produced += len(g.buf)
		keyPrefix := g.prefix + strconv.Itoa(i+1) + ":"
		for j, o := range g.order {
			e := g.buf[o.i]
			e.IdempotencyKey = keyPrefix + strconv.Itoa(j)
			out = append(out, e)
			if len(out) == EventBatch {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := events(out); err != nil {
					return err
				}
				out = make([]Event, 0, EventBatch)
			}
		}
	}
	if len(out) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return events(out)
	}
	return nil
}

// calibrate finds the intensity k at which a fixed sample of customers
// produces Interactions/Customers events each on average.
func (g *gen) calibrate() float64 {
	n := min(g.o.Customers, 1000)
	want := float64(g.o.Interactions) / float64(g.o.Customers)
	g.countOnly = true
	defer func() { g.countOnly = false }()
	mean := func(k float64) float64 {
		g.k = k
		total := 0
		for j := range n {
			g.loadProfile(j * g.o.Customers / n)
			g.simulate()
			total += g.count
		}
		return float64(total) / float64(n)
	}
	// 10 halvings of a factor-2500 range leave k within 0.8%; the per-
	// customer correction does the rest.
	lo, hi := math.Log(0.02), math.Log(50)
	for range 10 {
		mid := (lo + hi) / 2
		if mean(math.Exp(mid)) < want {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2)
}

// gen holds the generator's state: resolved options, the reusable random
// source and the current customer's profile and history buffer.
type gen struct {
	o        Options
	ws, we   int64 // window in unix seconds, end exclusive
	pcg      *rand.PCG
	r        *rand.Rand
	k        float64 // intensity of the simulation, see the package comment
	idx      int     // current customer, 0-based
	extID    string
	p        profile
	buf      []Event
	scratch  Event   // sink for events outside the window
	first    string  // the customer's first name, for templates
	exp      int     // minor-unit exponent of the currency
	rate     float64 // units of the currency per euro
	indSalt  uint64  // keeps the industries' streams apart
	prefix   string  // idempotency key prefix "demo:<industry>:<seed>:"
	cat      []product
	store    []product // game store items
	freeShip int64     // orders below this pay shipping
	// countOnly makes add count events instead of keeping them (calibration).
	countOnly bool
	count     int
	order     []sortKey // time order of buf
}

func newGen(o Options) *gen {
	g := &gen{o: o, ws: o.Start.Unix(), we: o.End.Unix()}
	g.pcg = rand.NewPCG(0, 0)
	g.r = rand.New(g.pcg)
	g.exp, _ = core.CurrencyExponent(o.Currency)
	g.rate = eurRate(o.Currency)
	for _, c := range []byte(o.Industry) {
		g.indSalt = splitmix(g.indSalt ^ uint64(c))
	}
	g.prefix = "demo:" + string(o.Industry) + ":" + strconv.FormatInt(o.Seed, 10) + ":"
	g.cat = g.priceList(catalogue, "EUR", false)
	g.store = g.priceList(gameStore, "USD", true)
	g.freeShip = g.convert(3900, "EUR")
	return g
}

// Random streams per customer.
const (
	streamProfile = 1
	streamRecord  = 2
	streamEvents  = 3
)

// reseed points the shared PCG at the stream of customer idx. splitmix64
// spreads neighbouring seeds so streams of neighbouring customers are
// unrelated.
func (g *gen) reseed(stream uint64) {
	a := splitmix(uint64(g.o.Seed) ^ splitmix(uint64(g.idx)+0x9e3779b97f4a7c15*stream) ^ g.indSalt)
	b := splitmix(a ^ stream ^ uint64(g.idx)<<20)
	g.pcg.Seed(a, b)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func clamp(x, lo, hi float64) float64 { return max(lo, min(hi, x)) }

// externalID is the customer's stable key: "<industry>-0000001".
func externalID(ind Industry, idx int) string {
	s := strconv.Itoa(idx + 1)
	if len(s) < 7 {
		s = "0000000"[:7-len(s)] + s
	}
	return string(ind) + "-" + s
}

// loadProfile derives customer idx's profile (cheap: numbers only).
func (g *gen) loadProfile(idx int) {
	g.idx = idx
	g.extID = externalID(g.o.Industry, idx)
	g.reseed(streamProfile)
	g.p = profile{}
	switch g.o.Industry {
	case D2C:
		g.d2cProfile()
	case Bank:
		g.bankProfile()
	case Game:
		g.gameProfile()
	}
}

// simulate fills g.buf with the current customer's history and g.order
// with its time order (stable, so same-second events keep the order they
// were written in). Sorting small keys rather than the events themselves
// keeps this cheap for customers with thousands of events.
func (g *gen) simulate() {
	g.buf = g.buf[:0]
	g.count = 0
	g.first = g.firstName()
	g.reseed(streamEvents)
	switch g.o.Industry {
	case D2C:
		g.d2cSim()
	case Bank:
		g.bankSim()
	case Game:
		g.gameSim()
	}
	if g.countOnly {
		return
	}
	g.count = len(g.buf)
	g.order = g.order[:0]
	for j := range g.buf {
		g.order = append(g.order, sortKey{g.buf[j].Time.Unix(), int32(j)})
	}
	slices.SortStableFunc(g.order, func(a, b sortKey) int { return cmp.Compare(a.t, b.t) })
}

type sortKey struct {
	t int64
	i int32
}

// add appends an event at unix time t (dropped, returning a scratch event,
// when t is outside the window or before the customer was acquired) and
// returns it for the caller to fill in.
func (g *gen) add(t int64, typ core.InteractionType, ch core.Channel) *Event {
	if t < g.ws || t >= g.we || t < g.p.acq {
		g.scratch = Event{}
		return &g.scratch
	}
	if g.countOnly {
		g.count++
		g.scratch = Event{}
		return &g.scratch
	}
	tt := time.Unix(t, 0).UTC()
	g.buf = append(g.buf, Event{CustomerExternalID: g.extID, Interaction: core.Interaction{
		Type: typ, Time: tt, Channel: ch, CreatedAt: tt,
	}})
	return &g.buf[len(g.buf)-1]
}

// money sets an amount in the generator's currency.
func (g *gen) money(e *Event, amount int64) {
	e.Amount = amount
	e.Currency = g.o.Currency
}

// poisson draws a Poisson variate (Knuth for small means, a rounded normal
// for large ones, where the difference does not matter here).
func (g *gen) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*g.r.NormFloat64())))
	}
	l, p, n := math.Exp(-mean), 1.0, 0
	for {
		p *= g.r.Float64()
		if p <= l {
			return n
		}
		n++
	}
}

// chance reports true with probability p.
func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// lognorm returns a log-normal factor with median 1.
func (g *gen) lognorm(sigma float64) float64 { return math.Exp(sigma * g.r.NormFloat64()) }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// pickW picks an index by integer weights.
func pickW(r *rand.Rand, w []int) int {
	t := 0
	for _, x := range w {
		t += x
	}
	n := r.IntN(t)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

const (
	minute = 60
	hour   = 3600
	day    = 86400
)

// localTime moves t to a random moment between hours from and to (local
// time of the customer) on the same local day.
func (g *gen) localTime(t int64, from, to int) int64 {
	off := g.p.tzOff
	local := t + off
	d := local - ((local%day)+day)%day
	sec := int64(from*hour) + g.r.Int64N(int64((to-from)*hour))
	return d + sec - off
}

// evening places t at a plausible hour for leisure activity (weighted
// towards the evening).
func (g *gen) evening(t int64) int64 {
	switch g.r.IntN(10) {
	case 0, 1:
		return g.localTime(t, 7, 12)
	case 2, 3, 4:
		return g.localTime(t, 12, 18)
	case 5, 6, 7, 8:
		return g.localTime(t, 18, 23)
	}
	return g.localTime(t, 23, 24)
}

// seq formats a human-looking reference like "ORD-2025-004211".
func seq(prefix string, year, n int) string {
	return prefix + "-" + strconv.Itoa(year) + "-" + fmt.Sprintf("%06d", n)
}
