package health

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := DefaultBackoff()
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{1, time.Second},
		{2, 1150 * time.Millisecond},
		{3, 1322500 * time.Microsecond},  // 1.15² s
		{11, 4045557 * time.Microsecond}, // 1.15¹⁰ s = 4.045557…
		{41, 267863 * time.Millisecond},  // 1.15⁴⁰ s = 267.8635…
		{42, 5 * time.Minute},            // 1.15⁴¹ s = 308.04 s, capped
		{1000, 5 * time.Minute},
	}
	for _, tt := range tests {
		got := b.Delay(tt.failures)
		// Float rounding: compare to the millisecond.
		if diff := got - tt.want; diff < -time.Millisecond || diff > time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
	if got := (Backoff{Initial: 2 * time.Second}).Delay(5); got != 2*time.Second {
		t.Errorf("factor 0 (as 1): Delay(5) = %v, want 2s", got)
	}
	if got := (Backoff{Initial: time.Second, Factor: 2}).Delay(100); got <= 0 {
		t.Errorf("no max: Delay(100) = %v, want a large positive delay", got)
	}
}

func TestBackoffSettled(t *testing.T) {
	tests := []struct {
		b    Backoff
		up   time.Duration
		want bool
	}{
		{DefaultBackoff(), 4 * time.Minute, false},
		{DefaultBackoff(), 5 * time.Minute, true},
		{Backoff{Initial: time.Second, Max: 10 * time.Second}, 30 * time.Second, false},
		{Backoff{Initial: time.Second, Max: 10 * time.Second}, time.Minute, true},
		{Backoff{ResetAfter: 10 * time.Second}, 10 * time.Second, true},
	}
	for _, tt := range tests {
		if got := tt.b.Settled(tt.up); got != tt.want {
			t.Errorf("%+v.Settled(%v) = %v, want %v", tt.b, tt.up, got, tt.want)
		}
	}
}
