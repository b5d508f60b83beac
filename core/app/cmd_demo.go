package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/demo"
)

func cmdDemo(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "demo", "[flags]", "Fill the database with deterministic, realistic demo data for a D2C shop, a bank and a game.\n"+
		"Running it twice stores nothing twice. Scales from a few hundred customers to 1,000,000 customers\n"+
		"and 10,000,000 interactions.")
	industry := f.String("industry", "all", "d2c, bank, game or all")
	customers := f.Int("customers", 300, "customers per industry")
	interactions := f.Int("interactions", 0, "interactions per industry (0: about ten per customer)")
	seed := f.Int64("seed", 1, "random seed; the same seed gives the same data")
	end := f.String("end", "", "last day of the history, YYYY-MM-DD (default: now, so the current period has data)")
	if err := f.parse(args); err != nil {
		return err
	}
	endDay := demoEnd()
	if *end != "" {
		t, err := time.Parse(time.DateOnly, *end)
		if err != nil {
			return usageError{fmt.Sprintf("--end %q: expected YYYY-MM-DD", *end)}
		}
		endDay = t.AddDate(0, 0, 1)
	}
	inds, err := parseIndustries(*industry)
	if err != nil {
		return usageError{err.Error()}
	}
	if *customers < 1 || *customers > 1_000_000 {
		return usageError{"--customers must be between 1 and 1000000"}
	}
	if *interactions < 0 || *interactions > 10_000_000 {
		return usageError{"--interactions must be between 0 and 10000000"}
	}
	a, err := f.openStoreOnly(ctx, env)
	if err != nil {
		return err
	}
	defer a.Store.Close()
	bulkLoad()
	svc := core.NewService(a.Store, nil, a.Cfg.Business.DefaultCallingCode)
	for _, ind := range inds {
		o := demo.Options{Industry: ind, Customers: *customers, Interactions: *interactions, Seed: *seed,
			End: endDay, Currency: a.Cfg.Business.Currency}
		if err := loadDemo(ctx, svc, o, env.Stderr); err != nil {
			return err
		}
	}
	return nil
}

func parseIndustries(s string) ([]demo.Industry, error) {
	switch s {
	case "all":
		return []demo.Industry{"d2c", "bank", "game"}, nil
	case "d2c", "bank", "game":
		return []demo.Industry{demo.Industry(s)}, nil
	}
	return nil, fmt.Errorf("--industry %q: expected d2c, bank, game or all", s)
}

// loadDemo streams one industry's demo data into the store through the
// service, so demo data passes the same validation as any other input.
func loadDemo(ctx context.Context, svc *core.Service, o demo.Options, progress io.Writer) error {
	start := time.Now()
	ids := map[string]core.ID{}
	var nc, ni, dup int
	pending := make([]core.Interaction, 0, core.MaxBatch)
	// One batch is written while the generator fills the next, so the two
	// cores overlap generation with the store's commit.
	var inflight chan error
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		return err
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := wait(); err != nil {
			return err
		}
		batch := pending
		pending = make([]core.Interaction, 0, core.MaxBatch)
		inflight = make(chan error, 1)
		go func(done chan<- error) {
			res, err := svc.AppendInteractions(ctx, batch)
			for _, r := range res {
				if r.Duplicate {
					dup++ // read only after wait(), which orders it
				}
			}
			done <- err
		}(inflight)
		ni += len(batch)
		if isTerminal(progress) {
			fmt.Fprintf(progress, "\rdemo %s: %d customers, %d interactions", o.Industry, nc, ni)
		}
		return nil
	}
	err := demo.Generate(ctx, o,
		func(cs []core.Customer) error {
			for i := 0; i < len(cs); i += core.MaxBatch {
				batch := cs[i:min(i+core.MaxBatch, len(cs))]
				out, _, err := svc.UpsertCustomers(ctx, batch, "demo")
				if err != nil {
					return err
				}
				for _, c := range out {
					ids[c.ExternalID] = c.ID
				}
				nc += len(out)
			}
			return nil
		},
		func(evs []demo.Event) error {
			for _, ev := range evs {
				id, ok := ids[strings.TrimSpace(ev.CustomerExternalID)]
				if !ok {
					return fmt.Errorf("demo: event for unknown customer %q", ev.CustomerExternalID)
				}
				in := ev.Interaction
				in.CustomerID = id
				pending = append(pending, in)
				if len(pending) == core.MaxBatch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return nil
		})
	if err == nil {
		err = flush()
	}
	if werr := wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	el := time.Since(start)
	if isTerminal(progress) {
		fmt.Fprint(progress, "\r")
	}
	fmt.Fprintf(progress, "demo %s: %d customers, %d interactions (%d already there) in %s (%.0f interactions/s)\n",
		o.Industry, nc, ni, dup, el.Round(time.Millisecond), float64(ni)/el.Seconds())
	return nil
}

// demoOptions is what `retain serve --demo` loads: a few hundred customers
// per industry, enough to explore every page. Money is in the business's
// currency (the analytics count that currency only) and the history ends
// today, so the dashboard's current period is not empty.
func demoOptions(ind demo.Industry, currency string) demo.Options {
	return demo.Options{Industry: ind, Customers: 300, Seed: 1, End: demoEnd(), Currency: currency}
}

// today is the start of the next UTC day: demo histories end "now".
func demoEnd() time.Time { return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1) }
