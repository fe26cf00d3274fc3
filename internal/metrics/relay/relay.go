// Package relay forwards metrics to external carbon destinations (go-carbon,
// carbon-cache, VictoriaMetrics, graphite-clickhouse) over the plaintext or
// pickle protocol, the way carbon-relay does: every destination has a bounded
// queue, points that do not fit are dropped and counted (ingest never
// blocks), and one TCP connection per destination is kept up with
// reconnects and exponential backoff.
//
// Routing is either "everything to each destination" or carbon's
// relay-rules.conf (ParseRules, Route), or both.
//
// The server composition root builds a Relay from its flags, runs it under
// its errgroup and hands it every ingested point; the package imports the
// carbon parser package for the Point type and the standard library.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"corral/internal/metrics/carbon"
)

// Defaults of Options.
const (
	DefaultQueueSize       = 100000
	DefaultFlushInterval   = time.Second
	DefaultMinBackoff      = 100 * time.Millisecond
	DefaultMaxBackoff      = 10 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultShutdownTimeout = 2 * time.Second
	// routeCacheSize bounds the cache of rule routing results by name.
	routeCacheSize = 100000
)

// Options configure a Relay.
type Options struct {
	// Destinations ("host:port", or "host:port:instance" as in carbon) get
	// every point.
	Destinations []string
	// Rules route points by name in addition to Destinations.
	Rules []Rule
	// QueueSize is the number of points each destination may hold before
	// new points for it are dropped; 0 means DefaultQueueSize.
	QueueSize int
	Logger    *slog.Logger // nil: discard
	// Dial opens connections; nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// FlushInterval is the longest a queued point waits before it is
	// written (a destination also writes as soon as a batch is full);
	// 0 means DefaultFlushInterval.
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnects, which
	// doubles after each failure; 0 means the defaults (100 ms, 10 s).
	MinBackoff, MaxBackoff time.Duration
	// WriteTimeout bounds one batch write to a destination; 0 means 10 s.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds the final flush when Run's context ends;
	// 0 means 2 s.
	ShutdownTimeout time.Duration
	// Protocol is "line" (plaintext, carbon's port 2003; the default) or
	// "pickle" (carbon's port 2004, what carbon-relay sends by default).
	Protocol string
	// Sleep waits out a reconnect backoff and reports whether it completed
	// (false when ctx ended); nil uses a timer. Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) bool
}

// DestStats are the counters of one destination, for self metrics.
type DestStats struct {
	Addr      string
	Sent      int64 // points written to the connection
	Dropped   int64 // points dropped because the queue was full
	Queued    int64 // points waiting, including a batch being retried
	Connected bool
}

// Relay queues points per destination and sends them. Write may be called
// from any goroutine, before and while Run runs.
type Relay struct {
	opts  Options
	log   *slog.Logger
	dests []*dest
	// all are the indexes of the destinations that get every point.
	all []int
	// byRaw maps a destination as written in a rule to its index.
	byRaw map[string]int

	pickle bool // Protocol is "pickle"

	routeMu    sync.Mutex
	routeCache map[string][]int
}

// New checks the destinations and rules and returns a Relay; nothing is
// dialled before Run.
func New(opts Options) (*Relay, error) {
	if opts.QueueSize < 0 {
		return nil, fmt.Errorf("relay: queue size %d is negative", opts.QueueSize)
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	switch opts.Protocol {
	case "", "line", "plaintext":
	case "pickle":
	default:
		return nil, fmt.Errorf("relay: protocol %q: want line or pickle", opts.Protocol)
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Dial == nil {
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		opts.Dial = d.DialContext
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{opts: opts, log: log.With("component", "relay"), byRaw: map[string]int{}, routeCache: map[string][]int{},
		pickle: opts.Protocol == "pickle"}
	byAddr := map[string]int{}
	add := func(raw string) (int, error) {
		if i, ok := r.byRaw[raw]; ok {
			return i, nil
		}
		addr, err := parseDestination(raw)
		if err != nil {
			return 0, err
		}
		i, ok := byAddr[addr]
		if !ok {
			i = len(r.dests)
			byAddr[addr] = i
			r.dests = append(r.dests, newDest(addr, opts.QueueSize))
		}
		r.byRaw[raw] = i
		return i, nil
	}
	for _, d := range opts.Destinations {
		i, err := add(d)
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		if !containsInt(r.all, i) {
			r.all = append(r.all, i)
		}
	}
	for _, rule := range opts.Rules {
		for _, d := range rule.Destinations {
			if _, err := add(d); err != nil {
				return nil, fmt.Errorf("relay: rule [%s]: %w", rule.Name, err)
			}
		}
	}
	if len(r.dests) == 0 {
		return nil, errors.New("relay: no destinations")
	}
	return r, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Write enqueues points for their destinations. It never blocks on the
// network: a destination whose queue is full drops the points and counts
// them.
func (r *Relay) Write(points []carbon.Point) {
	if len(points) == 0 {
		return
	}
	if len(r.opts.Rules) == 0 {
		for _, i := range r.all {
			r.dests[i].enqueue(points)
		}
		return
	}
	batches := make([][]carbon.Point, len(r.dests))
	for _, p := range points {
		for _, i := range r.route(p.Name) {
			batches[i] = append(batches[i], p)
		}
	}
	for i, b := range batches {
		if len(b) > 0 {
			r.dests[i].enqueue(b)
		}
	}
}

// route returns the destination indexes of a name: the all-points
// destinations and the rules' destinations, without duplicates. Results
// are cached by name (the cache is emptied when it is full).
func (r *Relay) route(name string) []int {
	r.routeMu.Lock()
	idx, ok := r.routeCache[name]
	r.routeMu.Unlock()
	if ok {
		return idx
	}
	idx = append([]int(nil), r.all...)
	for _, raw := range Route(r.opts.Rules, name) {
		if i := r.byRaw[raw]; !containsInt(idx, i) {
			idx = append(idx, i)
		}
	}
	r.routeMu.Lock()
	if len(r.routeCache) >= routeCacheSize {
		clear(r.routeCache)
	}
	r.routeCache[name] = idx
	r.routeMu.Unlock()
	return idx
}

// Run keeps a connection to every destination and sends its queue until
// ctx ends; then it makes one last attempt, bounded by ShutdownTimeout, to
// send what is queued, and returns nil.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, d := range r.dests {
		wg.Go(func() { r.send(ctx, d) })
	}
	wg.Wait()
	return nil
}

// Stats returns the counters of every destination, in the order the
// destinations were first named (Destinations, then the rules').
func (r *Relay) Stats() []DestStats {
	out := make([]DestStats, len(r.dests))
	for i, d := range r.dests {
		out[i] = d.stats()
	}
	return out
}
