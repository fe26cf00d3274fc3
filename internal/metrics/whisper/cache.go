package whisper

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"math"
	"runtime"
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

// Defaults for CacheOptions.
const (
	// DefaultMaxPoints bounds the cache when CacheOptions.MaxPoints is
	// zero: about 16 MB of points at 16 bytes each plus per-series overhead.
	DefaultMaxPoints = 1_000_000
	// DefaultMaxAge is how long a point waits in the cache at most when the
	// disk keeps up (CacheOptions.MaxAge).
	DefaultMaxAge = 10 * time.Second
	// shards splits the cache so writers of different series rarely meet
	// on one mutex.
	shards = 64
	// idleTick is how often an idle flusher looks for old points.
	idleTick = 100 * time.Millisecond
)

// CacheOptions configures a Cache.
type CacheOptions struct {
	// MaxPoints bounds the points held in memory (queued plus being
	// written); Write refuses batches beyond it (ErrCacheFull).
	MaxPoints int
	// MaxAge is the longest a point stays queued while the flushers keep up:
	// series holding a point this old are written before any other. It is
	// the crash-loss bound in steady state; default DefaultMaxAge.
	MaxAge time.Duration
	// MaxUpdatesPerSecond limits file updates (one update writes all queued
	// points of one series), like go-carbon's max-updates-per-second. Zero
	// means as fast as the disk allows.
	MaxUpdatesPerSecond int
	// Workers is the number of flush goroutines; default GOMAXPROCS.
	Workers int
	Logger  *slog.Logger
	Now     func() time.Time // clock for point ages and series not yet on disk
}

// Cache is carbon's write-back cache in front of a Store. Write queues points
// in memory, per series, in shards keyed by the name's hash; Run's flushers
// write them out (each owns some shards, so one series is written by one
// goroutine at a time, in order). A flusher writes first every series
// holding a point older than MaxAge, then series with at least the average
// number of queued points, so that under load each file update carries many
// points (go-carbon's "max" strategy, without a global sort). Fetch merges
// queued points over the file's data. Close flushes everything.
//
// Durability: a crash loses what is in the cache: at most MaxPoints points,
// and while the disk keeps up no point older than MaxAge. Lower MaxAge and
// MaxPoints to lose less; raise them to batch more points per file update.
type Cache struct {
	store   *Store
	max     int64
	maxAge  time.Duration
	rate    int
	workers int
	now     func() time.Time
	log     *slog.Logger
	seed    maphash.Seed

	shards [shards]shard
	total  atomic.Int64 // points queued or being written
	// nseries counts series with points queued or being written.
	nseries atomic.Int64
	closed  atomic.Bool
	kick    chan struct{} // wakes idle flushers when the cache fills up
	groups  sync.Pool     // of *grouped, WriteMany's scratch

	written, failed, updates, tooOld atomic.Int64
}

// shard holds the series whose name hashes to it.
type shard struct {
	mu     sync.Mutex
	series map[string]*entry
	// minSince is at most the oldest since of the queued series (0: none
	// queued), so a flusher skips a shard with nothing old enough.
	minSince int64
	// flushMu is held while this shard's points are written, so Run's
	// flusher and Close never write one series concurrently.
	flushMu sync.Mutex
}

// entry is one series' points in the cache.
type entry struct {
	queued   []Point // waiting
	inflight []Point // taken by a flusher, not yet in the file
	since    int64   // unix nanoseconds when queued became non-empty
	hint     int     // capacity for a new queued slice: the last batch's size and a quarter
}

// NewCache returns a Cache writing to store.
func NewCache(store *Store, opts CacheOptions) *Cache {
	if opts.MaxPoints <= 0 {
		opts.MaxPoints = DefaultMaxPoints
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	opts.Workers = min(opts.Workers, shards)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		store: store, max: int64(opts.MaxPoints), maxAge: opts.MaxAge, rate: opts.MaxUpdatesPerSecond,
		workers: opts.Workers, now: opts.Now, seed: maphash.MakeSeed(),
		log:  log.With("component", "whisper-cache"),
		kick: make(chan struct{}, opts.Workers),
	}
	for i := range c.shards {
		c.shards[i].series = map[string]*entry{}
	}
	c.groups.New = func() any { return new(grouped) }
	return c
}

// CacheStats are counters for self-metrics.
type CacheStats struct {
	Points, Series                 int   // held now
	Written, FailedPoints, Updates int64 // since start; Updates counts file writes
	TooOld                         int64 // points written but beyond the file's retention, so dropped
}

// Stats returns the current counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{Points: int(c.total.Load()), Series: int(c.nseries.Load()), Written: c.written.Load(),
		FailedPoints: c.failed.Load(), Updates: c.updates.Load(), TooOld: c.tooOld.Load()}
}

func (c *Cache) shard(name string) *shard {
	return &c.shards[maphash.String(c.seed, name)%shards]
}

