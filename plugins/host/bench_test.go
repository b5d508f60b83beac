package host_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/store"
)

// BenchmarkSendRoundTrip: one Send through the host to the echo plugin
// process and back (gRPC over a Unix socket with mTLS), p50/p99 per call,
// and the plugin process's resident memory.
func BenchmarkSendRoundTrip(b *testing.B) {
	h, _ := startHost(b, host.Options{Specs: []host.Spec{pinnedSpec(b, "echo", bins.echo)}})
	st := waitFor(b, "start", h, "echo", running)
	ctx := context.Background()
	m := msg("k", "subject")
	m.Text = strings.Repeat("body ", 200) // a ~1 KB message
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.IdempotencyKey = strconv.Itoa(i)
		t0 := time.Now()
		if _, err := h.Send(ctx, "echo", m); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(rssMB(b, st.PID), "plugin-RSS-MB")
}

func rssMB(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

var _ = core.PluginRunning

// BenchmarkPackEvents: interactions appended to a real store reach the
// test pack process as events and its actions (three per event) come
// back to the host: events per second through the dispatcher, from the
// append to the last action. The action applier here only counts (core/app's
// applies them to the store; its cost is the store's).
func BenchmarkPackEvents(b *testing.B) {
	ctx := context.Background()
	db, ann := packStore(b, store.Options{NoSync: true})
	var applied atomic.Int64
	cfg := testConfig()
	cfg.EventPollInterval, cfg.TickInterval = 5*time.Millisecond, time.Hour
	startPack(b, db, ann, cfg, func(_ context.Context, _ string, a []*sdk.Action) ([]bool, error) {
		applied.Add(int64(len(a)))
		return make([]bool, len(a)), nil
	}, grantsFunc(sdk.CapActions, sdk.CapTimeline))
	const batch = 1000
	ins := make([]core.Interaction, batch)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range ins {
			ins[i] = core.Interaction{CustomerID: ann.ID, Type: core.TypePurchase, Time: time.Now().UTC(), Amount: int64(i), Currency: "USD"}
		}
		want := applied.Load() + 3*batch
		b.StartTimer()
		if _, err := db.AppendInteractions(ctx, ins); err != nil {
			b.Fatal(err)
		}
		for applied.Load() < want {
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
