package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"time"

	"corral/internal/metrics/carbon"
)

// errIdle ends a connection that sent nothing for IdleTimeout.
var errIdle = errors.New("idle timeout")

// batch collects one connection's points and flushes them to the Sink when
// BatchSize is reached, when the oldest has waited flushEvery, and at the
// end. It belongs to one goroutine.
type batch struct {
	r     *Receivers
	rc    *receiver
	ctx   context.Context
	pts   []carbon.Point
	first time.Time // wall time the oldest pending point was added
}

func (r *Receivers) newBatch(ctx context.Context, rc *receiver) *batch {
	return &batch{r: r, rc: rc, ctx: ctx, pts: make([]carbon.Point, 0, r.opts.BatchSize)}
}

func (b *batch) add(p carbon.Point) {
	if len(b.pts) == 0 {
		b.first = time.Now()
	}
	b.pts = append(b.pts, p)
	if len(b.pts) >= b.r.opts.BatchSize {
		b.flush()
	}
}

func (b *batch) addAll(ps []carbon.Point) {
	if len(ps) == 0 {
		return
	}
	if len(b.pts) == 0 {
		b.first = time.Now()
	}
	b.pts = append(b.pts, ps...)
	if len(b.pts) >= b.r.opts.BatchSize {
		b.flush()
	}
}

// pending reports whether points wait, and until when they may.
func (b *batch) pending() (time.Time, bool) {
	return b.first.Add(flushEvery), len(b.pts) > 0
}

// flush hands the pending points to the Sink in chunks of BatchSize.
func (b *batch) flush() {
	size := b.r.opts.BatchSize
	for pts := b.pts; len(pts) > 0; {
		n := min(len(pts), size)
		b.r.send(b.ctx, b.rc, pts[:n])
		pts = pts[n:]
	}
	clear(b.pts) // drop the name strings for the collector
	b.pts = b.pts[:0]
}

