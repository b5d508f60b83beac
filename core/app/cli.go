package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/plugins/builtin"
)

// command is one subcommand of the retain binary.
type command struct {
	name, args, summary string
	hidden              bool
	run                 func(ctx context.Context, env *Env, args []string) error
}

// Env is what a command reads and writes besides its arguments; tests
// replace it to run commands in process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Environ        []string
}

// usageError makes Main print the command's usage and exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func commands() []command {
	return []command{
		{name: "serve", args: "[flags]", summary: "run the web UI, API and background workers", run: cmdServe},
		{name: "import", args: "[flags] FILE", summary: "import customers or interactions from CSV or JSONL", run: cmdImport},
		{name: "export", args: "[flags]", summary: "export customers or interactions as CSV or JSONL", run: cmdExport},
		{name: "backup", args: "[flags] FILE", summary: "write a consistent copy of the database to FILE", run: cmdBackup},
		{name: "restore", args: "[flags] FILE", summary: "replace the database with a backup (server stopped)", run: cmdRestore},
		{name: "reindex", args: "[flags]", summary: "rebuild the search index from the database", run: cmdReindex},
		{name: "demo", args: "[flags]", summary: "fill the database with realistic demo data", run: cmdDemo},
		{name: "user", args: "add|list|disable|enable|passwd [flags]", summary: "manage staff accounts", run: cmdUser},
		{name: "token", args: "create|list|revoke [flags]", summary: "manage API tokens", run: cmdToken},
		{name: "analytics", args: "metrics|cohorts|dayn|rfm|model|predict|at-risk|dashboard [flags]", summary: "print retention metrics, cohorts, RFM and predictions as JSON", run: cmdAnalytics},
		{name: "segments", args: "list|show ID|count RULE|export ID [flags]", summary: "saved segments: list, show, count a rule, export members as CSV", run: cmdSegments},
		{name: "version", summary: "print the version", run: cmdVersion},
		{name: "plugin", args: "pin FILE...", summary: "print the plugins.pinned line for third-party plugin executables", run: cmdPlugin},
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, env *Env) int {
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		printUsage(env.Stderr)
		if len(args) < 2 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[1] {
			continue
		}
		err := c.run(ctx, env, args[2:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(env.Stderr, "retain %s: %s\nusage: retain %s %s\nrun 'retain %s --help' for the flags\n", c.name, ue.msg, c.name, c.args, c.name)
			return 2
		}
		fmt.Fprintf(env.Stderr, "retain %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(env.Stderr, "retain: unknown command %q\n\n", args[1])
	printUsage(env.Stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "retain — a self-hosted customer-retention CRM\n\nusage: retain COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE (or RETAIN_CONFIG) and --help.")
}

// flags builds a FlagSet with the options every command shares: the config
// file and the data folder.
type flags struct {
	*flag.FlagSet
	configPath *string
	dataDir    *string
	sets       map[string]*string // config key -> flag value, applied after loading
}

func newFlags(env *Env, name, args, summary string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	f := &flags{FlagSet: fs, sets: map[string]*string{}}
	f.configPath = fs.String("config", lookupEnv(env.Environ, "RETAIN_CONFIG"), "configuration file (TOML); see config.example.toml")
	f.dataDir = fs.String("data", "", "data folder (overrides storage.data_dir)")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: retain %s %s\n\n%s\n\nflags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return f
}

// configFlag adds a flag that overrides a config key.
func (f *flags) configFlag(name, key, usage string) {
	f.sets[key] = f.String(name, "", usage+" (overrides "+key+")")
}

func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// config loads the configuration: defaults, file, environment, then flags.
func (f *flags) config(env *Env) (config.Config, error) {
	cfg, err := config.Load(*f.configPath, env.Environ)
	if err != nil {
		return cfg, err
	}
	if *f.dataDir != "" {
		cfg.Storage.DataDir = *f.dataDir
	}
	keys := make([]string, 0, len(f.sets))
	for k := range f.sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := *f.sets[k]; v != "" {
			if err := cfg.Set(k, v); err != nil {
				return cfg, fmt.Errorf("flag: %w", err)
			}
		}
	}
	return cfg, cfg.Validate()
}

func lookupEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// openApp loads the config and opens the store and index.
func (f *flags) openApp(ctx context.Context, env *Env) (*App, error) {
	cfg, err := f.config(env)
	if err != nil {
		return nil, err
	}
	return Open(ctx, cfg, NewLogger(cfg, env.Stderr))
}

// cmdPlugin serves a built-in plugin: the plugin host starts the binary
// again as `retain plugin serve NAME` (with go-plugin's handshake in the
// environment), so each built-in runs in its own process.
// cmdPlugin: `plugin pin FILE...` prints the pins to paste into
// config.toml; `plugin serve NAME` is how the host starts a built-in (not
// listed: nobody types it).
func cmdPlugin(_ context.Context, env *Env, args []string) error {
	switch {
	case len(args) == 2 && args[0] == "serve":
		return builtin.Serve(args[1])
	case len(args) >= 2 && args[0] == "pin":
		var pins []string
		for _, f := range args[1:] {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			pins = append(pins, fmt.Sprintf("%q = %q", filepath.Base(f), hex.EncodeToString(sum[:])))
		}
		fmt.Fprintf(env.Stdout, "# in [plugins] of config.toml (each file must be in plugins.dir under this name):\npinned = { %s }\n",
			strings.Join(pins, ", "))
		return nil
	}
	return usageError{"expected: pin FILE..."}
}

// bulkLoad trades memory for speed in the bulk commands (import, demo):
// batches of 10,000 records allocate a lot of short-lived garbage, and a
// rarer GC measured 5–15% more interactions/s (docs/PERFORMANCE.md).
func bulkLoad() { debug.SetGCPercent(400) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func cmdVersion(_ context.Context, env *Env, args []string) error {
	f := newFlags(env, "version", "", "Print the version.")
	if err := f.parse(args); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "retain", Version)
	return nil
}
