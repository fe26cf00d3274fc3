// Package input holds the agent's network log inputs: a syslog listener
// (RFC 3164 and 5424 over UDP and TCP, octet-counted and newline framing
// detected per message, as rsyslog's omfwd sends), a JSON lines listener
// (Logstash's tcp input with the json_lines codec) and a Beats (lumberjack
// v2) listener that Filebeat ships to.
//
// Each input is a component with Run(ctx) error that turns what arrives into
// api.LogEntry values with the parsers of the logs/parse package and hands
// them in batches to a Sink; the agent's composition root builds them and
// spools what they deliver. Every input bounds what one peer can make it
// hold: a line, frame or event longer than its MaxMessage is cut with
// parse's truncation marker, connections are limited in number and closed
// when idle, and anything unparseable is kept as the message and counted
// rather than dropped. A line cut short by the end of its connection is
// handed on as it is; a Beats event cut short is not (its sender sends it
// again).
//
// Only api, logs/parse and the standard library are imported; the Beats
// wire constants come from github.com/elastic/go-lumber.
package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"corral/internal/api"
)

// Sink receives the entries an input decoded, in batches, in arrival order
// per connection. It is called from the connections' goroutines, possibly
// at the same time, and must not keep the slice or block long: the agent
// spools the entries. The Beats input acknowledges a batch to its sender
// only after the Sink has returned.
type Sink func(entries []api.LogEntry)

// tcpSocket is the listening socket of a TCP input (JSON lines, Beats).
type tcpSocket struct {
	mu sync.Mutex
	ln net.Listener
}

// listen binds addr (def when empty) once; what names the input in errors.
func (t *tcpSocket) listen(addr, def, what string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln != nil {
		return nil
	}
	if addr == "" {
		addr = def
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listen %s: %w", what, addr, err)
	}
	t.ln = ln
	return nil
}

// LocalAddr is the bound address, nil before Listen.
func (t *tcpSocket) LocalAddr() net.Addr {
	if ln := t.listener(); ln != nil {
		return ln.Addr()
	}
	return nil
}

func (t *tcpSocket) listener() net.Listener {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ln
}

// Stats are an input's counters since it started.
type Stats struct {
	Received    uint64 // entries handed to the Sink
	Malformed   uint64 // entries whose text did not parse (kept with the raw text as message), and protocol errors
	Truncated   uint64 // lines, frames or events cut at MaxMessage
	Connections uint64 // TCP connections accepted
	Rejected    uint64 // TCP connections closed at once because MaxConns were open
	Open        uint64 // TCP connections open now
	Bytes       uint64 // bytes read from the network
}

// counters are the live Stats of one input.
type counters struct {
	received, malformed, truncated, connections, rejected, bytes atomic.Uint64
	open                                                         atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received:    c.received.Load(),
		Malformed:   c.malformed.Load(),
		Truncated:   c.truncated.Load(),
		Connections: c.connections.Load(),
		Rejected:    c.rejected.Load(),
		Open:        uint64(max(c.open.Load(), 0)),
		Bytes:       c.bytes.Load(),
	}
}

// Defaults of the inputs' limits.
const (
	// DefaultMaxConns is the default limit of open TCP connections per input.
	DefaultMaxConns = 256
	// DefaultIdleTimeout closes a syslog or JSON lines connection that sent
	// nothing for this long. It is long because rsyslog loses the first
	// message it sends on a connection the peer has closed.
	DefaultIdleTimeout = time.Hour
	// DefaultBeatsIdleTimeout closes a Beats connection that sent nothing
	// for this long (Logstash's client_inactivity_timeout); Filebeat
	// reconnects when it has more to send.
	DefaultBeatsIdleTimeout = time.Minute
	// DefaultMaxBatch is the most entries handed to the Sink at once.
	DefaultMaxBatch = 1024
	// DefaultMaxJSONLine bounds a JSON line and a Beats event: 1 MiB.
	DefaultMaxJSONLine = 1 << 20
)

// limits are the settings every TCP input shares, with defaults applied.
type limits struct {
	maxConns int
	idle     time.Duration // 0: none
	maxBatch int
}

