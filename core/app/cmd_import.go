package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/importer"
)

func cmdImport(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "import", "--kind customers|interactions [flags] FILE",
		"Import customers or interactions from a CSV, JSONL or whitespace-separated file (gzip is read as is).\n"+
			"Columns are guessed from common header names; a mapping file (see docs/import.md) says the rest.\n"+
			"Importing a file again, or after an interrupted run, stores nothing twice.\n"+
			"The search index catches up while the import runs.")
	kind := f.String("kind", "", "customers or interactions (required)")
	mappingPath := f.String("mapping", "", "mapping file (TOML)")
	dryRun := f.Bool("dry-run", false, "show the first rows as they would be stored and the first errors; store nothing")
	rejectedPath := f.String("rejected", "", "write rejected rows with their line and reason to this CSV file")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usageError{"expected one FILE"}
	}
	k := core.ImportKind(*kind)
	if k != core.ImportCustomers && k != core.ImportInteractions {
		return usageError{"--kind must be customers or interactions"}
	}
	opts := importer.Options{Kind: k}
	if *mappingPath != "" {
		b, err := os.ReadFile(*mappingPath)
		if err != nil {
			return err
		}
		m, err := importer.ParseMapping(string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", *mappingPath, err)
		}
		opts.Mapping = m
	}
	file, err := os.Open(f.Arg(0))
	if err != nil {
		return err
	}
	defer file.Close()
	if st, err := file.Stat(); err == nil {
		opts.Size = st.Size()
	}

	if *dryRun {
		cfg, err := f.config(env)
		if err != nil {
			return err
		}
		opts.Currency, opts.TimeZone = cfg.Business.Currency, cfg.Business.TimeZone
		svc := core.NewService(nil, nil, cfg.Business.DefaultCallingCode)
		p, err := importer.DryRun(ctx, svc, file, opts, 0)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(p)
	}

	a, err := f.openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	opts.Currency, opts.TimeZone, opts.BatchSize = a.Cfg.Business.Currency, a.Cfg.Business.TimeZone, a.Cfg.Import.BatchSize
	if *rejectedPath != "" {
		rf, err := os.Create(*rejectedPath)
		if err != nil {
			return err
		}
		defer rf.Close()
		opts.Rejected = rf
	}
	bulkLoad()
	bar := newProgressBar(env.Stderr)
	opts.Progress = bar.update

	// The indexer tails the change log while rows arrive, so search is
	// ready when the import ends (and a crash mid-way is caught up later).
	ictx, stopIndex := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Index.Run(ictx); err != nil && ictx.Err() == nil {
			a.Log.Error("search indexer stopped", "err", err)
		}
	}()
	start := time.Now()
	res, err := importer.Import(ctx, importer.ForService(a.Service), file, opts)
	bar.done()
	stopIndex()
	wg.Wait()
	if err != nil {
		return err
	}
	if err := a.Index.CatchUp(ctx); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	el := time.Since(start)
	fmt.Fprintf(env.Stdout, "imported %s in %s: %d rows, %d stored, %d already there, %d rejected",
		f.Arg(0), el.Round(time.Millisecond), res.Rows, res.Stored, res.Duplicates, res.Rejected)
	if k == core.ImportInteractions {
		fmt.Fprintf(env.Stdout, ", %d customers created", res.CustomersCreated)
	}
	fmt.Fprintln(env.Stdout)
	for i, e := range res.Errors {
		if i == 10 {
			fmt.Fprintf(env.Stdout, "  … %d more rejected rows (use --rejected FILE to get them all)\n", res.Rejected-10)
			break
		}
		field := ""
		if e.Field != "" {
			field = " " + e.Field + ":"
		}
		fmt.Fprintf(env.Stdout, "  line %d:%s %s\n", e.Line, field, e.Reason)
	}
	return nil
}

func cmdExport(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "export", "--kind customers|interactions [flags]",
		"Export customers or interactions as CSV (cells that a spreadsheet would run as formulas are\n"+
			"neutralized) or JSONL. Exported customers import back as they are.")
	kind := f.String("kind", "customers", "customers or interactions")
	format := f.String("format", "csv", "csv or jsonl")
	out := f.String("out", "-", "output file (- for standard output)")
	if err := f.parse(args); err != nil {
		return err
	}
	if *format != importer.FormatCSV && *format != importer.FormatJSONL {
		return usageError{"--format must be csv or jsonl"}
	}
	a, err := f.openStoreOnly(ctx, env)
	if err != nil {
		return err
	}
	defer a.Store.Close()
	w, closeOut, err := createOutput(env, *out)
	if err != nil {
		return err
	}
	var n int
	switch core.ImportKind(*kind) {
	case core.ImportCustomers:
		n, err = importer.ExportCustomers(ctx, a.Store, w, *format)
	case core.ImportInteractions:
		n, err = importer.ExportInteractions(ctx, a.Store, w, *format)
	default:
		err = usageError{"--kind must be customers or interactions"}
	}
	if cerr := closeOut(err == nil); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "exported %d %s\n", n, *kind)
	return nil
}

// progressBar draws one line on a terminal; elsewhere it stays silent so
// logs and pipes get only the summary.
type progressBar struct {
	w     io.Writer
	tty   bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w), start: time.Now()}
}

func (b *progressBar) update(p importer.Progress) {
	if !b.tty || time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	const width = 30
	frac := 0.0
	if p.BytesTotal > 0 {
		frac = min(1, float64(p.BytesRead)/float64(p.BytesTotal))
	}
	fill := int(frac * width)
	rate := float64(p.Rows) / max(time.Since(b.start).Seconds(), 0.001)
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%  %d rows  %d stored  %d rejected  %.0f rows/s ",
		strings.Repeat("#", fill), strings.Repeat(" ", width-fill), frac*100, p.Rows, p.Stored, p.Rejected, rate)
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
