package input

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
)

// collector is a Sink that keeps what it is given.
type collector struct {
	mu      sync.Mutex
	entries []api.LogEntry
	batches int
}

func (c *collector) sink(es []api.LogEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, es...)
	c.batches++
}

func (c *collector) snapshot() []api.LogEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.entries)
}

// wait returns the entries once there are n, failing the test when they do
// not come.
func (c *collector) wait(t testing.TB, n int) []api.LogEntry {
	t.Helper()
	eventually(t, fmt.Sprintf("%d entries", n), func() bool { return len(c.snapshot()) >= n })
	es := c.snapshot()
	if len(es) != n {
		t.Fatalf("got %d entries, want %d", len(es), n)
	}
	return es
}

// eventually polls cond; the deadline only bounds a failing test.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runner is what every input is.
type runner interface {
	Listen() error
	LocalAddr() net.Addr
	Run(ctx context.Context) error
}

// start listens and runs in for the test's duration and returns its
// address; the cleanup stops it and checks Run's result.
func start(t testing.TB, in runner) string {
	t.Helper()
	if err := in.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return in.LocalAddr().String()
}

// fixedNow is the clock of the tests.
var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// want is what a test expects of an entry; Fields lists only the fields it
// checks, and a field with value "<absent>" must not be there.
type want struct {
	Time    time.Time
	Level   string
	Message string
	Fields  map[string]string
}

func checkEntry(t *testing.T, i int, got api.LogEntry, w want, node, source string) {
	t.Helper()
	if got.Message != w.Message {
		t.Errorf("entry %d: message %q, want %q", i, got.Message, w.Message)
	}
	if !got.Time.Equal(w.Time) {
		t.Errorf("entry %d: time %v, want %v", i, got.Time, w.Time)
	}
	if got.Level != w.Level {
		t.Errorf("entry %d: level %q, want %q", i, got.Level, w.Level)
	}
	if got.Node != node || got.Source != source {
		t.Errorf("entry %d: node %q source %q, want %q %q", i, got.Node, got.Source, node, source)
	}
	for _, k := range slices.Sorted(maps.Keys(w.Fields)) {
		v, ok := got.Fields[k]
		switch {
		case w.Fields[k] == "<absent>" && ok:
			t.Errorf("entry %d: field %s = %q, want none", i, k, v)
		case w.Fields[k] != "<absent>" && v != w.Fields[k]:
			t.Errorf("entry %d: field %s = %q, want %q (fields %v)", i, k, v, w.Fields[k], got.Fields)
		}
	}
}

// dial connects to addr over TCP.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// octet frames msg for syslog over TCP with octet counting.
func octet(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }

// waitClosed reads from c until the peer closes it.
func waitClosed(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open")
			}
			return
		}
	}
}

// repeat is s n times.
func repeat(s string, n int) string { return strings.Repeat(s, n) }

// TestStopClosesConnections: Run returns when its context ends even with
// clients connected mid-message, closes their connections and hands on
// what arrived: a line cut short is kept as it is (its sender will not send
// it again), a Beats event cut short is not (its sender will).
func TestStopClosesConnections(t *testing.T) {
	tests := []struct {
		name    string
		in      func(Sink) runner
		partial string
		want    []string // messages
	}{
		{"syslog", func(s Sink) runner { return &Syslog{Addr: "127.0.0.1:0", Sink: s} }, msg3164 + "\n<13>half a li",
			[]string{want3164.Message, "half a li"}},
		{"json", func(s Sink) runner { return &JSONLines{Addr: "127.0.0.1:0", Sink: s} }, "{\"message\":\"a\"}\n{\"mess",
			[]string{"a", `{"mess`}},
		{"beats", func(s Sink) runner { return &Beats{Addr: "127.0.0.1:0", Sink: s} },
			string(rawWindow(2)) + string(rawFrame(1, filebeatEvent(0))) + string(rawFrame(2, filebeatEvent(1))[:7]),
			[]string{wantBeats(0).Message}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collector
			in := tt.in(c.sink)
			if err := in.Listen(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- in.Run(ctx) }()
			conn := dial(t, in.LocalAddr().String())
			conn.Write([]byte(tt.partial))
			c.wait(t, 1)
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return")
			}
			waitClosed(t, conn)
			var got []string
			for _, e := range c.snapshot() {
				got = append(got, e.Message)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("messages %q, want %q", got, tt.want)
			}
			if _, err := net.Dial("tcp", in.LocalAddr().String()); err == nil {
				t.Errorf("still listening")
			}
		})
	}
}
