// Package metrics counts what a pier node does and serves it in the
// Prometheus text format on the admin listener (/metrics). The packages
// that do the work never import it: each declares the one or two methods
// it calls (sftpd.Observer, davd.Observer, an s3blob hook, a db hook),
// and Metrics has them all. A nil *Metrics counts nothing.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pier/membudget"
)

// Metrics is a node's set of metrics in a registry of its own.
type Metrics struct {
	reg            *prometheus.Registry
	transfers      *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	durations      *prometheus.HistogramVec
	sessions       *prometheus.GaugeVec
	authFailures   *prometheus.CounterVec
	refused        *prometheus.CounterVec
	storageReqs    *prometheus.CounterVec
	storageErrors  *prometheus.CounterVec
	storageLatency *prometheus.HistogramVec
	txRetries      prometheus.Counter
}

// New returns the metrics of a node, with Go's runtime and process
// metrics beside them.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pier_transfers_total",
		Help: "Finished uploads and downloads by protocol, direction and result (ok, failed)."},
		[]string{"protocol", "direction", "result"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pier_transfer_bytes_total",
		Help: "Bytes moved by finished transfers, by protocol and direction."}, []string{"protocol", "direction"})
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pier_transfer_duration_seconds",
		Help:    "Duration of finished transfers, by protocol and direction.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"protocol", "direction"})
	m.sessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pier_sessions_active",
		Help: "Sessions open now: SFTP connections logged in, WebDAV requests in progress."}, []string{"protocol"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pier_auth_failures_total",
		Help: "Logins refused, by protocol."}, []string{"protocol"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pier_connections_refused_total",
		Help: "Connections closed before login by the admission limits, by reason."}, []string{"reason"})
	m.storageReqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pier_storage_requests_total",
		Help: "Requests to the blob storage service, by operation."}, []string{"op"})
	m.storageErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pier_storage_errors_total",
		Help: "Failed requests to the blob storage service (errors and 5xx answers), by operation."}, []string{"op"})
	m.storageLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pier_storage_request_seconds",
		Help:    "Time to the answer's headers of blob storage requests, by operation.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"op"})
	m.txRetries = prometheus.NewCounter(prometheus.CounterOpts{Name: "pier_catalog_tx_retries_total",
		Help: "Catalog transactions and statements run again after a conflict with a concurrent one or a busy database."})
	for _, c := range []prometheus.Collector{m.transfers, m.bytes, m.durations, m.sessions, m.authFailures,
		m.refused, m.storageReqs, m.storageErrors, m.storageLatency, m.txRetries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Transfer counts a finished upload ("up") or download ("down").
func (m *Metrics) Transfer(protocol, direction string, bytes int64, d time.Duration, ok bool) {
	if m == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.transfers.WithLabelValues(protocol, direction, result).Inc()
	m.bytes.WithLabelValues(protocol, direction).Add(float64(bytes))
	m.durations.WithLabelValues(protocol, direction).Observe(d.Seconds())
}

// Session counts a session of protocol opening (+1) or ending (-1).
func (m *Metrics) Session(protocol string, delta int) {
	if m != nil {
		m.sessions.WithLabelValues(protocol).Add(float64(delta))
	}
}

// AuthFailed counts a refused login.
func (m *Metrics) AuthFailed(protocol string) {
	if m != nil {
		m.authFailures.WithLabelValues(protocol).Inc()
	}
}

// Refused counts a connection closed by an admission limit.
func (m *Metrics) Refused(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

// StorageRequest counts a request to the blob storage service.
func (m *Metrics) StorageRequest(op string, d time.Duration, failed bool) {
	if m == nil {
		return
	}
	m.storageReqs.WithLabelValues(op).Inc()
	m.storageLatency.WithLabelValues(op).Observe(d.Seconds())
	if failed {
		m.storageErrors.WithLabelValues(op).Inc()
	}
}

// TxRetry counts a catalog transaction run again.
func (m *Metrics) TxRetry() {
	if m != nil {
		m.txRetries.Inc()
	}
}

// WatchMemory exports the transfer memory budget: its limit, what is
// booked and pooled, and the admission waits and refusals.
func (m *Metrics) WatchMemory(b *membudget.Budget) {
	if m == nil || b == nil {
		return
	}
	gauge := func(name, help string, v func(membudget.Stats) int64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(v(b.Stats())) }))
	}
	counter := func(name, help string, v func(membudget.Stats) int64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(b.Stats())) }))
	}
	gauge("pier_transfer_memory_limit_bytes", "The transfer memory budget.", func(s membudget.Stats) int64 { return s.Limit })
	gauge("pier_transfer_memory_used_bytes", "Transfer memory booked by transfers now.", func(s membudget.Stats) int64 { return s.Used })
	gauge("pier_transfer_memory_pooled_bytes", "Free transfer buffers kept for reuse.", func(s membudget.Stats) int64 { return s.Pooled })
	gauge("pier_transfer_memory_waiting", "Transfers waiting for memory now.", func(s membudget.Stats) int64 { return int64(s.Waiting) })
	counter("pier_admission_waits_total", "Bookings of transfer memory that had to wait.", func(s membudget.Stats) int64 { return s.Waits })
	counter("pier_admission_refused_total", "Transfers refused as \"server busy\" after waiting for memory.", func(s membudget.Stats) int64 { return s.Refused })
}
