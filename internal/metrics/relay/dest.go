package relay

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"corral/internal/metrics/carbon"
)

// wakeBatch is the number of queued points at which a destination writes
// without waiting for the flush interval.
const wakeBatch = 4096

// dialTimeout bounds one connection attempt.
const dialTimeout = 5 * time.Second

// dest is one destination: its bounded queue and counters. The queue is a
// pending slice that Write appends to and the sender swaps out whole; the
// swapped-out batch counts against the bound until it is written.
type dest struct {
	addr string
	size int
	wake chan struct{}

	mu        sync.Mutex
	pending   []carbon.Point
	spare     []carbon.Point
	inflight  int
	sent      int64
	dropped   int64
	connected bool
	connGen   int
}

func newDest(addr string, size int) *dest {
	return &dest{addr: addr, size: size, wake: make(chan struct{}, 1)}
}

// enqueue appends what fits and counts the rest as dropped.
func (d *dest) enqueue(points []carbon.Point) {
	d.mu.Lock()
	n := min(len(points), max(0, d.size-len(d.pending)-d.inflight))
	d.pending = append(d.pending, points[:n]...)
	d.dropped += int64(len(points) - n)
	full := len(d.pending) >= wakeBatch
	d.mu.Unlock()
	if full {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// take swaps out the pending points as the batch in flight.
func (d *dest) take() []carbon.Point {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) == 0 {
		return nil
	}
	batch := d.pending
	d.pending = d.spare[:0]
	d.spare = nil
	d.inflight = len(batch)
	return batch
}

// done records a written batch and keeps its memory for reuse.
func (d *dest) done(batch []carbon.Point) {
	d.mu.Lock()
	d.sent += int64(len(batch))
	d.inflight = 0
	clear(batch) // drop the name strings
	if cap(batch) <= 4*wakeBatch || cap(batch) <= d.size {
		d.spare = batch[:0]
	}
	d.mu.Unlock()
}

// lose counts points that could not be sent at shutdown as dropped.
func (d *dest) lose(n int) {
	d.mu.Lock()
	d.dropped += int64(n)
	d.inflight = 0
	d.mu.Unlock()
}

func (d *dest) stats() DestStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DestStats{Addr: d.addr, Sent: d.sent, Dropped: d.dropped,
		Queued: int64(len(d.pending) + d.inflight), Connected: d.connected}
}

// setConnected marks the destination up with a new connection generation,
// or down if gen is still the current one.
func (d *dest) setConnected(up bool, gen int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if up {
		d.connGen++
		d.connected = true
		return d.connGen
	}
	if gen == d.connGen {
		d.connected = false
	}
	return d.connGen
}

// conn is one connection to a destination. A reader goroutine notices when
// the peer closes it (carbon receivers never send anything), so a dead
// connection is replaced before the next batch rather than after a lost one.
type conn struct {
	c    net.Conn
	bw   *bufio.Writer
	gen  int
	dead atomic.Bool
	buf  []byte
}

func (r *Relay) dial(ctx context.Context, d *dest) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := r.opts.Dial(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	cn := &conn{c: c, bw: bufio.NewWriterSize(c, 64<<10)}
	cn.gen = d.setConnected(true, 0)
	go func() {
		_, _ = io.Copy(io.Discard, c)
		cn.dead.Store(true)
		d.setConnected(false, cn.gen)
	}()
	return cn, nil
}

func (cn *conn) close(d *dest) {
	cn.dead.Store(true)
	_ = cn.c.Close()
	d.setConnected(false, cn.gen)
}

// writeBatch writes the points as plaintext lines (or pickle messages of
// up to 500 points) and flushes them.
func (cn *conn) writeBatch(batch []carbon.Point, pickle bool, timeout time.Duration) error {
	if err := cn.c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if pickle {
		for i := 0; i < len(batch); i += pickleChunk {
			cn.buf = AppendPickle(cn.buf[:0], batch[i:min(i+pickleChunk, len(batch))])
			if _, err := cn.bw.Write(cn.buf); err != nil {
				return err
			}
		}
		return cn.bw.Flush()
	}
	for _, p := range batch {
		cn.buf = AppendLine(cn.buf[:0], p)
		if _, err := cn.bw.Write(cn.buf); err != nil {
			return err
		}
	}
	return cn.bw.Flush()
}

