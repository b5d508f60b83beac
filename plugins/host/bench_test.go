package host_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/plugins/host"
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
