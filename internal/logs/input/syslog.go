package input

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"corral/internal/api"
	"corral/internal/logs/parse"
)

// Syslog listens for syslog messages on one address over UDP and TCP, as
// rsyslog's imudp and imtcp do: RFC 5424 and RFC 3164 (the parse.Syslog
// parser), one message per UDP datagram, and on TCP octet-counted frames
// ("57 <34>1 ...") and newline-terminated ones mixed on one stream, told
// apart per message (RFC 6587). Entries have Source "syslog", the fields
// parse.Syslog finds and the sender's IP address as "peer".
type Syslog struct {
	// Addr is the UDP and TCP address to listen on (":5514"); a port of 0
	// picks one free for both (see LocalAddr).
	Addr string
	// Node is the node name put on every entry.
	Node string
	// MaxMessage bounds a message in bytes; longer ones are cut and
	// marked (parse.DefaultMaxFrame, 64 KiB, when 0).
	MaxMessage int
	// MaxConns bounds the open TCP connections (DefaultMaxConns when 0);
	// more are closed as soon as they are accepted.
	MaxConns int
	// IdleTimeout closes a TCP connection that sent nothing for this long
	// (DefaultIdleTimeout when 0, never when negative).
	IdleTimeout time.Duration
	// MaxBatch is the most entries handed to Sink at once (DefaultMaxBatch).
	MaxBatch int
	// FlushDelay is the longest UDP messages wait for more before they are
	// handed to Sink (50 ms when 0). TCP connections hand over what they
	// decoded whenever they wait for the network.
	FlushDelay time.Duration
	// Sink receives the entries (required).
	Sink Sink
	// Logger logs connection problems (nothing when nil).
	Logger *slog.Logger
	// Now is the clock for entries without a time and for the year of RFC
	// 3164 timestamps (time.Now when nil).
	Now func() time.Time
	// Location is the zone of RFC 3164 timestamps (time.Local when nil).
	Location *time.Location

	mu  sync.Mutex
	tcp net.Listener
	udp net.PacketConn
	st  counters
}

// Listen binds the TCP and UDP sockets. Run calls it when it was not
// called before; calling it first reports a busy port at once and lets a
// test learn the port picked for ":0".
func (s *Syslog) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcp != nil {
		return nil
	}
	addr := s.Addr
	if addr == "" {
		addr = ":5514"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("syslog listen address %q: %w", addr, err)
	}
	// With port 0 the kernel picks the TCP port; UDP may find it taken.
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("syslog listen tcp %s: %w", addr, err)
		}
		udpAddr := net.JoinHostPort(host, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
		pc, err := net.ListenPacket("udp", udpAddr)
		if err != nil {
			ln.Close()
			if port == "0" && attempt < 20 {
				continue
			}
			return fmt.Errorf("syslog listen udp %s: %w", udpAddr, err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(4 << 20) // best effort; the kernel caps it at rmem_max
		}
		s.tcp, s.udp = ln, pc
		return nil
	}
}

// LocalAddr is the bound TCP address (the UDP port is the same), nil
// before Listen.
func (s *Syslog) LocalAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Stats returns the counters.
func (s *Syslog) Stats() Stats { return s.st.snapshot() }

// Run receives messages until ctx ends, then closes the sockets and every
// connection and returns once all decoded entries were handed to Sink.
func (s *Syslog) Run(ctx context.Context) error {
	if s.Sink == nil {
		return errors.New("syslog input: no sink")
	}
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln, pc := s.tcp, s.udp
	s.mu.Unlock()
	log := orDiscard(s.Logger).With("component", "syslog-input")
	lim := newLimits(s.MaxConns, s.IdleTimeout, DefaultIdleTimeout, s.MaxBatch)
	log.Info("listening", "addr", ln.Addr().String(), "proto", "tcp+udp")

	var wg sync.WaitGroup
	var udpErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		udpErr = s.runUDP(ctx, pc, lim, log)
	}()
	err := serveTCP(ctx, ln, lim.maxConns, &s.st, log, func(c net.Conn) {
		s.serveConn(c, lim, log)
	})
	pc.Close()
	wg.Wait()
	return errors.Join(err, udpErr)
}