// reserve takes room for n points, or reports why not.
func (c *Cache) reserve(n int) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.total.Add(int64(n)) > c.max {
		c.total.Add(-int64(n))
		c.wake()
		return ErrCacheFull
	}
	if c.total.Load() > c.max/2 {
		c.wake()
	}
	return nil
}

func (c *Cache) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Write queues points for name. It returns ErrCacheFull, storing nothing, when
// the batch does not fit, and ErrClosed after Close.
func (c *Cache) Write(name string, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	if err := c.reserve(len(points)); err != nil {
		return err
	}
	sh := c.shard(name)
	now := c.now().UnixNano()
	sh.mu.Lock()
	c.add(sh, name, now, points...)
	sh.mu.Unlock()
	return nil
}

// WriteMany queues a batch of n points of many series, point(i) giving the
// i-th, all or none: ErrCacheFull and ErrClosed are as for Write. added,
// if not nil, is called (outside the cache's locks) with each series that
// had no entry in the cache, so a caller can index new names without
// looking at every point. The batch is grouped by shard first, so each
// shard's lock is taken once per batch.
func (c *Cache) WriteMany(n int, point func(i int) (string, Point), added func(name string)) error {
	if n == 0 {
		return nil
	}
	if err := c.reserve(n); err != nil {
		return err
	}
	now := c.now().UnixNano()
	g := c.groups.Get().(*grouped)
	defer c.groups.Put(g)
	g.items = g.items[:0]
	g.counts = [shards + 1]int{}
	for i := range n {
		name, p := point(i)
		sh := uint8(maphash.String(c.seed, name) % shards)
		g.items = append(g.items, item{name, p, sh})
		g.counts[sh+1]++
	}
	for i := 1; i <= shards; i++ {
		g.counts[i] += g.counts[i-1]
	}
	g.sorted = slices.Grow(g.sorted[:0], n)[:n]
	next := g.counts
	for _, it := range g.items {
		g.sorted[next[it.sh]] = it
		next[it.sh]++
	}
	g.fresh = g.fresh[:0]
	for i := range shards {
		part := g.sorted[g.counts[i]:g.counts[i+1]]
		if len(part) == 0 {
			continue
		}
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, it := range part {
			if c.add(sh, it.name, now, it.p) && added != nil {
				g.fresh = append(g.fresh, it.name)
			}
		}
		sh.mu.Unlock()
	}
	for _, name := range g.fresh {
		added(name)
	}
	clear(g.items)
	clear(g.sorted)
	return nil
}

// grouped is WriteMany's scratch space, reused through Cache.groups.
type grouped struct {
	items, sorted []item
	counts        [shards + 1]int
	fresh         []string
}

// item is one point of a WriteMany batch and its shard.
type item struct {
	name string
	p    Point
	sh   uint8
}

// add appends to a series under sh.mu; it reports whether the series had
// no entry.
func (c *Cache) add(sh *shard, name string, now int64, points ...Point) bool {
	e, ok := sh.series[name]
	if !ok {
		e = &entry{}
		sh.series[name] = e
	}
	if len(e.queued) == 0 {
		e.since = now
		if sh.minSince == 0 || now < sh.minSince {
			sh.minSince = now
		}
		if len(e.inflight) == 0 {
			c.nseries.Add(1)
		}
		if cap(e.queued) == 0 { // room for as many as last time
			e.queued = make([]Point, 0, max(e.hint, len(points), 4))
		}
	}
	e.queued = append(e.queued, points...)
	return !ok
}

// Run writes queued points to the Store until ctx ends, with
// CacheOptions.Workers flushers. Call Close after Run returns to flush what
// is left.
func (c *Cache) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for w := range c.workers {
		wg.Go(func() { c.flusher(ctx, w) })
	}
	wg.Wait()
	return nil
}

// flusher is one Run worker: it owns shards w, w+workers, ...
func (c *Cache) flusher(ctx context.Context, w int) {
	var pace *time.Ticker
	if c.rate > 0 {
		pace = time.NewTicker(time.Duration(c.workers) * time.Second / time.Duration(c.rate))
		defer pace.Stop()
	}
	tick := time.NewTicker(min(idleTick, c.maxAge/4))
	defer tick.Stop()
	for {
		n := 0
		p := c.policy(false)
		for i := w; i < shards; i += c.workers {
			n += c.flushShard(ctx, &c.shards[i], p, pace)
		}
		if ctx.Err() != nil {
			return
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-c.kick:
			}
		}
	}
}

// due is one series taken for writing.
type due struct {
	name string
	pts  []Point
}

// policy is what one flusher pass writes: every series when all is set,
// else those holding a point queued at or before old and those with at
// least minPoints queued.
type policy struct {
	all       bool
	old       int64 // unix nanoseconds
	minPoints int
}

