package sms

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retain-crm/retain/plugins/sdk/sdktest"
)

// BenchmarkSendThroughput: Send through the SDK's gRPC shims (sdktest, in
// process) with the default JSON template to a loopback gateway answering
// a JSON id, from parallel callers. Reported as messages per second.
func BenchmarkSendThroughput(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"messages":[{"id":"gw"}]}`)
	}))
	defer srv.Close()
	h := sdktest.Start(b, New(), json.RawMessage(`{"url":"`+srv.URL+`/send","provider_id_json_path":"messages.0.id","max_segments":3}`))
	var n atomic.Int64
	b.SetParallelism(8)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := sms("", "+4915112345678", "Your order has shipped. Track it at https://shop.example/t/123 — reply STOP to opt out.")
		for pb.Next() {
			m.IdempotencyKey = "bench:" + strconv.FormatInt(n.Add(1), 10)
			if _, err := h.Channel.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "msgs/s")
}
