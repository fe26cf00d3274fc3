package input

import (
	"net"
	"strings"
	"testing"
	"time"

	"corral/internal/logs/parse"
)

const (
	// RFC 5424's example 4 (with a procid "-").
	msg5424 = `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event log entry`
	// RFC 3164's first example.
	msg3164 = `<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`
)

var (
	want5424 = want{
		Time:    time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC),
		Level:   "notice", // 165 = local4 (20) * 8 + notice (5)
		Message: "An application event log entry",
		Fields: map[string]string{"host": "mymachine.example.com", "app_name": "evntslog", "msgid": "ID47",
			"procid": "<absent>", "facility": "local4", "sd.exampleSDID@32473.iut": "3",
			"sd.exampleSDID@32473.eventSource": "Application", "peer": "127.0.0.1"},
	}
	want3164 = want{
		// No year on the wire: the one that puts it last before fixedNow.
		Time:    time.Date(2026, 10, 11, 22, 14, 15, 0, time.UTC),
		Level:   "crit", // 34 = auth (4) * 8 + crit (2)
		Message: "'su root' failed for lonvick on /dev/pts/8",
		Fields:  map[string]string{"host": "mymachine", "app_name": "su", "facility": "auth", "peer": "127.0.0.1"},
	}
)

func newSyslog(c *collector) *Syslog {
	return &Syslog{Addr: "127.0.0.1:0", Node: "n1", Sink: c.sink, Now: clock, Location: time.UTC, MaxMessage: 1024}
}