func newLimits(maxConns int, idle, defIdle time.Duration, maxBatch int) limits {
	l := limits{maxConns: maxConns, idle: idle, maxBatch: maxBatch}
	if l.maxConns <= 0 {
		l.maxConns = DefaultMaxConns
	}
	switch {
	case l.idle == 0:
		l.idle = defIdle
	case l.idle < 0:
		l.idle = 0
	}
	if l.maxBatch <= 0 {
		l.maxBatch = DefaultMaxBatch
	}
	return l
}

// serveTCP accepts connections on ln until ctx ends, runs handle for each
// in its own goroutine (closing the connection after), refuses connections
// beyond maxConns, and on return has closed ln and every connection and
// waited for their handlers.
func serveTCP(ctx context.Context, ln net.Listener, maxConns int, st *counters, log *slog.Logger, handle func(net.Conn)) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer func() {
		stop()
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		mu.Lock()
		if len(conns) >= maxConns || ctx.Err() != nil {
			mu.Unlock()
			st.rejected.Add(1)
			log.Debug("connection refused: too many open", "peer", c.RemoteAddr().String(), "max_conns", maxConns)
			c.Close()
			continue
		}
		conns[c] = struct{}{}
		mu.Unlock()
		st.connections.Add(1)
		st.open.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				st.open.Add(-1)
			}()
			handle(c)
		}()
	}
}

// connReader reads from a connection with an idle timeout, counting bytes.
type connReader struct {
	c    net.Conn
	idle time.Duration
	st   *counters
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		if err := r.c.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
			return 0, fmt.Errorf("set read deadline: %w", err)
		}
	}
	n, err := r.c.Read(p)
	r.st.bytes.Add(uint64(n))
	return n, err
}

// waitReader calls before ahead of every read of r, which may block: the
// inputs hand on (and the Beats input acknowledges) what they decoded
// before they wait for more. An error from before is returned by Read.
type waitReader struct {
	r      io.Reader
	before func() error
}

func (w *waitReader) Read(p []byte) (int, error) {
	if err := w.before(); err != nil {
		return 0, err
	}
	return w.r.Read(p)
}

// peerIP is the address of a connection's peer without the port.
func peerIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// finish sets what every input adds to a parsed entry: the node, the
// source, the receive time when the text had none and the peer's address
// as the "peer" field (unless the text had one).
func finish(e *api.LogEntry, node, source, peer string, now time.Time) {
	e.Node = node
	e.Source = source
	if e.Time.IsZero() {
		e.Time = now
	}
	if peer != "" {
		if e.Fields == nil {
			e.Fields = make(map[string]string, 1)
		}
		if _, ok := e.Fields["peer"]; !ok {
			e.Fields["peer"] = peer
		}
	}
}

// maxBatchBytes bounds the text a batch holds: a batch is handed on when
// its entries came from this many bytes, whatever their number.
const maxBatchBytes = 4 << 20

// batcher collects entries and hands them to a Sink.
type batcher struct {
	sink    Sink
	st      *counters
	max     int
	pending []api.LogEntry
	size    int // bytes the pending entries were decoded from
}

// add appends e, decoded from size bytes, flushing when the batch is full.
func (b *batcher) add(e api.LogEntry, size int) {
	b.pending = append(b.pending, e)
	b.size += size
	if len(b.pending) >= b.max || b.size >= maxBatchBytes {
		b.flush()
	}
}

// flushed is flush for a waitReader.
func (b *batcher) flushed() error {
	b.flush()
	return nil
}

// flush hands the pending entries to the Sink.
func (b *batcher) flush() {
	if len(b.pending) == 0 {
		return
	}
	b.st.received.Add(uint64(len(b.pending)))
	b.sink(b.pending)
	// The Sink does not keep the slice, but clear it so the entries'
	// strings are not held until they are overwritten.
	clear(b.pending)
	b.pending = b.pending[:0]
	b.size = 0
}

// orDiscard is l, or a logger that writes nothing.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// orNow is now, or time.Now.
func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
