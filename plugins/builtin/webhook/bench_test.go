package webhook

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retain-crm/retain/plugins/sdk"
	"github.com/retain-crm/retain/plugins/sdk/sdktest"
)

// BenchmarkSendThroughput: Send through the SDK's gRPC shims (sdktest, in
// process) to a receiver on loopback that reads the body and answers 200,
// from parallel callers like the outbox's delivery workers. Reported as
// messages per second.
func BenchmarkSendThroughput(b *testing.B) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"id":"ok"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h := sdktest.Start(b, New(), cfg(srv.URL+"/hook", ""))
	direct := New().(*Plugin)
	if err := direct.Configure(context.Background(), cfg(srv.URL+"/hook", ""), nil); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		send func(context.Context, *sdk.Message) (string, error)
	}{
		{"sdktest-grpc", h.Channel.Send}, // what the host's call costs, minus the process boundary
		{"direct", direct.Send},          // the HTTP part alone
	} {
		base := conns.Load()
		b.Run(bc.name, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(8) // 8 × GOMAXPROCS callers
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				m := message("")
				for pb.Next() {
					m.IdempotencyKey = "bench:" + strconv.FormatInt(n.Add(1), 10)
					if _, err := bc.send(context.Background(), m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "msgs/s")
			// Connections this plugin opened over all rounds: with
			// keep-alive about one per caller, not one per message.
			b.ReportMetric(float64(conns.Load()-base), "conns")
		})
	}
}
