package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestExecWaitsOutABusyDatabase: a statement outside a transaction that
// finds SQLite's write lock held past its busy timeout (a long queue of
// writers) is run again, as WriteTx runs a transaction, and succeeds once
// the lock is free; a unique violation is returned at once.
func TestExecWaitsOutABusyDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pier.db")
	d, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var retries atomic.Int32
	d.OnRetry = func() { retries.Add(1) }
	// One connection, whose busy timeout is short, stands for a writer
	// at the end of a long queue.
	d.SetMaxOpenConns(1)
	if _, err := d.ExecContext(ctx, "PRAGMA busy_timeout = 20"); err != nil {
		t.Fatal(err)
	}

	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		holder.ExecContext(ctx, "COMMIT")
		close(released)
	}()
	start := time.Now()
	_, err = d.Exec(ctx, "INSERT INTO uploads (blob_id, path, started_at) VALUES (?, ?, ?)", "b1", "/x", 1)
	<-released
	if err != nil {
		t.Fatalf("insert while another writer held the lock for 300 ms: %v", err)
	}
	if retries.Load() == 0 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("no wait: %d retries in %v", retries.Load(), time.Since(start))
	}
	t.Logf("%d retries in %v", retries.Load(), time.Since(start))

	retries.Store(0)
	_, err = d.Exec(ctx, "INSERT INTO uploads (blob_id, path, started_at) VALUES (?, ?, ?)", "b1", "/x", 1)
	if !IsUnique(err) || retries.Load() != 0 {
		t.Fatalf("duplicate key: %v after %d retries", err, retries.Load())
	}
}
