package input

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"corral/internal/api"
	"corral/internal/logs/parse"
)

// JSONLines listens on TCP for one JSON object per line, as Logstash's tcp
// input with the json_lines codec does (and what its tcp output and most
// logging libraries' TCP appenders send). Each line is parsed by
// parse.JSON: nested objects flattened to "a.b" fields, message from
// message/msg/log, time from @timestamp/time/ts/timestamp, level from
// level/severity/log.level. A line that is not a JSON object is kept as
// the message and counted as malformed (Logstash's _jsonparsefailure).
// Entries have Source "json" and the sender's IP address as "peer".
type JSONLines struct {
	// Addr is the TCP address to listen on (":5545").
	Addr string
	// Node is the node name put on every entry.
	Node string
	// MaxMessage bounds a line in bytes; a longer one is cut, marked and
	// kept as the message (DefaultMaxJSONLine, 1 MiB, when 0).
	MaxMessage int
	// MaxConns bounds the open connections (DefaultMaxConns when 0).
	MaxConns int
	// IdleTimeout closes a connection that sent nothing for this long
	// (DefaultIdleTimeout when 0, never when negative).
	IdleTimeout time.Duration
	// MaxBatch is the most entries handed to Sink at once (DefaultMaxBatch).
	MaxBatch int
	// Sink receives the entries (required).
	Sink Sink
	// Logger logs connection problems (nothing when nil).
	Logger *slog.Logger
	// Now is the clock for entries without a time (time.Now when nil).
	Now func() time.Time
	// Location is the zone of timestamps written without one (time.Local).
	Location *time.Location

	tcpSocket
	st counters
}

// Listen binds the socket; Run calls it when it was not called before.
func (j *JSONLines) Listen() error { return j.listen(j.Addr, ":5545", "json lines") }

// Stats returns the counters.
func (j *JSONLines) Stats() Stats { return j.st.snapshot() }

// Run receives lines until ctx ends, then closes the socket and every
// connection and returns once all decoded entries were handed to Sink.
func (j *JSONLines) Run(ctx context.Context) error {
	if j.Sink == nil {
		return errors.New("json lines input: no sink")
	}
	if err := j.Listen(); err != nil {
		return err
	}
	ln := j.listener()
	log := orDiscard(j.Logger).With("component", "json-input")
	lim := newLimits(j.MaxConns, j.IdleTimeout, DefaultIdleTimeout, j.MaxBatch)
	log.Info("listening", "addr", ln.Addr().String(), "proto", "tcp")
	return serveTCP(ctx, ln, lim.maxConns, &j.st, log, func(c net.Conn) {
		b := batcher{sink: j.Sink, st: &j.st, max: lim.maxBatch}
		r := &waitReader{r: &connReader{c: c, idle: lim.idle, st: &j.st}, before: b.flushed}
		err := j.readStream(r, peerIP(c.RemoteAddr()), &b)
		b.flush()
		logEnd(log, c, err)
	})
}

func (j *JSONLines) maxMessage() int {
	if j.MaxMessage > 0 {
		return j.MaxMessage
	}
	return DefaultMaxJSONLine
}

// readStream decodes a stream of JSON lines into b.
func (j *JSONLines) readStream(r io.Reader, peer string, b *batcher) error {
	max := j.maxMessage()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(max+2, 64<<10)), max+2)
	sc.Split(SplitLines(max))
	p, now := parse.JSON{Location: j.Location}, orNow(j.Now)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > max {
			j.st.truncated.Add(1)
		}
		var e api.LogEntry
		if err := p.Parse(line, &e); err != nil {
			j.st.malformed.Add(1)
		}
		finish(&e, j.Node, "json", peer, now())
		b.add(e, len(line))
	}
	return sc.Err()
}

// SplitLines returns a bufio.SplitFunc for newline-terminated lines (a CR
// before the LF is dropped, blank lines are skipped, a last line without
// LF counts) that cuts a line longer than max bytes to max, appends
// parse's truncation marker and skips the rest of it, so the scanner's
// buffer never needs more than max+2 bytes
// (scanner.Buffer(buf, max+2)). A cut token is longer than max; no other
// is. It keeps the skipping state: make one per stream.
func SplitLines(max int) bufio.SplitFunc {
	if max <= 0 {
		max = DefaultMaxJSONLine
	}
	var long []byte   // the kept start of an over-long line being skipped
	var dropped int64 // bytes of it skipped so far
	var lastCR bool   // the last byte skipped was a CR (perhaps before the LF)
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if long != nil {
			i := bytes.IndexByte(data, '\n')
			if i < 0 && !atEOF {
				if len(data) > 0 {
					dropped += int64(len(data))
					lastCR = data[len(data)-1] == '\r'
				}
				return len(data), nil, nil
			}
			adv, n := len(data), len(data) // consumed, and bytes of the line
			if i >= 0 {
				adv, n = i+1, i
			}
			switch {
			case n > 0 && data[n-1] == '\r':
				n--
			case n == 0 && lastCR:
				dropped--
			}
			tok := parse.AppendMarker(long, dropped+int64(n))
			long, dropped, lastCR = nil, 0, false
			return adv, tok, nil
		}
		adv := 0
		for adv < len(data) && (data[adv] == '\n' || data[adv] == '\r') {
			adv++
		}
		d := data[adv:]
		if len(d) == 0 {
			return adv, nil, nil
		}
		i := bytes.IndexByte(d, '\n')
		if i < 0 && !atEOF {
			if len(d) <= max || len(d) == max+1 && d[max] == '\r' {
				return adv, nil, nil // wait for the rest of the line
			}
			// Over-long: keep the start and skip the rest as it arrives.
			kept := parse.CutPoint(d, max)
			long = append(make([]byte, 0, kept+32), d[:kept]...)
			dropped = int64(len(d) - kept)
			lastCR = d[len(d)-1] == '\r'
			return len(data), nil, nil
		}
		next := len(data) // after the line and its LF
		if i >= 0 {
			next = adv + i + 1
			d = d[:i]
		}
		if n := len(d); n > 0 && d[n-1] == '\r' {
			d = d[:n-1]
		}
		if len(d) > max {
			kept := parse.CutPoint(d, max)
			tok := append(make([]byte, 0, kept+32), d[:kept]...)
			return next, parse.AppendMarker(tok, int64(len(d)-kept)), nil
		}
		return next, d, nil
	}
}