// AppendLine appends p as a carbon plaintext line "name value timestamp\n".
// Values are written in their shortest exact decimal form without an
// exponent (1000000, 0.25), as carbon's Python str() writes them for the
// common range; very large or small magnitudes use an exponent (1e+21),
// which every carbon receiver parses.
func AppendLine(b []byte, p carbon.Point) []byte {
	b = append(b, p.Name...)
	b = append(b, ' ')
	if a := math.Abs(p.Value); a == 0 || (a >= 1e-6 && a < 1e21) {
		b = strconv.AppendFloat(b, p.Value, 'f', -1, 64)
	} else {
		b = strconv.AppendFloat(b, p.Value, 'g', -1, 64)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.Time, 10)
	return append(b, '\n')
}

// send is the loop of one destination: take the queue, make sure there is
// a connection (with exponential backoff), write, and on a write error
// reconnect and write the same batch again.
func (r *Relay) send(ctx context.Context, d *dest) {
	log := r.log.With("destination", d.addr)
	tick := time.NewTicker(r.opts.FlushInterval)
	defer tick.Stop()
	backoff := r.opts.MinBackoff
	failing := false
	var cn *conn
	var batch []carbon.Point
	for {
		if batch == nil {
			if batch = d.take(); batch == nil {
				select {
				case <-ctx.Done():
					r.shutdown(d, cn, nil, log)
					return
				case <-d.wake:
				case <-tick.C:
				}
				continue
			}
		}
		if cn != nil && cn.dead.Load() {
			cn.close(d)
			cn = nil
		}
		if cn == nil {
			var err error
			cn, err = r.dial(ctx, d)
			if err != nil {
				if ctx.Err() != nil {
					r.shutdown(d, nil, batch, log)
					return
				}
				if !failing {
					log.Warn("cannot connect; queueing", "err", err, "retry", backoff)
					failing = true
				}
				if !r.opts.Sleep(ctx, backoff) {
					r.shutdown(d, nil, batch, log)
					return
				}
				backoff = min(2*backoff, r.opts.MaxBackoff)
				continue
			}
		}
		if err := cn.writeBatch(batch, r.pickle, r.opts.WriteTimeout); err != nil {
			if !failing {
				log.Warn("write failed; reconnecting to send the batch again", "err", err, "points", len(batch))
				failing = true
			}
			cn.close(d)
			cn = nil
			// A destination that accepts and then drops connections must
			// not be redialled in a tight loop.
			if !r.opts.Sleep(ctx, backoff) {
				r.shutdown(d, nil, batch, log)
				return
			}
			backoff = min(2*backoff, r.opts.MaxBackoff)
			continue
		}
		if failing {
			log.Info("sending again")
			failing = false
		}
		backoff = r.opts.MinBackoff
		d.done(batch)
		batch = nil
	}
}

// shutdown makes one attempt, bounded by ShutdownTimeout, to write the
// batch in flight and everything queued, then closes the connection.
// Points it cannot write are counted as dropped.
func (r *Relay) shutdown(d *dest, cn *conn, batch []carbon.Point, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.ShutdownTimeout)
	defer cancel()
	rest := d.take()
	points := append(batch, rest...)
	if len(points) == 0 {
		if cn != nil {
			cn.close(d)
		}
		return
	}
	if cn != nil && cn.dead.Load() {
		cn.close(d)
		cn = nil
	}
	var err error
	if cn == nil {
		cn, err = r.dial(ctx, d)
	}
	if err == nil {
		err = cn.writeBatch(points, r.pickle, time.Until(deadlineOf(ctx)))
		cn.close(d)
	}
	if err != nil {
		log.Warn("points not sent at shutdown", "err", err, "points", len(points))
		d.lose(len(points))
		return
	}
	d.done(points)
}

func deadlineOf(ctx context.Context) time.Time {
	t, _ := ctx.Deadline()
	return t
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
