package web_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core/config"
)

// Benchmarks of whole requests through the handler (routing, auth with a
// store lookup, strict decoding, the service, bbolt with fsync off, JSON
// encoding, logging and metrics); no network.

func benchApp(b *testing.B) *app {
	return newApp(b, func(c *config.Config) { c.Server.MaxBodyBytes = config.Default().Server.MaxBodyBytes })
}

func BenchmarkGetCustomer(b *testing.B) {
	a := benchApp(b)
	url := a.expand("/api/v1/customers/{ann}")
	for b.Loop() {
		if rec := a.do("GET", url, "reader", nil, nil); rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkCreateCustomer(b *testing.B) {
	a := benchApp(b)
	i := 0
	for b.Loop() {
		i++
		body := fmt.Sprintf(`{"external_id":"b-%d","name":"Bench %d","emails":["b%d@example.com"],"tags":["bench"]}`, i, i, i)
		if rec := a.do("POST", "/api/v1/customers", "writer", strings.NewReader(body), nil); rec.Code != 201 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}

func BenchmarkBatch1000(b *testing.B) {
	a := benchApp(b)
	n := 0
	for b.Loop() {
		n++
		body := batchOf(1000, fmt.Sprintf(`{"customer_external_id":"c-2","type":"page_view","idempotency_key":"pv-%d-#","properties":{"path":"/p/#"}}`, n))
		if rec := a.do("POST", "/api/v1/interactions/batch", "writer", strings.NewReader(body), nil); rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "interactions/s")
}

func BenchmarkSearch(b *testing.B) {
	a := benchApp(b)
	for b.Loop() {
		if rec := a.do("GET", "/api/v1/search?q=tea", "search", nil, nil); rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkNotFound(b *testing.B) {
	a := benchApp(b)
	for b.Loop() {
		rec := httptest.NewRecorder()
		a.h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
	}
}
