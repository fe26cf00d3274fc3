// Package ingest runs the carbon receivers: plaintext over TCP and UDP and
// pickle over TCP, feeding parsed points to a Sink. The server composes it.
//
// Parsing lives in package carbon; this package is the socket shell around
// it: listeners, per-connection batching, idle timeouts, connection limits,
// back-pressure on the Sink and rate-limited logging of bad input.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"corral/internal/metrics/carbon"
)

// Sink takes parsed points (the server's whisper cache, a relay later).
// Write is called concurrently from every connection and must not retain
// points after it returns: the slice is reused. An error (e.g. cache full)
// makes the receiver retry the same batch for a while before dropping it.
type Sink interface {
	Write(points []carbon.Point) error
}

// Options configures Listen. Zero values take the defaults noted.
type Options struct {
	// PlainAddr is the plaintext address for both TCP and UDP, e.g.
	// ":2003"; "" turns plaintext off. With port 0 the TCP port is picked
	// and UDP takes the same port if it is free, else its own (see Addrs).
	PlainAddr   string
	PickleAddr  string           // pickle over TCP, e.g. ":2004"; "" = off
	Sink        Sink             // required
	Logger      *slog.Logger     // default slog.Default()
	Now         func() time.Time // clock for missing timestamps and log rate limits; default time.Now
	BatchSize   int              // points per Sink.Write, default 1000
	IdleTimeout time.Duration    // close TCP connections idle this long, default 2m
	MaxConns    int              // open TCP connections over both ports, default 1024; extra ones are closed

	// retryFor bounds how long one batch is retried against a failing
	// Sink; default defaultRetryFor. Tests shorten it.
	retryFor time.Duration
}

// Defaults and fixed intervals.
const (
	defaultBatchSize   = 1000
	defaultIdleTimeout = 2 * time.Minute
	defaultMaxConns    = 1024
	defaultRetryFor    = 3 * time.Second
	flushEvery         = 100 * time.Millisecond // longest a parsed point waits for its batch
	logEvery           = 10 * time.Second       // at most one log line per kind per receiver
	udpBufSize         = 64 << 10
)

// Stats are cumulative counters since Listen.
type Stats struct {
	Points     uint64 // good points parsed (those later dropped included)
	BadLines   uint64 // plaintext lines that did not parse
	BadPickles uint64 // malformed pickle frames (each closes its connection)
	BadEntries uint64 // bad entries skipped inside otherwise good pickle frames
	SinkErrors uint64 // failed Sink.Write calls, retries included
	Dropped    uint64 // points given up on after the Sink kept failing
	Conns      uint64 // TCP connections accepted
	Rejected   uint64 // TCP connections closed at once because of MaxConns
}

// Receivers are the open carbon listeners. Listen opens them, Run serves.
type Receivers struct {
	opts      Options
	plainLn   net.Listener
	plainUDP  net.PacketConn
	pickleLn  net.Listener
	plain     *receiver
	udp       *receiver
	pickle    *receiver
	log       *slog.Logger
	started   atomic.Bool
	closeOnce sync.Once

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	connWG sync.WaitGroup

	points, badLines, badPickles, badEntries atomic.Uint64
	sinkErrors, dropped, accepted, rejected  atomic.Uint64
}

// receiver is one listener's logging identity and rate limiters.
type receiver struct {
	name    string
	log     *slog.Logger
	badLog  limiter
	sinkLog limiter
	connLog limiter
}

// Listen opens the configured listeners, so that errors such as "address
// in use" come back at once, naming the configured address.
func Listen(opts Options) (*Receivers, error) {
	if opts.Sink == nil {
		return nil, errors.New("ingest: no Sink")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultBatchSize
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = defaultIdleTimeout
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = defaultMaxConns
	}
	if opts.retryFor <= 0 {
		opts.retryFor = defaultRetryFor
	}
	log := opts.Logger.With("component", "carbon")
	r := &Receivers{opts: opts, log: log, conns: make(map[net.Conn]struct{})}
	r.plain = &receiver{name: "plain-tcp", log: log.With("receiver", "plain-tcp")}
	r.udp = &receiver{name: "plain-udp", log: log.With("receiver", "plain-udp")}
	r.pickle = &receiver{name: "pickle", log: log.With("receiver", "pickle")}
	if opts.PlainAddr != "" {
		var err error
		r.plainLn, r.plainUDP, err = listenPlain(opts.PlainAddr, log)
		if err != nil {
			return nil, err
		}
	}
	if opts.PickleAddr != "" {
		ln, err := net.Listen("tcp", opts.PickleAddr)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("carbon pickle address %q: %w", opts.PickleAddr, err)
		}
		r.pickleLn = ln
	}
	return r, nil
}

