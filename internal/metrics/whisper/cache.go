package whisper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrCacheFull reports that a Write would take the cache over MaxPoints.
	// The whole batch is refused; the caller counts it as dropped, as
	// go-carbon does when its cache is full. Write never blocks, so a UDP or
	// TCP receiver is never stalled by a slow disk.
	ErrCacheFull = errors.New("whisper: cache full")
	// ErrClosed reports a Write after Close.
	ErrClosed = errors.New("whisper: cache closed")
)

// DefaultMaxPoints bounds the cache when CacheOptions.MaxPoints is zero:
// about 24 MB of points at 24 bytes each plus map overhead.
const DefaultMaxPoints = 1_000_000

// CacheOptions configures a Cache.
type CacheOptions struct {
	// MaxPoints bounds the points held in memory (queued plus being written).
	MaxPoints int
	// MaxUpdatesPerSecond limits file updates (one update writes all queued
	// points of one series), like go-carbon's max-updates-per-second. Zero
	// means as fast as the disk allows.
	MaxUpdatesPerSecond int
	Logger              *slog.Logger
	Now                 func() time.Time // clock for series not yet on disk
}

// Cache is carbon's write-back cache in front of a Store. Write queues points
// in memory; Run writes them out, the series with the most queued points
// first (go-carbon's "max" strategy), one file update per series per pass.
// Fetch merges queued points over the file's data. Close flushes everything.
//
// Durability: a crash loses what is in the cache, at most MaxPoints points,
// and in steady state about (number of series / MaxUpdatesPerSecond) seconds
// of data. Lower MaxPoints or raise MaxUpdatesPerSecond to lose less.
type Cache struct {
	store *Store
	max   int
	rate  int
	now   func() time.Time
	log   *slog.Logger

	mu       sync.Mutex
	queued   map[string][]Point
	inflight map[string][]Point // taken by the flusher, not yet in the file
	total    int
	closed   bool

	flushMu sync.Mutex    // one series update at a time, so order per series holds
	kick    chan struct{} // wakes Run after a Write into an empty cache

	written, failed, updates atomic.Int64
}

// NewCache returns a Cache writing to store.
func NewCache(store *Store, opts CacheOptions) *Cache {
	if opts.MaxPoints <= 0 {
		opts.MaxPoints = DefaultMaxPoints
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{
		store: store, max: opts.MaxPoints, rate: opts.MaxUpdatesPerSecond, now: opts.Now,
		log:    log.With("component", "whisper-cache"),
		queued: map[string][]Point{}, inflight: map[string][]Point{},
		kick: make(chan struct{}, 1),
	}
}

// CacheStats are counters for self-metrics.
type CacheStats struct {
	Points, Series                 int   // held now
	Written, FailedPoints, Updates int64 // since start; Updates counts file writes
}

// Stats returns the current counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Points: c.total, Series: len(c.queued), Written: c.written.Load(), FailedPoints: c.failed.Load(), Updates: c.updates.Load()}
}

// Write queues points for name. It returns ErrCacheFull, storing nothing, when
// the batch does not fit, and ErrClosed after Close.
func (c *Cache) Write(name string, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.total+len(points) > c.max:
		c.mu.Unlock()
		return ErrCacheFull
	}
	c.queued[name] = append(c.queued[name], points...)
	c.total += len(points)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// Run writes queued points to the Store until ctx ends. Call Close after Run
// returns to flush what is left.
func (c *Cache) Run(ctx context.Context) error {
	for {
		n := c.pass(ctx, c.rate)
		if ctx.Err() != nil {
			return nil
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-c.kick:
			}
		}
	}
}

// Close refuses further writes and flushes every queued point, ignoring the
// rate limit. It returns the write errors, if any.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for {
		names := c.order()
		if len(names) == 0 {
			return errors.Join(errs...)
		}
		for _, name := range names {
			if err := c.flush(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
}

// order lists queued series, most points first.
func (c *Cache) order() []string {
	c.mu.Lock()
	type sized struct {
		name string
		n    int
	}
	all := make([]sized, 0, len(c.queued))
	for name, pts := range c.queued {
		all = append(all, sized{name, len(pts)})
	}
	c.mu.Unlock()
	slices.SortFunc(all, func(a, b sized) int { return b.n - a.n })
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.name
	}
	return names
}