// policy returns the policy for a pass starting now: below half of
// MaxPoints only series older than MaxAge are written, so that series
// gather points up to MaxAge; above it also every series holding at least
// the average number of points, the biggest batches first in effect.
func (c *Cache) policy(all bool) policy {
	p := policy{all: all, old: c.now().UnixNano() - c.maxAge.Nanoseconds(), minPoints: math.MaxInt}
	if total := c.total.Load(); total >= c.max/2 {
		p.minPoints = int(max(total/max(c.nseries.Load(), 1), 1))
	}
	return p
}

// flushShard writes the series of one shard that p selects. It returns
// the number of series written.
func (c *Cache) flushShard(ctx context.Context, sh *shard, p policy, pace *time.Ticker) int {
	sh.flushMu.Lock()
	defer sh.flushMu.Unlock()
	var batch []due
	sh.mu.Lock()
	if !p.all && p.minPoints == math.MaxInt && (sh.minSince == 0 || sh.minSince > p.old) {
		sh.mu.Unlock()
		return 0
	}
	minSince := int64(0)
	for name, e := range sh.series {
		switch {
		case len(e.queued) == 0:
			if len(e.inflight) == 0 && e.since < p.old {
				delete(sh.series, name)
			}
			continue
		case p.all, len(e.queued) >= p.minPoints, e.since <= p.old:
		default:
			if minSince == 0 || e.since < minSince {
				minSince = e.since
			}
			continue
		}
		e.inflight, e.queued = e.queued, nil
		e.hint = len(e.inflight) + len(e.inflight)/4
		batch = append(batch, due{name, e.inflight})
	}
	sh.minSince = minSince
	sh.mu.Unlock()
	for i, d := range batch {
		if pace != nil && !p.all {
			select {
			case <-ctx.Done():
				c.requeue(sh, batch[i:])
				return i
			case <-pace.C:
			}
		}
		c.write(sh, d)
	}
	return len(batch)
}

// requeue gives back series taken but not written.
func (c *Cache) requeue(sh *shard, batch []due) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, d := range batch {
		e := sh.series[d.name]
		e.queued = append(e.inflight, e.queued...)
		e.inflight = nil
		if sh.minSince == 0 || e.since < sh.minSince {
			sh.minSince = e.since
		}
	}
}

// write stores one series' taken points. They stay visible to Fetch (as
// inflight) until the file has them. Failed points are dropped and counted.
func (c *Cache) write(sh *shard, d due) {
	kept, err := c.store.write(d.name, d.pts)
	c.updates.Add(1)
	sh.mu.Lock()
	if e := sh.series[d.name]; e != nil {
		e.inflight = nil
		switch {
		case e.queued == nil: // reuse the slice for the next points
			e.queued = d.pts[:0]
			c.nseries.Add(-1)
		case len(e.queued) == 0:
			c.nseries.Add(-1)
		}
	}
	sh.mu.Unlock()
	c.total.Add(-int64(len(d.pts)))
	if err != nil {
		c.failed.Add(int64(len(d.pts)))
		c.log.Error("write series", "name", d.name, "points", len(d.pts), "err", err)
		return
	}
	c.written.Add(int64(len(d.pts)))
	c.tooOld.Add(int64(len(d.pts) - kept))
}

// flush writes one series' queued points now (tests use it).
func (c *Cache) flush(name string) error {
	sh := c.shard(name)
	sh.flushMu.Lock()
	defer sh.flushMu.Unlock()
	sh.mu.Lock()
	e := sh.series[name]
	if e == nil || len(e.queued) == 0 {
		sh.mu.Unlock()
		return nil
	}
	d := due{name, e.queued}
	e.inflight, e.queued = e.queued, nil
	sh.mu.Unlock()
	before := c.failed.Load()
	c.write(sh, d)
	if c.failed.Load() != before {
		return fmt.Errorf("write %d points of %s: failed", len(d.pts), name)
	}
	return nil
}

// Close refuses further writes and flushes every queued point, ignoring the
// rate limit. It returns an error if points could not be written.
func (c *Cache) Close() error {
	c.closed.Store(true)
	before := c.failed.Load()
	for c.total.Load() > 0 {
		n := 0
		p := c.policy(true)
		for i := range c.shards {
			n += c.flushShard(context.Background(), &c.shards[i], p, nil)
		}
		if n == 0 { // points still held by a running flusher
			time.Sleep(time.Millisecond)
		}
	}
	if f := c.failed.Load() - before; f > 0 {
		return fmt.Errorf("flush cache: %d points failed (see log)", f)
	}
	return nil
}

// Fetch reads name like Store.Fetch and lays the cached points over it. When
// the chosen archive is coarser than the finest one, cached points in one
// step are rolled up with the series' configured aggregation method (last
// value per finest slot first, as whisper stores them); like go-carbon, such
// a step then shows only the cached points' aggregate.
func (c *Cache) Fetch(name string, from, until int64) (Series, error) {
	sh := c.shard(name)
	var cached []Point
	sh.mu.Lock()
	if e := sh.series[name]; e != nil {
		cached = append(slices.Clone(e.inflight), e.queued...)
	}
	sh.mu.Unlock()
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