// listenPlain opens TCP and UDP on addr. With port 0, UDP tries the port
// TCP picked (a few times over) and falls back to a port of its own.
func listenPlain(addr string, log *slog.Logger) (net.Listener, net.PacketConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("carbon plaintext address %q: %w", addr, err)
	}
	for range 5 {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("carbon plaintext address %q: %w", addr, err)
		}
		udpAddr := addr
		if port == "0" || port == "" {
			_, tcpPort, _ := net.SplitHostPort(ln.Addr().String())
			udpAddr = net.JoinHostPort(host, tcpPort)
		}
		pc, err := net.ListenPacket("udp", udpAddr)
		if err == nil {
			return ln, pc, nil
		}
		if port != "0" && port != "" {
			ln.Close()
			return nil, nil, fmt.Errorf("carbon plaintext address %q (udp): %w", addr, err)
		}
		ln.Close()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("carbon plaintext address %q: %w", addr, err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("carbon plaintext address %q (udp): %w", addr, err)
	}
	log.Warn("plaintext UDP could not share the TCP port", "tcp", ln.Addr().String(), "udp", pc.LocalAddr().String())
	return ln, pc, nil
}

// Addrs returns the actual listening addresses; "" for one that is off.
func (r *Receivers) Addrs() (plainTCP, plainUDP, pickle string) {
	if r.plainLn != nil {
		plainTCP = r.plainLn.Addr().String()
	}
	if r.plainUDP != nil {
		plainUDP = r.plainUDP.LocalAddr().String()
	}
	if r.pickleLn != nil {
		pickle = r.pickleLn.Addr().String()
	}
	return plainTCP, plainUDP, pickle
}

// Stats returns the counters so far.
func (r *Receivers) Stats() Stats {
	return Stats{
		Points: r.points.Load(), BadLines: r.badLines.Load(), BadPickles: r.badPickles.Load(),
		BadEntries: r.badEntries.Load(), SinkErrors: r.sinkErrors.Load(), Dropped: r.dropped.Load(),
		Conns: r.accepted.Load(), Rejected: r.rejected.Load(),
	}
}

// Close closes the listeners. Run does it when its context ends; Close is
// for a server that fails to start after Listen and never calls Run.
func (r *Receivers) Close() error {
	r.closeOnce.Do(func() {
		for _, c := range []interface{ Close() error }{r.plainLn, r.plainUDP, r.pickleLn} {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	return nil
}

// Run serves until ctx ends, then closes the listeners and every open
// connection (flushing what each has parsed) and waits for them. It
// returns nil on a clean stop.
func (r *Receivers) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("ingest: Run called twice")
	}
	var wg sync.WaitGroup
	if r.plainLn != nil {
		wg.Go(func() { r.accept(ctx, r.plainLn, r.plain, r.servePlain) })
		wg.Go(func() { r.serveUDP(ctx, r.plainUDP) })
	}
	if r.pickleLn != nil {
		wg.Go(func() { r.accept(ctx, r.pickleLn, r.pickle, r.servePickle) })
	}
	<-ctx.Done()
	r.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	wg.Wait()
	r.connWG.Wait()
	return nil
}

type serveFunc func(ctx context.Context, rc *receiver, c net.Conn)

// accept runs one TCP accept loop until the listener is closed.
func (r *Receivers) accept(ctx context.Context, ln net.Listener, rc *receiver, serve serveFunc) {
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			if n, ok := rc.connLog.allow(r.opts.Now(), 1); ok {
				rc.log.Error("accept failed", "err", err, "count", n)
			}
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !r.track(c, rc) {
			continue
		}
		r.connWG.Go(func() {
			defer r.untrack(c)
			serve(ctx, rc, c)
		})
	}
}

// track registers c, or closes it when stopping or over MaxConns.
func (r *Receivers) track(c net.Conn, rc *receiver) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		_ = c.Close()
		return false
	}
	if len(r.conns) >= r.opts.MaxConns {
		_ = c.Close()
		r.rejected.Add(1)
		if n, ok := rc.connLog.allow(r.opts.Now(), 1); ok {
			rc.log.Warn("too many connections, closing new ones", "max_conns", r.opts.MaxConns, "count", n)
		}
		return false
	}
	r.accepted.Add(1)
	r.conns[c] = struct{}{}
	return true
}

func (r *Receivers) untrack(c net.Conn) {
	_ = c.Close()
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// sleepCtx sleeps for d; false means ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// limiter lets one log line through per logEvery and counts the events in
// between, so the line can say how many it stands for.
type limiter struct {
	mu   sync.Mutex
	last time.Time
	n    uint64
}

// allow adds n events and reports whether to log now, with the events
// since the last line logged.
func (l *limiter) allow(now time.Time, n uint64) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += n
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		return 0, false
	}
	n, l.n, l.last = l.n, 0, now
	return n, true
}