func TestSyslogFormats(t *testing.T) {
	tests := []struct {
		name      string
		udp       []string // datagrams
		tcp       []string // writes on one connection, closed after
		want      []want
		malformed uint64
	}{
		{name: "udp 5424", udp: []string{msg5424}, want: []want{want5424}},
		{name: "udp 3164 with LF", udp: []string{msg3164 + "\n"}, want: []want{want3164}},
		{name: "udp 3164 with CRLF and NUL", udp: []string{msg3164 + "\r\n\x00"}, want: []want{want3164}},
		{name: "tcp newline", tcp: []string{msg5424 + "\n" + msg3164 + "\r\n"}, want: []want{want5424, want3164}},
		{name: "tcp octet-counted", tcp: []string{octet(msg5424) + octet(msg3164)}, want: []want{want5424, want3164}},
		{
			name: "tcp mixed framing, split writes",
			tcp:  []string{octet(msg3164)[:10], octet(msg3164)[10:] + msg5424[:20], msg5424[20:] + "\n" + octet(msg5424), "\n\n" + msg3164},
			want: []want{want3164, want5424, want5424, want3164},
		},
		{
			name: "message with a newline inside an octet-counted frame",
			tcp:  []string{octet("<13>1 - h app - - - two\nlines")},
			want: []want{{Time: fixedNow, Level: "notice", Message: "two\nlines", Fields: map[string]string{"host": "h", "app_name": "app", "facility": "user"}}},
		},
		{
			name: "invalid UTF-8 replaced",
			udp:  []string{"<13>1 - host app - - - caf\xe9 au lait"},
			want: []want{{Time: fixedNow, Level: "notice", Message: "caf\uFFFD au lait", Fields: map[string]string{"host": "host", "app_name": "app"}}},
		},
		{
			name:      "not syslog at all: kept and counted",
			tcp:       []string{"GET / HTTP/1.1\r\n"},
			want:      []want{{Time: fixedNow, Message: "GET / HTTP/1.1", Fields: map[string]string{"peer": "127.0.0.1", "host": "<absent>"}}},
			malformed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collector
			s := newSyslog(&c)
			addr := start(t, s)
			if tt.udp != nil {
				u, err := net.Dial("udp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer u.Close()
				for _, d := range tt.udp {
					if _, err := u.Write([]byte(d)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.tcp != nil {
				conn := dial(t, addr)
				for _, w := range tt.tcp {
					if _, err := conn.Write([]byte(w)); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Millisecond) // separate segments; correctness does not depend on it
				}
				conn.Close()
			}
			got := c.wait(t, len(tt.want))
			for i, w := range tt.want {
				checkEntry(t, i, got[i], w, "n1", "syslog")
			}
			st := s.Stats()
			if st.Malformed != tt.malformed || st.Received != uint64(len(tt.want)) || st.Truncated != 0 {
				t.Errorf("stats %+v, want %d received, %d malformed", st, len(tt.want), tt.malformed)
			}
		})
	}
}

// TestSyslogGarbage sends what a broken or hostile peer might and checks
// that every byte is accounted for and the input keeps working.
func TestSyslogGarbage(t *testing.T) {
	var c collector
	s := newSyslog(&c) // MaxMessage 1024
	addr := start(t, s)

	// Binary noise, then an octet count of 999999999 followed by far less.
	c1 := dial(t, addr)
	c1.Write([]byte("\x00\x01\x02\xff\xfe noise\n"))
	c1.Write([]byte("999999999 <13>hello" + repeat("x", 5000)))
	c1.Close()
	got := c.wait(t, 2)
	if got[0].Message != "\x01\x02\uFFFD noise" { // a run of invalid bytes is one U+FFFD
		t.Errorf("noise: message %q", got[0].Message)
	}
	wantLong := "hello" + repeat("x", 1024-len("<13>hello")) + string(parse.AppendMarker(nil, 999999999-1024))
	if got[1].Message != wantLong {
		t.Errorf("huge octet count: message %d bytes %q..., want %d bytes", len(got[1].Message), got[1].Message[:20], len(wantLong))
	}

	// A frame cut short by the peer closing, and a 10 MB line.
	c2 := dial(t, addr)
	c2.Write([]byte("50 <13>short"))
	c2.Close()
	c3 := dial(t, addr)
	const tenMB = 10 << 20
	go func() {
		c3.Write([]byte("<13>"))
		chunk := []byte(repeat("a", 1<<20))
		for range tenMB >> 20 {
			c3.Write(chunk)
		}
		c3.Write([]byte("\n<13>after\n"))
		c3.Close()
	}()
	got = c.wait(t, 5)
	byMsg := map[string]bool{}
	for _, e := range got[2:] {
		byMsg[e.Message] = true
	}
	wantHuge := repeat("a", 1024-4) + string(parse.AppendMarker(nil, tenMB+4-1024))
	for _, m := range []string{"short", "after", wantHuge} {
		if !byMsg[m] {
			t.Errorf("no entry with message %.40q (%d bytes)", m, len(m))
		}
	}

	// UDP: a datagram over MaxMessage, and noise.
	u, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("<13>x" + repeat("é", 1000))) // 2005 bytes; byte 1024 is inside an "é"
	u.Write([]byte{0xff, 0, 0x80})
	got = c.wait(t, 7)
	wantUDP := "x" + repeat("é", 509) + string(parse.AppendMarker(nil, 2005-1023))
	if got[5].Message != wantUDP && got[6].Message != wantUDP {
		t.Errorf("long datagram: messages %.40q, %.40q, want %.40q", got[5].Message, got[6].Message, wantUDP)
	}

	st := s.Stats()
	want := Stats{Received: 7, Malformed: 2, Truncated: 3, Connections: 3}
	if st.Received != want.Received || st.Malformed != want.Malformed || st.Truncated != want.Truncated || st.Connections != want.Connections {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	for i, e := range got {
		if len(e.Message) > 1024+64 {
			t.Errorf("entry %d: message of %d bytes", i, len(e.Message))
		}
	}
	// Still listening.
	c4 := dial(t, addr)
	c4.Write([]byte(msg3164 + "\n"))
	got = c.wait(t, 8)
	checkEntry(t, 7, got[7], want3164, "n1", "syslog")
}

func TestSyslogIdleTimeout(t *testing.T) {
	var c collector
	s := newSyslog(&c)
	s.IdleTimeout = 50 * time.Millisecond
	addr := start(t, s)
	conn := dial(t, addr)
	conn.Write([]byte(msg3164 + "\n"))
	c.wait(t, 1)
	waitClosed(t, conn) // by the input, once idle
	eventually(t, "no open connections", func() bool { return s.Stats().Open == 0 })
}

func TestSyslogMaxConns(t *testing.T) {
	var c collector
	s := newSyslog(&c)
	s.MaxConns = 2
	addr := start(t, s)
	a, b := dial(t, addr), dial(t, addr)
	a.Write([]byte(msg3164 + "\n"))
	b.Write([]byte(msg3164 + "\n"))
	c.wait(t, 2) // both accepted
	third := dial(t, addr)
	waitClosed(t, third)
	if st := s.Stats(); st.Rejected != 1 || st.Open != 2 || st.Connections != 2 {
		t.Errorf("stats %+v, want 1 rejected, 2 open, 2 accepted", st)
	}
	a.Close()
	eventually(t, "one open connection", func() bool { return s.Stats().Open == 1 })
	d := dial(t, addr)
	d.Write([]byte(msg5424 + "\n"))
	got := c.wait(t, 3)
	checkEntry(t, 2, got[2], want5424, "n1", "syslog")
}

// TestSyslogStopDelivers checks that Run hands on what it decoded before it
// returns.
func TestSyslogStopDelivers(t *testing.T) {
	var c collector
	s := newSyslog(&c)
	s.FlushDelay = time.Hour // only the stop hands UDP messages on
	t.Cleanup(func() {
		// Runs after start's cleanup (cleanups run last first): Run has
		// returned.
		if got := c.snapshot(); len(got) != 1 || !strings.Contains(got[0].Message, "su root") {
			t.Errorf("after stop: %v", got)
		}
	})
	addr := start(t, s)
	u, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte(msg3164))
	eventually(t, "the datagram read", func() bool { return s.Stats().Bytes >= uint64(len(msg3164)) })
	if n := len(c.snapshot()); n != 0 {
		t.Fatalf("%d entries before the flush delay or the stop", n)
	}
}
