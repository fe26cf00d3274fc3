package input

import (
	"bufio"
	"compress/zlib"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	protocol "github.com/elastic/go-lumber/protocol/v2"

	"corral/internal/api"
	"corral/internal/logs/parse"
)

// Beats listens for the lumberjack v2 protocol that Filebeat's logstash
// output and Logstash's beats input speak. Each event's "message" is the
// message, "@timestamp" the time, the other members flattened to "a.b"
// fields ("log.file.path", "host.name", "fields.env"); "@metadata" is
// dropped. Entries have Source "beats" and the sender's IP as "peer".
//
// Delivery is at least once: events are acknowledged to the sender only
// after the Sink has returned with them. A window is acknowledged in parts
// as it is handed on: before the input waits for more from the network,
// at MaxBatch events and at the window's end (the acknowledged sequence
// number is the count of the window's events handed on). A sender that
// goes away mid-window has been acknowledged only what was handed on and
// sends the rest again; complete events read before a disconnect are still
// handed to the Sink, so they may arrive twice. While the Sink runs, the
// input repeats its last acknowledgement (0 at a window's start, as
// Logstash does) every Keepalive, so that a slow Sink does not make the
// sender time out and send the window again.
//
// The server is written here rather than taken from go-lumber's server
// package, which allocates whatever length a frame header announces and
// holds a whole window in memory; this one bounds an event at MaxMessage
// and a batch at MaxBatch entries.
type Beats struct {
	// Addr is the TCP address to listen on (":5044", Logstash's).
	Addr string
	// Node is the node name put on every entry.
	Node string
	// MaxMessage bounds one event's JSON in bytes; a longer one becomes an
	// entry with its start, marked, as the message (DefaultMaxJSONLine).
	MaxMessage int
	// MaxConns bounds the open connections (DefaultMaxConns when 0).
	MaxConns int
	// IdleTimeout closes a connection that sent nothing for this long
	// (DefaultBeatsIdleTimeout when 0, never when negative); it also bounds
	// the write of an acknowledgement.
	IdleTimeout time.Duration
	// MaxBatch is the most entries handed to Sink at once (DefaultMaxBatch).
	MaxBatch int
	// Keepalive is how often the last acknowledgement is repeated while
	// the Sink runs (DefaultBeatsKeepalive when 0, never when negative).
	Keepalive time.Duration
	// TLS, when set, makes the listener speak TLS (Filebeat's ssl settings).
	TLS *tls.Config
	// Sink receives the entries (required).
	Sink Sink
	// Logger logs connection problems (nothing when nil).
	Logger *slog.Logger
	// Now is the clock for events without a time (time.Now when nil).
	Now func() time.Time
	// Location is the zone of timestamps written without one (time.Local).
	Location *time.Location

	tcpSocket
	st counters
}

// DefaultBeatsKeepalive is the default of Beats.Keepalive.
const DefaultBeatsKeepalive = 3 * time.Second

// ErrProtocol is wrapped by the errors of a Beats connection that broke
// the lumberjack v2 protocol.
var ErrProtocol = errors.New("lumberjack protocol error")

// Listen binds the socket; Run calls it when it was not called before.
func (b *Beats) Listen() error { return b.listen(b.Addr, ":5044", "beats") }

// Stats returns the counters; protocol errors count as Malformed.
func (b *Beats) Stats() Stats { return b.st.snapshot() }

// Run receives events until ctx ends, then closes the socket and every
// connection and returns once all decoded entries were handed to Sink.
func (b *Beats) Run(ctx context.Context) error {
	if b.Sink == nil {
		return errors.New("beats input: no sink")
	}
	if err := b.Listen(); err != nil {
		return err
	}
	ln := b.listener()
	log := orDiscard(b.Logger).With("component", "beats-input")
	lim := newLimits(b.MaxConns, b.IdleTimeout, DefaultBeatsIdleTimeout, b.MaxBatch)
	log.Info("listening", "addr", ln.Addr().String(), "proto", "lumberjack", "tls", b.TLS != nil)
	if b.TLS != nil {
		ln = tls.NewListener(ln, b.TLS)
	}
	return serveTCP(ctx, ln, lim.maxConns, &b.st, log, func(c net.Conn) {
		r := &connReader{c: c, idle: lim.idle, st: &b.st}
		w := &deadlineWriter{c: c, timeout: lim.idle}
		err := b.serve(r, w, peerIP(c.RemoteAddr()), lim.maxBatch)
		if errors.Is(err, ErrProtocol) {
			log.Warn("closing connection", "peer", c.RemoteAddr().String(), "err", err)
			return
		}
		logEnd(log, c, err)
	})
}

