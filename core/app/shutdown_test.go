package app_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/retain-crm/retain/store"
)

// startServe runs `retain serve` on a free loopback port and returns its
// base URL once it accepts connections.
func startServe(t *testing.T, bin, dir string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	urlc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`url=(http://[0-9.:]+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case u := <-urlc:
		return cmd, u, logs
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server did not start:\n%s", logs)
	}
	return nil, "", nil
}

// TestGracefulShutdownKeepsAcknowledgedWrites sends customers to the real
// server from several clients, sends SIGTERM in the middle, and checks that
// every customer the server acknowledged (201) is in the database after it
// exits — and that it exits cleanly.
func TestGracefulShutdownKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "token", "create", "--data", dir, "--name", "test", "--scopes", "customers:write").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	cmd, base, logs := startServe(t, bin, dir)

	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ext := fmt.Sprintf("w%d-%d", w, i)
				body := fmt.Sprintf(`{"external_id":%q,"name":"Shutdown Test %d"}`, ext, i)
				req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/customers", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // the server has closed its listener
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					acked[ext] = true
					mu.Unlock()
				} else if resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("POST customer: %s", resp.Status)
					return
				}
			}
		}(w)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatalf("serve exited with %v after SIGTERM\n%s", werr, logs)
	}
	if len(acked) < 10 {
		t.Fatalf("only %d writes were acknowledged before shutdown", len(acked))
	}

	st, err := store.Open(context.Background(), filepath.Join(dir, "retain.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for ext := range acked {
		if _, err := st.GetCustomerByExternalID(context.Background(), ext); err != nil {
			t.Errorf("acknowledged customer %s is missing: %v", ext, err)
		}
	}
	t.Logf("%d acknowledged writes all present after SIGTERM", len(acked))
}
