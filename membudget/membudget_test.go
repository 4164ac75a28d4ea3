package membudget

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAdmitWaitsThenRefuses(t *testing.T) {
	b := New(Config{Limit: 100, AdmitWait: 50 * time.Millisecond})
	ctx := context.Background()
	if err := b.Admit(ctx, 50); err != nil {
		t.Fatal(err)
	}
	// Admission shares stay within half the budget.
	start := time.Now()
	if err := b.Admit(ctx, 1); !errors.Is(err, ErrBusy) {
		t.Fatalf("admission beyond half the budget: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("refused after %v, without waiting", d)
	}
	done := make(chan error, 1)
	go func() { done <- b.Admit(ctx, 10) }()
	time.Sleep(10 * time.Millisecond)
	b.Release(50, Admission)
	if err := <-done; err != nil {
		t.Fatalf("admission after a release: %v", err)
	}
	if st := b.Stats(); st.Used != 10 || st.Admitted != 10 || st.Refused != 1 || st.Waits != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

// Growth waits as long as it must, in order, and passes waiting
// admissions: it lets admitted transfers finish.
func TestGrowWaitsInOrder(t *testing.T) {
	b := New(Config{Limit: 100, AdmitWait: time.Second})
	ctx := context.Background()
	b.Admit(ctx, 50)
	if !b.TryGrow(50) {
		t.Fatal("TryGrow with room refused")
	}
	if b.TryGrow(1) {
		t.Fatal("TryGrow beyond the limit granted")
	}
	granted := make(chan int, 3)
	go func() { b.Grow(ctx, 30, Large); granted <- 1 }()
	time.Sleep(10 * time.Millisecond)
	go func() { b.Admit(ctx, 10); granted <- 3 }() // must not pass the growth before it
	time.Sleep(10 * time.Millisecond)
	go func() { b.Grow(ctx, 20, Large); granted <- 2 }()
	time.Sleep(10 * time.Millisecond)
	if st := b.Stats(); st.Waiting != 3 {
		t.Fatalf("stats before the release: %+v", st)
	}
	b.Release(50, Large) // room for both growths, not for the admission
	got := []int{<-granted, <-granted}
	if got[0]+got[1] != 3 {
		t.Fatalf("granted %v, want the two growths", got)
	}
	if st := b.Stats(); st.Used != 100 || st.Waiting != 1 {
		t.Fatalf("stats after the release: %+v", st)
	}
	b.Release(50, Admission)
	if got := <-granted; got != 3 {
		t.Fatalf("granted %d, want 3", got)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Grow(ctx2, 1000, Large); !errors.Is(err, context.Canceled) {
		t.Fatalf("Grow with a canceled context: %v", err)
	}
}

// A request larger than the whole budget is served alone, never refused
// for ever.
func TestOversizedRequest(t *testing.T) {
	b := New(Config{Limit: 10})
	if err := b.Grow(context.Background(), 100, Large); err != nil {
		t.Fatal(err)
	}
	b.Release(100, Large)
	if st := b.Stats(); st.Used != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// Buffers are pooled while transfers come and go, count against the
// limit, and are dropped after the idle period.
func TestPool(t *testing.T) {
	b := New(Config{Limit: 100, Idle: 20 * time.Millisecond})
	ctx := context.Background()
	b.Grow(ctx, 40, Large)
	buf := b.Buffer(40)
	buf[0] = 7
	b.Recycle(buf, Large)
	if st := b.Stats(); st.Used != 0 || st.Pooled != 40 {
		t.Fatalf("after recycling: %+v", st)
	}
	b.Grow(ctx, 40, Large)
	if again := b.Buffer(40); again[0] != 7 {
		t.Fatal("Buffer did not reuse the pooled buffer")
	} else {
		b.Recycle(again, Large)
	}
	// Pooled buffers make way for bookings.
	b.Grow(ctx, 90, Large)
	if st := b.Stats(); st.Used != 90 || st.Pooled != 0 {
		t.Fatalf("pooled memory kept beyond the limit: %+v", st)
	}
	b.Release(90, Large)
	b.Grow(ctx, 40, Large)
	b.Recycle(b.Buffer(40), Large)
	time.Sleep(100 * time.Millisecond)
	if st := b.Stats(); st.Pooled != 0 {
		t.Fatalf("pool not dropped after the idle period: %+v", st)
	}
}

// Small buffers take at most a quarter of the budget, so uploads holding
// one and waiting for a part buffer can always get one: the deadlock of
// many uploads each holding a small buffer, all waiting for more.
func TestClassesLeaveRoomForLarge(t *testing.T) {
	b := New(Config{Limit: 100})
	ctx := context.Background()
	for range 25 {
		if err := b.Grow(ctx, 1, Small); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() { blocked <- b.Grow(ctx, 1, Small) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-blocked:
		t.Fatal("small buffers beyond a quarter of the budget")
	default:
	}
	// Large bookings pass the waiting small one, up to the whole rest.
	if err := b.Grow(ctx, 75, Large); err != nil {
		t.Fatal(err)
	}
	b.Release(1, Small)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Used != 100 || st.Small != 25 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestNilBudget(t *testing.T) {
	var b *Budget
	if err := b.Admit(context.Background(), 1<<40); err != nil {
		t.Fatal(err)
	}
	if !b.TryGrow(1 << 40) {
		t.Fatal("nil budget refused")
	}
	b.Release(1, Admission)
	b.Recycle(b.Buffer(10), Small)
}
