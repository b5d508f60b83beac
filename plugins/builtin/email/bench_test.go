package email_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/retain-crm/retain/plugins/builtin/email/emailtest"
)

// BenchmarkSend: messages through the plugin (in process, over real gRPC)
// to the loopback SMTP server, which parses every message's headers. The
// server, the plugin and the benchmark share the machine's cores, as in
// production on one host.
func BenchmarkSend(b *testing.B) {
	for _, tc := range []struct {
		conns, parallelism int
	}{{1, 1}, {4, 4}, {8, 8}} {
		b.Run(fmt.Sprintf("connections=%d/senders=%dxGOMAXPROCS", tc.conns, tc.parallelism), func(b *testing.B) {
			srv := emailtest.NewServer(b, emailtest.WithoutBodies())
			h := start(b, srv, map[string]any{"max_connections": tc.conns})
			var n atomic.Int64
			b.SetParallelism(tc.parallelism)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m := message(fmt.Sprintf("bench:%d", n.Add(1)))
					if _, err := h.Channel.Send(context.Background(), m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if srv.Count() != b.N {
				b.Errorf("server got %d of %d", srv.Count(), b.N)
			}
		})
	}
}
