package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
)

// TestAcknowledgedWritesSurviveSIGKILL runs a writer in a child process,
// kills it with SIGKILL mid-stream and checks that every batch the child
// acknowledged is in the reopened file, which passes Check.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterChild$")
	cmd.Env = append(os.Environ(), "RETAIN_CRASH_CHILD_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() && acked < 15 {
		if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked, _ = strconv.Atoi(n)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if acked == 0 {
		t.Fatal("child acknowledged nothing")
	}
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, err := range db.Check(context.Background()) {
		t.Errorf("check after SIGKILL: %v", err)
	}
	n, _ := db.CountInteractions(context.Background())
	if n < acked*100 {
		t.Errorf("%d interactions after SIGKILL, %d acknowledged", n, acked*100)
	}
	c, err := db.GetCustomerByExternalID(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := db.Timeline(context.Background(), c.ID, core.TimelineQuery{Limit: 1}); len(p.Items) != 1 {
		t.Error("timeline empty")
	}
}

// TestCrashWriterChild is the child of the test above; it does nothing
// unless started by it.
func TestCrashWriterChild(t *testing.T) {
	path := os.Getenv("RETAIN_CRASH_CHILD_DB")
	if path == "" {
		t.Skip("child process of TestAcknowledgedWritesSurviveSIGKILL")
	}
	ctx := context.Background()
	db, err := Open(ctx, path, Options{}) // durable: the point of the test
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	c, err := db.CreateCustomer(ctx, core.Customer{ExternalID: "c"})
	if err != nil {
		os.Exit(1)
	}
	for round := 1; ; round++ {
		batch := make([]core.Interaction, 100)
		for i := range batch {
			batch[i] = core.Interaction{CustomerID: c.ID, Type: "note", Time: t0.Add(time.Duration(round*100+i) * time.Second),
				IdempotencyKey: fmt.Sprintf("%d-%d", round, i), Text: strings.Repeat("x", 200)}
		}
		if _, err := db.AppendInteractions(ctx, batch); err != nil {
			os.Exit(1)
		}
		fmt.Printf("acked %d\n", round) // only after the commit (and fsync) returned
	}
}
