package health

import (
	"math"
	"time"
)

// Backoff is Marathon's launch delay for an app whose tasks keep failing
// (crashing, or killed for failing health checks): the n-th consecutive
// failure delays the next launch by Initial × Factor^(n-1), capped at Max.
//
// Reset: the caller counts consecutive failures per app and sets the count
// back to 0 once a task of the app has stayed up for ResetAfter: healthy for
// that long when the app has health checks, running for that long when it
// has none (Marathon resets the delay when a task becomes healthy or has been
// running; a settle time keeps a task that passes one check and then crashes
// from escaping the backoff). A zero ResetAfter means Max, at least 1 minute.
type Backoff struct {
	Initial    time.Duration // Marathon's backoff_seconds, default 1 s
	Factor     float64       // backoff_factor, default 1.15
	Max        time.Duration // max_launch_delay_seconds, default 5 min (Corral's; Marathon's is 1 h)
	ResetAfter time.Duration
}

// DefaultBackoff is {initial: 1s, factor: 1.15, max: 5m}.
func DefaultBackoff() Backoff {
	return Backoff{Initial: time.Second, Factor: 1.15, Max: 5 * time.Minute}
}

// Delay is how long to wait before launching again after failures
// consecutive failures: 0 for none, Initial for the first, then ×Factor each,
// never more than Max (when Max > 0).
func (b Backoff) Delay(failures int) time.Duration {
	if failures <= 0 || b.Initial <= 0 {
		return 0
	}
	f := b.Factor
	if f < 1 {
		f = 1
	}
	d := float64(b.Initial) * math.Pow(f, float64(failures-1))
	if b.Max > 0 && d >= float64(b.Max) {
		return b.Max
	}
	if d >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// Settled reports whether a task that has been up (healthy, or running
// without health checks) for upFor resets the app's failure count.
func (b Backoff) Settled(upFor time.Duration) bool {
	r := b.ResetAfter
	if r == 0 {
		r = max(b.Max, time.Minute)
	}
	return upFor >= r
}