// deadlineWriter writes to a connection with a timeout per write.
type deadlineWriter struct {
	c       net.Conn
	timeout time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.timeout > 0 {
		if err := w.c.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return 0, fmt.Errorf("set write deadline: %w", err)
		}
	}
	return w.c.Write(p)
}

// serve speaks lumberjack v2 on one connection until it ends: windows of
// events read from r, acknowledgements written to w.
func (b *Beats) serve(r io.Reader, w io.Writer, peer string, maxBatch int) error {
	c := &beatsConn{
		b:         b,
		out:       w,
		peer:      peer,
		max:       b.maxMessage(),
		p:         parse.JSON{Location: b.Location},
		now:       orNow(b.Now),
		keepalive: b.Keepalive,
	}
	if c.keepalive == 0 {
		c.keepalive = DefaultBeatsKeepalive
	}
	c.batch = batcher{sink: c.handOn, st: &b.st, max: maxBatch}
	c.in = bufio.NewReaderSize(&waitReader{r: r, before: c.ack}, 64<<10)
	err := c.run()
	c.batch.flush() // complete events read before the end; not acknowledged
	if c.timer != nil {
		c.timer.Stop()
	}
	if errors.Is(err, ErrProtocol) {
		b.st.malformed.Add(1)
	}
	if errors.Is(err, io.EOF) && c.seq == c.count {
		return nil // closed between windows
	}
	return err
}

func (b *Beats) maxMessage() int {
	if b.MaxMessage > 0 {
		return b.MaxMessage
	}
	return DefaultMaxJSONLine
}

// beatsConn is the state of one lumberjack v2 connection.
type beatsConn struct {
	b     *Beats
	in    *bufio.Reader
	out   io.Writer
	peer  string
	max   int
	batch batcher
	p     parse.JSON
	now   func() time.Time

	count, seq uint32 // of the current window: events announced and read
	buf        []byte // one event's JSON

	keepalive time.Duration
	mu        sync.Mutex  // guards the writes to out and the fields below
	acked     uint32      // events of the current window acknowledged
	inSink    bool        // the Sink is running: keepalives are due
	timer     *time.Timer // sends the keepalives
}

// handOn calls the Sink, repeating the last acknowledgement every
// keepalive while it runs.
func (c *beatsConn) handOn(es []api.LogEntry) {
	if c.keepalive <= 0 {
		c.b.Sink(es)
		return
	}
	c.mu.Lock()
	c.inSink = true
	if c.timer == nil {
		c.timer = time.AfterFunc(c.keepalive, c.keepaliveTick)
	} else {
		c.timer.Reset(c.keepalive)
	}
	c.mu.Unlock()
	c.b.Sink(es)
	c.mu.Lock()
	c.inSink = false
	c.timer.Stop()
	c.mu.Unlock()
}

// keepaliveTick repeats the last acknowledgement while the Sink runs. A
// failed write is left for the next read or write to find.
func (c *beatsConn) keepaliveTick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.inSink {
		return
	}
	_ = c.writeAckLocked(c.acked)
	c.timer.Reset(c.keepalive)
}

// run reads windows until the connection ends or breaks the protocol.
func (c *beatsConn) run() error {
	var hdr [6]byte
	for {
		if _, err := io.ReadFull(c.in, hdr[:2]); err != nil {
			return err
		}
		if hdr[0] != protocol.CodeVersion {
			return fmt.Errorf("%w: version %q, want %q", ErrProtocol, hdr[0], protocol.CodeVersion)
		}
		if hdr[1] != protocol.CodeWindowSize {
			return fmt.Errorf("%w: frame %q where a window ('W') starts", ErrProtocol, hdr[1])
		}
		if _, err := io.ReadFull(c.in, hdr[2:6]); err != nil {
			return unexpected(err)
		}
		c.count, c.seq = binary.BigEndian.Uint32(hdr[2:6]), 0
		c.mu.Lock()
		c.acked = 0
		c.mu.Unlock()
		for c.seq < c.count {
			if err := c.frame(); err != nil {
				return err
			}
		}
		if err := c.ack(); err != nil {
			return err
		}
	}
}