// send writes pts to the Sink. On error it retries with growing sleeps for
// up to retryFor (back-pressure: the connection stops reading meanwhile),
// then drops the points. Once ctx has ended it tries only once.
func (r *Receivers) send(ctx context.Context, rc *receiver, pts []carbon.Point) {
	r.points.Add(uint64(len(pts)))
	start, delay := time.Now(), 10*time.Millisecond
	for {
		err := r.opts.Sink.Write(pts)
		if err == nil {
			return
		}
		r.sinkErrors.Add(1)
		giveUp := ctx.Err() != nil || time.Since(start)+delay > r.opts.retryFor
		if n, ok := rc.sinkLog.allow(r.opts.Now(), 1); ok {
			rc.log.Warn("sink write failed", "err", err, "errors", n, "points", len(pts), "dropping", giveUp)
		}
		if giveUp || !sleepCtx(ctx, delay) {
			r.dropped.Add(uint64(len(pts)))
			return
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// connReader reads a TCP connection for a parser. While points are pending
// its read deadline is their flush time, and on that timeout it flushes
// and reads on, so the parser never sees it; otherwise the deadline is the
// idle timeout, which ends the stream with errIdle.
type connReader struct {
	c        net.Conn
	b        *batch
	idle     time.Duration
	lastRead time.Time
	dl       time.Time // deadline currently set
}

func (cr *connReader) Read(p []byte) (int, error) {
	for {
		now := time.Now()
		due, pending := cr.b.pending()
		if pending && !now.Before(due) {
			cr.b.flush()
			pending = false
		}
		want := due
		if !pending {
			want = cr.lastRead.Add(cr.idle)
			if !now.Before(want) {
				return 0, errIdle
			}
			if cr.dl.After(now) && !cr.dl.After(want) {
				want = cr.dl // an earlier idle deadline still set: keep it, save a call
			}
		}
		if !want.Equal(cr.dl) {
			if err := cr.c.SetReadDeadline(want); err != nil {
				return 0, err
			}
			cr.dl = want
		}
		n, err := cr.c.Read(p)
		if n > 0 {
			cr.lastRead = time.Now()
			if isTimeout(err) {
				err = nil
			}
			return n, err
		}
		if !isTimeout(err) {
			return n, err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

func (r *Receivers) nowUnix() int64 { return r.opts.Now().Unix() }

// badInput counts n bad lines or entries and logs them rate-limited.
func (r *Receivers) badInput(rc *receiver, from net.Addr, n uint64, err error) {
	if n, ok := rc.badLog.allow(r.opts.Now(), n); ok {
		rc.log.Warn("bad input", "err", err, "from", from.String(), "count", n)
	}
}

// endConn logs why a connection ended, unless it was a plain close.
func (r *Receivers) endConn(ctx context.Context, rc *receiver, c net.Conn, err error) {
	switch {
	case err == nil || errors.Is(err, io.EOF) || ctx.Err() != nil:
	case errors.Is(err, errIdle):
		rc.log.Debug("closing idle connection", "from", c.RemoteAddr().String())
	default:
		rc.log.Debug("connection ended", "from", c.RemoteAddr().String(), "err", err)
	}
}

// servePlain reads plaintext lines from one TCP connection.
func (r *Receivers) servePlain(ctx context.Context, rc *receiver, c net.Conn) {
	b := r.newBatch(ctx, rc)
	cr := &connReader{c: c, b: b, idle: r.opts.IdleTimeout, lastRead: time.Now()}
	lr := carbon.NewLineReader(cr, r.nowUnix, func(_ []byte, err error) {
		r.badLines.Add(1)
		r.badInput(rc, c.RemoteAddr(), 1, err)
	})
	for {
		p, ok := lr.Next()
		if !ok {
			break
		}
		b.add(p)
	}
	b.flush()
	r.endConn(ctx, rc, c, lr.Err())
}

// servePickle reads pickle frames from one TCP connection. A malformed
// frame closes the connection, as in carbon; bad entries in a good frame
// are skipped.
func (r *Receivers) servePickle(ctx context.Context, rc *receiver, c net.Conn) {
	b := r.newBatch(ctx, rc)
	cr := &connReader{c: c, b: b, idle: r.opts.IdleTimeout, lastRead: time.Now()}
	br := bufio.NewReaderSize(cr, 64<<10)
	var err error
	for {
		var frame []byte
		frame, err = carbon.ReadPickleFrame(br, 0)
		if err != nil {
			if errors.Is(err, carbon.ErrPickle) {
				r.badPickles.Add(1)
				r.badInput(rc, c.RemoteAddr(), 1, err)
				err = nil
			}
			break
		}
		pts, perr := carbon.ParsePickle(frame)
		var bad *carbon.BadEntriesError
		switch {
		case errors.As(perr, &bad):
			r.badEntries.Add(uint64(bad.Count))
			r.badInput(rc, c.RemoteAddr(), uint64(bad.Count), perr)
		case perr != nil:
			r.badPickles.Add(1)
			r.badInput(rc, c.RemoteAddr(), 1, perr)
		}
		if perr != nil && bad == nil {
			break
		}
		b.addAll(pts)
	}
	b.flush()
	r.endConn(ctx, rc, c, err)
}

// serveUDP reads plaintext datagrams, each one or more lines, until pc is
// closed. Points are batched across datagrams like a TCP connection's.
func (r *Receivers) serveUDP(ctx context.Context, pc net.PacketConn) {
	rc := r.udp
	b := r.newBatch(ctx, rc)
	buf := make([]byte, udpBufSize)
	var dl time.Time
	defer b.flush()
	for {
		due, pending := b.pending()
		if pending && !time.Now().Before(due) {
			b.flush()
			pending = false
		}
		want := time.Time{}
		if pending {
			want = due
		}
		if !want.Equal(dl) {
			if err := pc.SetReadDeadline(want); err != nil {
				return
			}
			dl = want
		}
		n, from, err := pc.ReadFrom(buf)
		if n > 0 {
			r.parseDatagram(rc, b, from, buf[:n])
		}
		if err != nil && !isTimeout(err) {
			if !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				if n, ok := rc.connLog.allow(r.opts.Now(), 1); ok {
					rc.log.Error("udp read failed", "err", err, "count", n)
				}
				if !sleepCtx(ctx, 10*time.Millisecond) {
					return
				}
				continue
			}
			return
		}
	}
}

func (r *Receivers) parseDatagram(rc *receiver, b *batch, from net.Addr, data []byte) {
	now := r.nowUnix()
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		p, err := carbon.ParseLine(line, now)
		if err != nil {
			r.badLines.Add(1)
			r.badInput(rc, from, 1, err)
			continue
		}
		b.add(p)
	}
}
