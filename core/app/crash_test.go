package app_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/search"
	"github.com/retain-crm/retain/store"
)

// repoRoot is the module root, two folders up from core/app.
var repoRoot, _ = filepath.Abs(filepath.Join("..", ".."))

func dataset(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(repoRoot, "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("dataset %s not found (expected ../shared/data beside the repository): %v", rel, err)
	}
	return p
}

// buildBinary compiles the real retain binary once per test run.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "retain")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type snapshot struct {
	customers, interactions int
	keys                    []string // every interaction's idempotency key, sorted
	docs                    uint64   // search documents once caught up
}

// inspect opens a data folder the way the server would, lets the index catch
// up, and checks the database's consistency.
func inspect(t *testing.T, dir string) snapshot {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "retain.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, e := range st.Check(ctx) {
		t.Errorf("store check %s: %v", dir, e)
	}
	var s snapshot
	if s.customers, err = st.CountCustomers(ctx); err != nil {
		t.Fatal(err)
	}
	if s.interactions, err = st.CountInteractions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.ScanAllInteractions(ctx, func(in core.Interaction) error {
		s.keys = append(s.keys, in.IdempotencyKey)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.keys)
	ix, err := search.Open(ctx, filepath.Join(dir, "index"), st, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	status, err := ix.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.Lag != 0 {
		t.Errorf("index lag %d after catching up", status.Lag)
	}
	s.docs = status.Documents
	return s
}

// TestCrashDuringImport kills the real binary with SIGKILL at random points
// of a large import, several times, then lets it finish, and compares the
// result with an import that was never interrupted: the same customers,
// the same interactions (by idempotency key), the same search documents,
// and a clean consistency check.
func TestCrashDuringImport(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds the binary and imports 541,909 rows; skipped with -short")
	}
	file := dataset(t, "online_retail/online_retail.csv.gz")
	mapping := filepath.Join(repoRoot, "core", "importer", "testdata", "online_retail.toml")
	bin := buildBinary(t)
	run := func(dir string) *exec.Cmd {
		cmd := exec.Command(bin, "import", "--data", dir, "--kind", "interactions", "--mapping", mapping, file)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		return cmd
	}

	clean := filepath.Join(t.TempDir(), "clean")
	if out, err := run(clean).CombinedOutput(); err != nil {
		t.Fatalf("clean import: %v\n%s", err, out)
	}
	want := inspect(t, clean)
	if want.interactions < 20000 || want.customers < 4000 {
		t.Fatalf("clean import stored too little: %+v customers/interactions", want)
	}

	crashed := filepath.Join(t.TempDir(), "crashed")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	for i := 0; i < 4; i++ {
		cmd := run(crashed)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(300+rng.IntN(2500)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-time.After(delay):
			if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
				kills++
			}
			<-done
		case err := <-done:
			t.Logf("run %d finished before the kill at %s (err %v)", i, delay, err)
		}
	}
	t.Logf("killed the import %d times", kills)
	if out, err := run(crashed).CombinedOutput(); err != nil {
		t.Fatalf("final import: %v\n%s", err, out)
	}
	got := inspect(t, crashed)
	if got.customers != want.customers || got.interactions != want.interactions || got.docs != want.docs {
		t.Errorf("after %d kills: %d customers, %d interactions, %d documents; uninterrupted import: %d, %d, %d",
			kills, got.customers, got.interactions, got.docs, want.customers, want.interactions, want.docs)
	}
	if !slices.Equal(got.keys, want.keys) {
		t.Errorf("the interrupted import stored a different set of interactions")
	}
}