// frame reads one data frame of the current window: 'J' or 'C'.
func (c *beatsConn) frame() error {
	var hdr [2]byte
	if _, err := io.ReadFull(c.in, hdr[:]); err != nil {
		return unexpected(err)
	}
	if hdr[0] != protocol.CodeVersion {
		return fmt.Errorf("%w: version %q, want %q", ErrProtocol, hdr[0], protocol.CodeVersion)
	}
	switch hdr[1] {
	case protocol.CodeJSONDataFrame:
		return c.event(c.in)
	case protocol.CodeCompressed:
		return c.compressed()
	}
	return fmt.Errorf("%w: frame %q in a window", ErrProtocol, hdr[1])
}

// compressed reads a 'C' frame: a length and a zlib stream of 'J' frames.
func (c *beatsConn) compressed() error {
	var hdr [4]byte
	if _, err := io.ReadFull(c.in, hdr[:]); err != nil {
		return unexpected(err)
	}
	lr := &io.LimitedReader{R: c.in, N: int64(binary.BigEndian.Uint32(hdr[:]))}
	zr, err := zlib.NewReader(lr)
	if err != nil {
		return fmt.Errorf("%w: compressed frame: %v", ErrProtocol, err)
	}
	defer zr.Close()
	for c.seq < c.count {
		var fh [2]byte
		n, err := io.ReadFull(zr, fh[:])
		if n == 0 && errors.Is(err, io.EOF) {
			break // the frame ends here; the window may go on
		}
		if err != nil {
			return fmt.Errorf("%w: compressed frame: %v", ErrProtocol, unexpected(err))
		}
		if fh[0] != protocol.CodeVersion || fh[1] != protocol.CodeJSONDataFrame {
			return fmt.Errorf("%w: frame %q%q in a compressed frame", ErrProtocol, fh[0], fh[1])
		}
		if err := c.event(zr); err != nil {
			if errors.Is(err, ErrProtocol) || lr.N > 0 {
				return fmt.Errorf("%w: compressed frame: %v", ErrProtocol, err)
			}
			return err
		}
	}
	// Skip what is left of the frame unread.
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return err
	}
	if lr.N > 0 {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// event reads the rest of a 'J' frame (sequence, length, JSON) from r.
func (c *beatsConn) event(r io.Reader) error {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return unexpected(err)
	}
	size := int64(binary.BigEndian.Uint32(hdr[4:]))
	keep := min(size, int64(c.max))
	if int64(cap(c.buf)) < keep {
		c.buf = make([]byte, keep)
	}
	data := c.buf[:keep]
	if _, err := io.ReadFull(r, data); err != nil {
		return unexpected(err)
	}
	var e api.LogEntry
	if size > keep {
		if _, err := io.CopyN(io.Discard, r, size-keep); err != nil {
			return unexpected(err)
		}
		c.b.st.truncated.Add(1)
		msg, _ := parse.Truncate(data, c.max)
		e.Message = string(parse.AppendMarker(msg[:len(msg):len(msg)], size-keep))
	} else {
		if err := c.p.Parse(data, &e); err != nil {
			c.b.st.malformed.Add(1)
		}
		for k := range e.Fields {
			if strings.HasPrefix(k, "@metadata.") {
				delete(e.Fields, k)
			}
		}
	}
	finish(&e, c.b.Node, "beats", c.peer, c.now())
	c.seq++
	c.batch.add(e, len(data))
	if len(c.batch.pending) == 0 { // add flushed a full batch
		return c.writeAck()
	}
	return nil
}

// ack hands the pending entries on and acknowledges them. It runs at the
// end of a window and before every read that may wait for the network.
func (c *beatsConn) ack() error {
	c.batch.flush()
	return c.writeAck()
}

// writeAck acknowledges the events read so far, all handed on.
func (c *beatsConn) writeAck() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seq == c.acked {
		return nil
	}
	if err := c.writeAckLocked(c.seq); err != nil {
		return err
	}
	c.acked = c.seq
	return nil
}

// writeAckLocked writes an acknowledgement of seq; c.mu is held.
func (c *beatsConn) writeAckLocked(seq uint32) error {
	var msg [6]byte
	msg[0], msg[1] = protocol.CodeVersion, protocol.CodeACK
	binary.BigEndian.PutUint32(msg[2:], seq)
	if _, err := c.out.Write(msg[:]); err != nil {
		return fmt.Errorf("write ack: %w", err)
	}
	return nil
}

// unexpected turns an EOF in the middle of a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