// maxMessage is MaxMessage with its default.
func (s *Syslog) maxMessage() int {
	if s.MaxMessage > 0 {
		return s.MaxMessage
	}
	return parse.DefaultMaxFrame
}

func (s *Syslog) parser() parse.Syslog {
	return parse.Syslog{Now: orNow(s.Now), Location: s.Location}
}

// runUDP reads datagrams until the socket is closed.
func (s *Syslog) runUDP(ctx context.Context, pc net.PacketConn, lim limits, log *slog.Logger) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	delay := s.FlushDelay
	if delay <= 0 {
		delay = 50 * time.Millisecond
	}
	b := batcher{sink: s.Sink, st: &s.st, max: lim.maxBatch}
	defer b.flush()
	p, now, max := s.parser(), orNow(s.Now), s.maxMessage()
	buf := make([]byte, 64<<10)
	waiting := false // a read deadline is set
	for {
		switch {
		case len(b.pending) > 0 && !waiting:
			_ = pc.SetReadDeadline(time.Now().Add(delay))
			waiting = true
		case len(b.pending) == 0 && waiting:
			_ = pc.SetReadDeadline(time.Time{})
			waiting = false
		}
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				b.flush()
				continue
			}
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Not expected on an unconnected socket; keep listening.
			log.Warn("udp read failed", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.st.bytes.Add(uint64(n))
		msg := bytes.TrimRight(buf[:n], "\r\n\x00")
		if len(msg) == 0 {
			continue
		}
		msg, cut := parse.Truncate(msg, max)
		if cut {
			s.st.truncated.Add(1)
		}
		s.decode(p, msg, peerIP(addr), now(), &b)
	}
}

// serveConn reads one TCP connection until it ends.
func (s *Syslog) serveConn(c net.Conn, lim limits, log *slog.Logger) {
	peer := peerIP(c.RemoteAddr())
	b := batcher{sink: s.Sink, st: &s.st, max: lim.maxBatch}
	r := &waitReader{r: &connReader{c: c, idle: lim.idle, st: &s.st}, before: b.flushed}
	err := s.readStream(r, peer, &b)
	b.flush()
	logEnd(log, c, err)
}

// readStream decodes a TCP stream of syslog frames into b.
func (s *Syslog) readStream(r io.Reader, peer string, b *batcher) error {
	max := s.maxMessage()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(max+16, 64<<10)), max+16)
	sc.Split(parse.SplitSyslog(max))
	p, now := s.parser(), orNow(s.Now)
	for sc.Scan() {
		tok := sc.Bytes()
		if len(tok) > max || marked(tok) {
			s.st.truncated.Add(1)
		}
		s.decode(p, tok, peer, now(), b)
	}
	return sc.Err()
}

// decode parses one message into b.
func (s *Syslog) decode(p parse.Syslog, msg []byte, peer string, now time.Time, b *batcher) {
	var e api.LogEntry
	if err := p.Parse(msg, &e); err != nil {
		s.st.malformed.Add(1)
	}
	finish(&e, s.Node, "syslog", peer, now)
	b.add(e, len(msg))
}

// marked says whether tok ends with parse's truncation marker
// (" …[truncated 123 bytes]").
func marked(tok []byte) bool {
	const tail = " bytes]"
	if !bytes.HasSuffix(tok, []byte(tail)) {
		return false
	}
	i := bytes.LastIndex(tok, []byte(parse.Marker))
	if i < 0 {
		return false
	}
	digits := tok[i+len(parse.Marker) : len(tok)-len(tail)]
	if len(digits) == 0 {
		return false
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return false
		}
	}
	return true
}

// logEnd logs why a connection ended when it was not a plain close.
func logEnd(log *slog.Logger, c net.Conn, err error) {
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF):
	case errors.As(err, &ne) && ne.Timeout():
		log.Debug("idle connection closed", "peer", c.RemoteAddr().String())
	default:
		log.Info("connection ended", "peer", c.RemoteAddr().String(), "err", err)
	}
}
