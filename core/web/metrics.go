package web

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v5"
)

// requestMetrics counts requests by method, route pattern and status and
// keeps a duration histogram per method and route. Label values come from
// the route table (or "unmatched"), so the series count stays bounded.
type requestMetrics struct {
	set *metrics.Set
	mu  sync.Mutex
	// cache avoids formatting the series name on every request.
	counters  map[string]*metrics.Counter
	durations map[string]*metrics.PrometheusHistogram
}

func newRequestMetrics(set *metrics.Set) requestMetrics {
	return requestMetrics{set: set, counters: map[string]*metrics.Counter{}, durations: map[string]*metrics.PrometheusHistogram{}}
}

func (m *requestMetrics) observe(method, route string, status int, d time.Duration) {
	ck := method + " " + route + " " + strconv.Itoa(status)
	hk := method + " " + route
	m.mu.Lock()
	c, ok := m.counters[ck]
	if !ok {
		c = m.set.GetOrCreateCounter(fmt.Sprintf(`retain_http_requests_total{method=%q,route=%q,status="%d"}`, method, route, status))
		m.counters[ck] = c
	}
	h, ok := m.durations[hk]
	if !ok {
		h = m.set.GetOrCreatePrometheusHistogram(fmt.Sprintf(`retain_http_request_duration_seconds{method=%q,route=%q}`, method, route))
		m.durations[hk] = h
	}
	m.mu.Unlock()
	c.Inc()
	h.Update(d.Seconds())
}

// metricsHandler serves the Prometheus text format: request metrics, store
// and index gauges read at scrape time, and process metrics. It exists only
// when metrics are enabled, and answers loopback peers only unless
// AllowRemote. A request forwarded by a proxy on this machine has a loopback
// peer but comes from elsewhere: it counts as local only when the client
// address (through trusted proxies) is loopback too.
func (s *Server) metricsHandler(c *echo.Context) error {
	if !s.cfg.Metrics.Enabled {
		return errNoRoute
	}
	if !s.cfg.Metrics.AllowRemote && !s.localRequest(c) {
		return forbidden("metrics are served to loopback clients only (metrics.allow_remote)")
	}
	w := c.Response()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	s.metrics.WritePrometheus(w)
	s.writeStateGauges(c, w)
	metrics.WriteProcessMetrics(w)
	return nil
}

func (s *Server) writeStateGauges(c *echo.Context, w io.Writer) {
	if st, err := s.store.Stats(ctx(c)); err == nil {
		metrics.WriteGaugeUint64(w, "retain_store_size_bytes", uint64(max(st.SizeBytes, 0)))
		metrics.WriteGaugeUint64(w, "retain_store_last_change", st.LastChange)
		metrics.WriteGaugeUint64(w, "retain_store_writable", b2u(st.Writable))
	} else {
		s.log.Warn("metrics: store stats", "error", err)
	}
	if s.svc.Index != nil {
		if ix, err := s.svc.Index.Status(ctx(c)); err == nil {
			metrics.WriteGaugeUint64(w, "retain_index_watermark", ix.Watermark)
			metrics.WriteGaugeUint64(w, "retain_index_lag", ix.Lag)
			metrics.WriteGaugeUint64(w, "retain_index_documents", ix.Documents)
		} else {
			s.log.Warn("metrics: index status", "error", err)
		}
	}
	metrics.WriteGaugeFloat64(w, "retain_uptime_seconds", s.now().Sub(s.started).Seconds())
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// localRequest: the peer is loopback and, if a proxy forwarded the
// request, the client it names (trusted proxies only) is loopback too.
func (s *Server) localRequest(c *echo.Context) bool {
	req := c.Request()
	if !isLoopback(req.RemoteAddr) {
		return false
	}
	h := req.Header
	if h.Get("X-Forwarded-For") == "" && h.Get("Forwarded") == "" && h.Get("X-Real-Ip") == "" {
		return true
	}
	if len(s.cfg.Server.TrustedProxies) == 0 {
		return false // forwarded by something we were not told about
	}
	ip := net.ParseIP(c.RealIP())
	return ip != nil && ip.IsLoopback() && h.Get("Forwarded") == "" && h.Get("X-Real-Ip") == ""
}

// isLoopback reports whether a RemoteAddr (host:port) is a loopback address.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
