package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/retain-crm/retain/store"
)

func cmdBackup(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "backup", "[flags] FILE", "Write a consistent copy of the database to FILE (- for standard output).\n"+
		"While `retain serve` runs, the database is locked: pass --server URL (and RETAIN_TOKEN with the admin scope)\n"+
		"to download the backup from the running server instead.")
	server := f.String("server", "", "base URL of a running retain server to download the backup from")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usageError{"expected one FILE"}
	}
	out, closeOut, err := createOutput(env, f.Arg(0))
	if err != nil {
		return err
	}
	var n int64
	if *server != "" {
		n, err = downloadBackup(ctx, *server, lookupEnv(env.Environ, "RETAIN_TOKEN"), out)
	} else {
		var a *App
		a, err = f.openStoreOnly(ctx, env)
		if err == nil {
			n, err = a.Store.Backup(ctx, out)
			a.Store.Close()
		}
	}
	if cerr := closeOut(err == nil); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "backup written: %d bytes\n", n)
	return nil
}

// createOutput opens FILE for writing through a temporary name, so a failed
// backup never leaves a truncated file that looks like a good one.
func createOutput(env *Env, path string) (io.Writer, func(ok bool) error, error) {
	if path == "-" {
		return env.Stdout, func(bool) error { return nil }, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".retain-backup-*")
	if err != nil {
		return nil, nil, err
	}
	return tmp, func(ok bool) error {
		if !ok {
			tmp.Close()
			return os.Remove(tmp.Name())
		}
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), path)
	}, nil
}

func downloadBackup(ctx context.Context, base, token string, w io.Writer) (int64, error) {
	if token == "" {
		return 0, fmt.Errorf("set RETAIN_TOKEN to an API token with the admin scope")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/admin/backup", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("server answered %s: %s", resp.Status, b)
	}
	return io.Copy(w, resp.Body)
}

func cmdRestore(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "restore", "[flags] FILE", "Replace the database with the backup FILE. Stop `retain serve` first.\n"+
		"The current database is kept beside it as retain.db.before-restore-<time>, and the search index is\n"+
		"rebuilt on the next start.")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usageError{"expected one FILE"}
	}
	cfg, err := f.config(env)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Storage.DataDir, 0o700); err != nil {
		return err
	}
	db := dbPath(cfg)
	if _, err := os.Stat(db); err == nil {
		keep := db + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := copyFile(db, keep); err != nil {
			return fmt.Errorf("keeping the current database: %w", err)
		}
		fmt.Fprintf(env.Stderr, "current database kept as %s\n", keep)
	}
	if err := store.Restore(ctx, f.Arg(0), db); err != nil {
		return err
	}
	// The index was derived from the old database; its watermark means
	// nothing now. Removing it makes the next start rebuild it.
	if err := os.RemoveAll(indexPath(cfg)); err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, "restored; the search index will be rebuilt when retain starts")
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func cmdReindex(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "reindex", "[flags]", "Rebuild the search index from the database (server stopped).")
	if err := f.parse(args); err != nil {
		return err
	}
	a, err := f.openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	start := time.Now()
	if err := a.Index.Rebuild(ctx); err != nil {
		return err
	}
	st, err := a.Index.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "index rebuilt: %d documents in %s\n", st.Documents, time.Since(start).Round(time.Millisecond))
	return nil
}

// openStoreOnly opens just the store (for commands that do not search).
func (f *flags) openStoreOnly(ctx context.Context, env *Env) (*App, error) {
	cfg, err := f.config(env)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Storage.DataDir, 0o700); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dbPath(cfg), store.Options{})
	if err != nil {
		return nil, err
	}
	return &App{Cfg: cfg, Log: NewLogger(cfg, env.Stderr), Store: st}, nil
}
