package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/config"
	"github.com/retain-crm/retain/core/outbox"
	"github.com/retain-crm/retain/plugins/builtin/email/emailtest"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/store"
)

// Delivery throughput through the whole path: outbox in bbolt, delivery
// workers, the plugin host, the real built-in plugin as a subprocess of the
// real binary, and a real receiver on loopback (go-smtp, net/http). Each
// iteration delivers b.N messages; msgs/s is the figure of issue 4.
//
//	go test -run '^$' -bench Delivery -benchtime 20000x ./core/app/

func benchDelivery(b *testing.B, plugin string, conf map[string]any, delivered func() int) {
	bin := buildBinary(b)
	ctx := context.Background()
	dir := b.TempDir()
	n := b.N
	seedBench(b, dir, plugin, n, conf)
	st, err := store.Open(ctx, filepath.Join(dir, "retain.db"), store.Options{NoSync: os.Getenv("RETAIN_BENCH_NOSYNC") != ""})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := core.NewService(st, nil, "")
	pc := config.Default().Plugins
	pc.HealthInterval = time.Second
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := host.New(host.Options{Config: pc, Specs: []host.Spec{host.BuiltinSpec(bin, plugin)}, Logger: log, Data: svc, KV: st,
		PluginConfig: func(string) json.RawMessage { s, _ := st.GetPluginSettings(ctx, plugin); return s.Config }})
	if err != nil {
		b.Fatal(err)
	}
	h.Start(ctx)
	defer h.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for len(h.ChannelNames()) == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("plugin did not start: %+v", h.Statuses())
		}
		time.Sleep(10 * time.Millisecond)
	}
	oc := config.Default().Outbox
	oc.PollInterval = 10 * time.Millisecond
	box := outbox.New(outbox.Options{Config: oc, Service: svc, Channels: h, Plugins: h, Logger: log})
	b.ResetTimer()
	start := time.Now()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- box.Run(rctx) }()
	for {
		c, err := box.Counts(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if c.ByState[core.MessageSent] == n {
			break
		}
		if c.ByState[core.MessageFailed] > 0 {
			p, _ := box.List(ctx, core.OutboxQuery{State: core.MessageFailed, Limit: 1})
			b.Fatalf("a message failed: %+v", p.Items[0])
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("not done: %+v", c.ByState)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	<-done
	if delivered() < n {
		b.Fatalf("receiver has %d of %d", delivered(), n)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	if stt, ok := h.Status(plugin); ok && stt.PID > 0 {
		b.ReportMetric(rssMB(stt.PID), "plugin_rss_MB")
	}
}

// rssMB reads a process's resident set from /proc.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func seedBench(b *testing.B, dir, plugin string, n int, conf map[string]any) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "retain.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := core.NewService(st, nil, "")
	for lo := 0; lo < n; lo += 1000 {
		var cs []core.Customer
		for i := lo; i < min(n, lo+1000); i++ {
			cs = append(cs, core.Customer{ExternalID: fmt.Sprint("c", i), Emails: []string{fmt.Sprintf("c%d@example.com", i)}})
		}
		out, _, err := svc.UpsertCustomers(ctx, cs, "bench")
		if err != nil {
			b.Fatal(err)
		}
		box := outbox.New(outbox.Options{Config: config.Default().Outbox, Service: svc})
		var msgs []core.OutboxMessage
		for i, c := range out {
			msgs = append(msgs, core.OutboxMessage{Channel: plugin, CustomerID: c.ID, IdempotencyKey: fmt.Sprint("bench:", lo+i),
				Subject: "Your order has shipped", Text: strings.Repeat("Thank you for your order. ", 20)})
		}
		if _, _, err := box.EnqueueBatch(ctx, msgs, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	raw, _ := json.Marshal(conf)
	if err := st.PutPluginSettings(ctx, core.PluginSettings{Name: plugin, Config: raw}); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkDeliveryEmail(b *testing.B) {
	srv := emailtest.NewServer(b, emailtest.WithoutBodies())
	conf := srv.Config("shop@example.com")
	if v := os.Getenv("RETAIN_BENCH_SMTP_CONNS"); v != "" {
		conf["max_connections"], _ = strconv.Atoi(v)
	}
	benchDelivery(b, "email", conf, srv.Count)
}

func BenchmarkDeliveryWebhook(b *testing.B) {
	var got atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ts.Close()
	conf := map[string]any{"url": ts.URL + "/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	benchDelivery(b, "webhook", conf, func() int { return int(got.Load()) })
}