// pass writes every series queued at its start once, pacing to rate updates
// per second. It returns the number of series written.
func (c *Cache) pass(ctx context.Context, rate int) int {
	names := c.order()
	start := time.Now()
	for i, name := range names {
		if ctx.Err() != nil {
			return i
		}
		if err := c.flush(name); err != nil {
			c.log.Error("flush series", "name", name, "err", err)
		}
		if rate > 0 {
			wait := time.Until(start.Add(time.Duration(i+1) * time.Second / time.Duration(rate)))
			if wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return i + 1
				case <-t.C:
				}
			}
		}
	}
	return len(names)
}

// flush writes one series' queued points. The points stay visible to Fetch
// (as inflight) until the file has them. Failed points are dropped and counted.
func (c *Cache) flush(name string) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	pts := c.queued[name]
	delete(c.queued, name)
	if len(pts) > 0 {
		c.inflight[name] = pts
	}
	c.mu.Unlock()
	if len(pts) == 0 {
		return nil
	}
	err := c.store.Write(name, pts)
	c.updates.Add(1)
	c.mu.Lock()
	delete(c.inflight, name)
	c.total -= len(pts)
	c.mu.Unlock()
	if err != nil {
		c.failed.Add(int64(len(pts)))
		return fmt.Errorf("write %d points of %s: %w", len(pts), name, err)
	}
	c.written.Add(int64(len(pts)))
	return nil
}

// Fetch reads name like Store.Fetch and lays the cached points over it. When
// the chosen archive is coarser than the finest one, cached points in one
// step are rolled up with the series' configured aggregation method (last
// value per finest slot first, as whisper stores them); like go-carbon, such
// a step then shows only the cached points' aggregate.
func (c *Cache) Fetch(name string, from, until int64) (Series, error) {
	c.mu.Lock()
	cached := append(slices.Clone(c.inflight[name]), c.queued[name]...)
	c.mu.Unlock()
	s, err := c.store.Fetch(name, from, until)
	schema, agg := c.store.Schema(name)
	switch {
	case errors.Is(err, ErrNotFound) && len(cached) > 0:
		s = emptySeries(schema.Retentions, c.now(), from, until)
	case err != nil:
		return Series{}, err
	}
	if len(cached) == 0 || len(s.Values) == 0 {
		return s, nil
	}
	finest := int64(schema.Retentions[0].SecondsPerPoint)
	if finest > s.Step || s.Step%finest != 0 {
		finest = s.Step
	}
	slots := map[int64]float64{} // last value per finest slot
	for _, p := range cached {
		slots[p.Time-mod(p.Time, finest)] = p.Value
	}
	buckets := map[int64][]float64{}
	keys := slices.Sorted(maps.Keys(slots))
	for _, t := range keys {
		b := t - mod(t, s.Step)
		if b >= s.Start && b < s.Until {
			buckets[b] = append(buckets[b], slots[t])
		}
	}
	for b, vals := range buckets {
		s.Values[(b-s.Start)/s.Step] = aggregate(agg.Method, vals, int(s.Step/finest))
	}
	return s, nil
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// aggregate applies a whisper.py aggregation method to known values in time
// order; slots is how many finest points make up the step (for avg_zero).
func aggregate(method string, vals []float64, slots int) float64 {
	if len(vals) == 1 && method != "avg_zero" {
		return vals[0]
	}
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	switch method {
	case "sum":
		return sum
	case "last":
		return vals[len(vals)-1]
	case "max":
		return slices.Max(vals)
	case "min":
		return slices.Min(vals)
	case "avg_zero":
		return sum / float64(max(slots, len(vals)))
	case "absmax", "absmin":
		best := vals[0]
		for _, v := range vals[1:] {
			if (method == "absmax") == (math.Abs(v) > math.Abs(best)) && math.Abs(v) != math.Abs(best) {
				best = v
			}
		}
		return best
	default:
		return sum / float64(len(vals))
	}
}
