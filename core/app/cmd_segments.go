package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/segments"
)

// startSegments runs the segment maintainer beside the server: it follows
// the change log and the analytics engine (facts may be nil) until ctx ends.
func (a *App) startSegments(ctx context.Context, facts segments.FactSource, wg *sync.WaitGroup) *segments.Maintainer {
	m := segments.New(a.Store, facts, segments.Options{Location: a.Cfg.Location(), Logger: a.Log.With("component", "segments")})
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.Run(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error("segment maintainer stopped", "err", err)
		}
	}()
	return m
}

// cmdSegments: retain segments list|show ID|count RULE|export ID.
// count builds the analytics engine from the store first (like retain
// analytics does), so behaviour conditions see every event, and fits the
// models when the rule asks for predictions; list and export read the
// membership the server keeps current.
func cmdSegments(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing subcommand (list, show, count or export)"}
	}
	sub, rest := args[0], args[1:]
	f := newFlags(env, "segments "+sub, "[flags]", "Saved segments: list them, show one, count a rule, export members as CSV.")
	out := f.String("o", "-", "export: write the CSV to this file (- for standard output)")
	if err := f.parse(rest); err != nil {
		return err
	}
	cfg, err := f.config(env)
	if err != nil {
		return err
	}
	a, err := Open(ctx, cfg, NewLogger(cfg, env.Stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	m := segments.New(a.Store, nil, segments.Options{Location: cfg.Location(), Logger: a.Log})
	argID := func() (core.ID, error) {
		if f.NArg() != 1 {
			return 0, usageError{"give one segment id"}
		}
		return core.ParseID(f.Arg(0))
	}
	switch sub {
	case "list":
		segs, err := a.Store.ListSegments(ctx)
		if err != nil {
			return err
		}
		if segs == nil {
			segs = []core.Segment{}
		}
		return enc.Encode(segs)
	case "show":
		id, err := argID()
		if err != nil {
			return err
		}
		s, err := a.Store.GetSegment(ctx, id)
		if err != nil {
			return err
		}
		return enc.Encode(s)
	case "count":
		if f.NArg() != 1 {
			return usageError{`give the rule as JSON, e.g. '{"tag":"vip"}'`}
		}
		r, err := core.ParseRule([]byte(f.Arg(0)))
		if err != nil {
			return err
		}
		if r.Needs().Facts {
			e, err := openAnalytics(ctx, cfg, a.Store, a.Log)
			if err != nil {
				return err
			}
			if err := e.CatchUp(ctx); err != nil {
				return fmt.Errorf("analytics: %w", err)
			}
			if r.Needs().Model {
				// Fit now: without a trusted model prediction rules match
				// nobody, and the answer says why on standard error.
				rep, err := e.Model(ctx)
				if err != nil {
					rep.Reason = err.Error()
				}
				if !rep.Trusted {
					fmt.Fprintf(env.Stderr, "no trusted model, prediction conditions match nobody: %s\n", rep.Reason)
				}
			}
			m = segments.New(a.Store, e, segments.Options{Location: cfg.Location(), Logger: a.Log})
		}
		// Load, not CatchUp: counting must not rewrite the stored
		// membership of saved segments (that is the server's job).
		if err := m.Load(ctx); err != nil {
			return err
		}
		pv, err := m.Preview(ctx, r, 10)
		if err != nil {
			return err
		}
		return enc.Encode(pv)
	case "export":
		id, err := argID()
		if err != nil {
			return err
		}
		var w io.Writer = env.Stdout
		if *out != "-" {
			fh, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer fh.Close()
			w = fh
		}
		n, err := m.ExportCSV(ctx, id, w)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "%d members exported\n", n)
		return nil
	}
	return usageError{fmt.Sprintf("unknown subcommand %q (list, show, count or export)", sub)}
}
