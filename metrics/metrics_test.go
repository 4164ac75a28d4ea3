package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"pier/membudget"
)

func TestMetrics(t *testing.T) {
	m := New()
	b := membudget.New(membudget.Config{Limit: 1 << 20})
	m.WatchMemory(b)
	b.Admit(context.Background(), 1000)
	m.Transfer("sftp", "up", 1<<20, time.Second, true)
	m.Transfer("webdav", "down", 10, time.Millisecond, false)
	m.Session("sftp", 1)
	m.AuthFailed("webdav")
	m.Refused("handshake-queue")
	m.StorageRequest("PUT-part", 20*time.Millisecond, false)
	m.StorageRequest("GET", time.Second, true)
	m.TxRetry()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`pier_transfers_total{direction="up",protocol="sftp",result="ok"} 1`,
		`pier_transfers_total{direction="down",protocol="webdav",result="failed"} 1`,
		`pier_transfer_bytes_total{direction="up",protocol="sftp"} 1.048576e+06`,
		`pier_transfer_duration_seconds_count{direction="up",protocol="sftp"} 1`,
		`pier_sessions_active{protocol="sftp"} 1`,
		`pier_auth_failures_total{protocol="webdav"} 1`,
		`pier_connections_refused_total{reason="handshake-queue"} 1`,
		`pier_storage_requests_total{op="PUT-part"} 1`,
		`pier_storage_errors_total{op="GET"} 1`,
		`pier_catalog_tx_retries_total 1`,
		`pier_transfer_memory_used_bytes 1000`,
		`pier_transfer_memory_limit_bytes 1.048576e+06`,
		`pier_admission_refused_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	var none *Metrics // counts nothing, never panics
	none.Transfer("sftp", "up", 1, time.Second, true)
	none.TxRetry()
}
