package input

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"corral/internal/api"
	"corral/internal/logs/parse"
)

// checkValid fails when an entry is not what every input promises.
func checkValid(t *testing.T, e api.LogEntry, source string, maxLen int) {
	t.Helper()
	if !utf8.ValidString(e.Message) || !utf8.ValidString(e.Level) {
		t.Fatalf("invalid UTF-8: %q %q", e.Message, e.Level)
	}
	for k, v := range e.Fields {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			t.Fatalf("invalid UTF-8 in field %q=%q", k, v)
		}
	}
	if e.Source != source || e.Time.IsZero() {
		t.Fatalf("source %q time %v", e.Source, e.Time)
	}
	// An invalid byte may become a 3-byte U+FFFD; the marker adds < 64.
	if len(e.Message) > 3*maxLen+64 {
		t.Fatalf("message of %d bytes, limit %d", len(e.Message), maxLen)
	}
}

// FuzzSplitLines compares SplitLines with a plain reading of the lines,
// the input arriving in reads of a few bytes.
func FuzzSplitLines(f *testing.F) {
	for _, s := range []string{"a\nb\r\n\r\n", "{\"a\":1}\n{", strings.Repeat("x", 40) + "\r\n", "aaéé\n", "\r\r\r\n\n", "abcd\r"} {
		f.Add([]byte(s), uint8(4), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, max8, chunk8 uint8) {
		max, chunk := int(max8%64)+1, int(chunk8%16)+1
		var want []string
		segs := strings.Split(string(data), "\n")
		for _, seg := range segs {
			line := strings.TrimSuffix(strings.TrimLeft(seg, "\r"), "\r")
			if line == "" {
				continue
			}
			if len(line) > max {
				kept := parse.CutPoint([]byte(line), max)
				line = string(parse.AppendMarker([]byte(line[:kept]), int64(len(line)-kept)))
			}
			want = append(want, line)
		}
		sc := bufio.NewScanner(&chunkReader{s: string(data), n: chunk})
		sc.Buffer(make([]byte, 0, 4), max+2)
		sc.Split(SplitLines(max))
		var got []string
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("max %d: %v", max, err)
		}
		if strings.Join(got, "\x00|") != strings.Join(want, "\x00|") {
			t.Fatalf("max %d, reads of %d: %q, want %q", max, chunk, got, want)
		}
	})
}

// FuzzSyslogStream feeds a TCP stream to the syslog input's decoder.
func FuzzSyslogStream(f *testing.F) {
	for _, s := range []string{
		octet(msg5424) + msg3164 + "\n",
		"999999999 <13>x", "5 <13>", "\x00\xff\n\n<999>x\n", "12 <13>1 - - - - - [a b=\"\\\"]\n",
		"<13>1 2003-10-11T22:14:15.003Z h a p m [x@1 k=\"v\"][y k=\"w\"] \xef\xbb\xbfmsg\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 256
		var c collector
		s := &Syslog{Sink: c.sink, Now: clock, Location: time.UTC, MaxMessage: max}
		b := batcher{sink: s.Sink, st: &s.st, max: 7}
		if err := s.readStream(iotest.HalfReader(bytes.NewReader(data)), "", &b); err != nil {
			t.Fatalf("readStream: %v", err)
		}
		b.flush()
		// As many entries as frames, independently split.
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, max+16)
		sc.Split(parse.SplitSyslog(max))
		frames := 0
		for sc.Scan() {
			frames++
		}
		got := c.snapshot()
		if len(got) != frames || s.Stats().Received != uint64(frames) {
			t.Fatalf("%d entries, %d frames", len(got), frames)
		}
		for _, e := range got {
			checkValid(t, e, "syslog", max)
		}
	})
}

// FuzzJSONLinesStream feeds a TCP stream to the JSON lines decoder.
func FuzzJSONLinesStream(f *testing.F) {
	for _, s := range []string{`{"message":"a","level":"info","x":{"y":[1,2]}}` + "\n{", "\xff\n{\"a\":\"\xfe\"}\r\n", `{"a":` + strings.Repeat("[", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 128
		var c collector
		j := &JSONLines{Sink: c.sink, Now: clock, MaxMessage: max}
		b := batcher{sink: j.Sink, st: &j.st, max: 5}
		if err := j.readStream(iotest.OneByteReader(bytes.NewReader(data)), "", &b); err != nil {
			t.Fatalf("readStream: %v", err)
		}
		b.flush()
		for _, e := range c.snapshot() {
			checkValid(t, e, "json", max)
		}
	})
}

// FuzzBeats feeds a connection's bytes to the lumberjack v2 server and
// checks the acknowledgements it writes: well-formed, and never for more
// events than were handed to the Sink before the ack was written.
func FuzzBeats(f *testing.F) {
	plain := append(rawWindow(2), append(rawFrame(1, filebeatEvent(0)), rawFrame(2, filebeatEvent(1))...)...)
	f.Add(plain)
	f.Add(append(rawWindow(2), compressedFrame(f, rawFrame(1, filebeatEvent(0)), rawFrame(2, filebeatEvent(1)))...))
	f.Add(append(rawWindow(3), compressedFrame(f, rawFrame(1, map[string]any{"message": strings.Repeat("m", 600)}))...))
	f.Add(append(rawWindow(1), '2', 'J', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 'x'))
	f.Add(append(rawWindow(1), '2', 'C', 0, 0, 0, 3, 1, 2, 3))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 512
		var delivered uint32
		var c collector
		b := &Beats{Now: clock, Location: time.UTC, MaxMessage: max, Keepalive: -1}
		b.Sink = func(es []api.LogEntry) {
			delivered += uint32(len(es))
			c.sink(es)
		}
		w := &ackChecker{t: t, delivered: &delivered}
		_ = b.serve(iotest.HalfReader(bytes.NewReader(data)), w, "", 3)
		for _, e := range c.snapshot() {
			checkValid(t, e, "beats", max)
		}
	})
}

// ackChecker checks the acks written by the Beats server.
type ackChecker struct {
	t         *testing.T
	delivered *uint32
}

func (w *ackChecker) Write(p []byte) (int, error) {
	if len(p) != 6 || p[0] != '2' || p[1] != 'A' {
		w.t.Fatalf("not an ack: %q", p)
	}
	if seq := binary.BigEndian.Uint32(p[2:]); seq == 0 || seq > *w.delivered {
		w.t.Fatalf("ack %d with %d delivered", seq, *w.delivered)
	}
	return len(p), nil
}
