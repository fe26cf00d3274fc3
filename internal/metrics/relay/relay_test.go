package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/metrics/carbon"
)

// sink is a carbon plaintext receiver on loopback that records lines.
type sink struct {
	t     *testing.T
	ln    net.Listener
	mu    sync.Mutex
	lines []string
	conns []net.Conn
	wg    sync.WaitGroup
}

// newSink listens on addr ("127.0.0.1:0" for any port).
func newSink(t *testing.T, addr string) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &sink{t: t, ln: ln}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.kill)
	return s
}

func (s *sink) addr() string { return s.ln.Addr().String() }

func (s *sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				s.mu.Lock()
				s.lines = append(s.lines, sc.Text())
				s.mu.Unlock()
			}
		}()
	}
}

// kill closes the listener and every connection, like a crashed receiver.
func (s *sink) kill() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// wait polls until the sink has n lines (failing after 10 s).
func (s *sink) wait(n int) []string {
	s.t.Helper()
	waitFor(s.t, fmt.Sprintf("%d lines at %s", n, s.addr()), func() bool { return len(s.got()) >= n })
	return s.got()
}

// waitFor polls cond every few milliseconds; it fails the test after 10 s.
// It is a wait for an event, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// points returns n points named prefix.i with value i and time 1000+i.
func points(prefix string, from, n int) []carbon.Point {
	ps := make([]carbon.Point, n)
	for i := range ps {
		ps[i] = carbon.Point{Name: fmt.Sprintf("%s.%d", prefix, from+i), Value: float64(from + i), Time: int64(1000 + from + i)}
	}
	return ps
}

func lines(ps []carbon.Point) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strings.TrimSuffix(string(AppendLine(nil, p)), "\n")
	}
	return out
}

// start runs a relay until the test ends and returns it.
func start(t *testing.T, opts Options) (*Relay, context.CancelFunc, <-chan error) {
	t.Helper()
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 5 * time.Millisecond
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx)
		close(done) // a second receive (the cleanup's) returns at once
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r, cancel, done
}

// freeAddr returns a loopback address nobody listens on (it was free a
// moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func equalLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestRelayAllPointsInOrder(t *testing.T) {
	s := newSink(t, "127.0.0.1:0")
	r, _, _ := start(t, Options{Destinations: []string{s.addr()}})
	var all []carbon.Point
	for b := range 100 {
		ps := points("servers.web", b*100, 100)
		r.Write(ps)
		all = append(all, ps...)
	}
	equalLines(t, s.wait(len(all)), lines(all))
	waitFor(t, "sent counter", func() bool { return r.Stats()[0].Sent == int64(len(all)) })
	st := r.Stats()[0]
	if st.Dropped != 0 || st.Queued != 0 || !st.Connected || st.Addr != s.addr() {
		t.Errorf("stats = %+v", st)
	}
}

func TestRelayDestinationDownAtStart(t *testing.T) {
	addr := freeAddr(t)
	r, _, _ := start(t, Options{Destinations: []string{addr}})
	ps := points("a", 0, 500)
	r.Write(ps)
	// Let the relay fail to connect at least once with the points queued.
	waitFor(t, "a failed connect", func() bool { st := r.Stats()[0]; return st.Queued == 500 && !st.Connected })
	time.Sleep(30 * time.Millisecond) // a few backoff rounds; not asserted on
	if st := r.Stats()[0]; st.Sent != 0 || st.Queued != 500 || st.Dropped != 0 {
		t.Fatalf("while down: stats = %+v, want 500 queued", st)
	}
	s := newSink(t, addr)
	equalLines(t, s.wait(500), lines(ps))
	waitFor(t, "sent counter", func() bool { return r.Stats()[0].Sent == 500 })
	if st := r.Stats()[0]; st.Queued != 0 || !st.Connected {
		t.Errorf("after delivery: stats = %+v", st)
	}
}

func TestRelayReconnectsAfterDestinationDies(t *testing.T) {
	s1 := newSink(t, "127.0.0.1:0")
	addr := s1.addr()
	r, _, _ := start(t, Options{Destinations: []string{addr}})
	first := points("before", 0, 1000)
	r.Write(first)
	equalLines(t, s1.wait(1000), lines(first))

	s1.kill()
	waitFor(t, "the relay to notice the closed connection", func() bool { return !r.Stats()[0].Connected })
	second := points("after", 0, 1000)
	r.Write(second[:500])
	r.Write(second[500:])
	s2 := newSink(t, addr)
	equalLines(t, s2.wait(1000), lines(second))
	waitFor(t, "sent counter", func() bool { return r.Stats()[0].Sent == 2000 })
	if st := r.Stats()[0]; st.Dropped != 0 || st.Queued != 0 {
		t.Errorf("stats = %+v, want nothing dropped or queued", st)
	}
}

func TestRelayQueueFullDrops(t *testing.T) {
	addr := freeAddr(t)
	r, _, _ := start(t, Options{Destinations: []string{addr}, QueueSize: 100})
	ps := points("q", 0, 250)
	r.Write(ps) // one call: 100 fit, 150 are dropped
	if st := r.Stats()[0]; st.Dropped != 150 || st.Queued != 100 {
		t.Fatalf("stats = %+v, want 150 dropped and 100 queued", st)
	}
	r.Write(points("q", 250, 10))
	if st := r.Stats()[0]; st.Dropped != 160 {
		t.Fatalf("stats = %+v, want 160 dropped", st)
	}
	s := newSink(t, addr)
	equalLines(t, s.wait(100), lines(ps[:100]))
	waitFor(t, "sent counter", func() bool { return r.Stats()[0].Sent == 100 })
	if got := s.got(); len(got) != 100 {
		t.Errorf("sink got %d lines, want exactly the 100 queued", len(got))
	}
}

func TestRelayFlushesOnShutdown(t *testing.T) {
	s := newSink(t, "127.0.0.1:0")
	// A flush interval of an hour and fewer points than a batch: only the
	// shutdown flush can send them.
	r, cancel, done := start(t, Options{Destinations: []string{s.addr()}, FlushInterval: time.Hour})
	ps := points("bye", 0, 10)
	r.Write(ps)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	equalLines(t, s.wait(10), lines(ps))
	if st := r.Stats()[0]; st.Sent != 10 || st.Connected {
		t.Errorf("stats = %+v, want 10 sent and disconnected", st)
	}
}

func TestRelayShutdownCountsUnsentAsDropped(t *testing.T) {
	addr := freeAddr(t)
	r, cancel, done := start(t, Options{Destinations: []string{addr}, ShutdownTimeout: 50 * time.Millisecond})
	r.Write(points("x", 0, 7))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := r.Stats()[0]; st.Dropped != 7 || st.Queued != 0 || st.Sent != 0 {
		t.Errorf("stats = %+v, want the 7 points dropped", st)
	}
}

func TestRelayRules(t *testing.T) {
	a, b, all := newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0"), newSink(t, "127.0.0.1:0")
	conf := fmt.Sprintf(`
[web]
pattern = ^servers\.web
destinations = %s:a
continue = true

[db]
pattern = ^servers\.db
destinations = %s

[default]
default = true
destinations = %s
`, a.addr(), b.addr(), b.addr())
	rules, err := ParseRules(strings.NewReader(conf), "relay-rules.conf")
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := start(t, Options{Destinations: []string{all.addr()}, Rules: rules})
	ps := []carbon.Point{
		{Name: "servers.web1.cpu", Value: 1, Time: 10}, // web, continue → default
		{Name: "servers.db1.cpu", Value: 2, Time: 10},  // db
		{Name: "other.metric", Value: 3, Time: 10},     // default
	}
	r.Write(ps)
	equalLines(t, all.wait(3), lines(ps))
	equalLines(t, a.wait(1), lines(ps[:1]))
	equalLines(t, b.wait(3), lines(ps))
	if st := r.Stats(); len(st) != 3 || st[0].Addr != all.addr() || st[1].Addr != a.addr() || st[2].Addr != b.addr() {
		t.Errorf("stats = %+v, want all, a, b", st)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"none", Options{}, "relay: no destinations"},
		{"no port", Options{Destinations: []string{"carbon.example"}}, `want host:port`},
		{"bad port", Options{Destinations: []string{"carbon.example:99999"}}, `port "99999"`},
		{"negative queue", Options{Destinations: []string{"a:1"}, QueueSize: -1}, "queue size -1"},
		{"bad rule destination", Options{Rules: []Rule{{Name: "r", Destinations: []string{"x"}}}}, "rule [r]"},
		{"bad protocol", Options{Destinations: []string{"a:1"}, Protocol: "udp"}, `protocol "udp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestDialFuncUsed(t *testing.T) {
	s := newSink(t, "127.0.0.1:0")
	var mu sync.Mutex
	var dialed []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, network+" "+addr)
		mu.Unlock()
		if addr != "carbon.invalid:2003" {
			return nil, errors.New("unexpected address")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, s.addr())
	}
	r, _, _ := start(t, Options{Destinations: []string{"carbon.invalid:2003"}, Dial: dial})
	r.Write(points("d", 0, 3))
	s.wait(3)
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) != 1 || dialed[0] != "tcp carbon.invalid:2003" {
		t.Errorf("dialed %v, want one tcp carbon.invalid:2003", dialed)
	}
}

func TestAppendLine(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "m 0 1700000000\n"},
		{1e6, "m 1000000 1700000000\n"},
		{123456789012, "m 123456789012 1700000000\n"},
		{0.25, "m 0.25 1700000000\n"},
		{-3.5, "m -3.5 1700000000\n"},
		{1.0 / 3, "m 0.3333333333333333 1700000000\n"},
		{1e21, "m 1e+21 1700000000\n"},
		{1e-7, "m 1e-07 1700000000\n"},
	}
	for _, tt := range tests {
		got := string(AppendLine(nil, carbon.Point{Name: "m", Value: tt.v, Time: 1700000000}))
		if got != tt.want {
			t.Errorf("AppendLine(%v) = %q, want %q", tt.v, got, tt.want)
		}
		// Whatever the form, carbon's own parser reads the value back exactly.
		p, err := carbon.ParseLine([]byte(strings.TrimSuffix(got, "\n")), 0)
		if err != nil || p.Value != tt.v {
			t.Errorf("ParseLine(%q) = %v, %v; want value %v", got, p, err, tt.v)
		}
	}
}

func TestRelayBackoff(t *testing.T) {
	// Every dial fails, or every connection fails on write (a destination
	// that accepts and drops connections): the waits double from
	// MinBackoff up to MaxBackoff and reset after a successful write.
	tests := []struct {
		name string
		dial func(ctx context.Context, network, addr string) (net.Conn, error)
	}{
		{"dial fails", func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("connection refused")
		}},
		{"write fails", func(context.Context, string, string) (net.Conn, error) {
			c, peer := net.Pipe()
			_ = peer.Close()
			return c, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var waits []time.Duration
			sleepFn := func(_ context.Context, d time.Duration) bool {
				waits = append(waits, d)
				if len(waits) == 8 {
					cancel()
					return false
				}
				return true
			}
			r, err := New(Options{Destinations: []string{"carbon.invalid:2003"}, Dial: tt.dial, Sleep: sleepFn,
				MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, FlushInterval: time.Millisecond,
				ShutdownTimeout: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			r.Write(points("b", 0, 5))
			if err := r.Run(ctx); err != nil {
				t.Fatal(err)
			}
			ms := time.Millisecond
			want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, time.Second, time.Second}
			if !reflect.DeepEqual(waits, want) {
				t.Errorf("waits = %v, want %v", waits, want)
			}
			if st := r.Stats()[0]; st.Sent != 0 || st.Dropped != 5 {
				t.Errorf("stats = %+v, want the 5 points dropped at shutdown", st)
			}
		})
	}
}

func TestRelayPickle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []carbon.Point, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var all []carbon.Point
		for len(all) < 1203 {
			frame, err := carbon.ReadPickleFrame(c, 0)
			if err != nil {
				break
			}
			ps, err := carbon.ParsePickle(frame)
			if err != nil {
				break
			}
			all = append(all, ps...)
		}
		got <- all
	}()
	r, _, _ := start(t, Options{Destinations: []string{ln.Addr().String()}, Protocol: "pickle"})
	want := points("pickled", 0, 1200)
	want = append(want,
		carbon.Point{Name: "big.time", Value: -2.5, Time: 1 << 33}, // beyond int32: LONG1
		carbon.Point{Name: "ünïcode.name", Value: 1e300, Time: 5},
		carbon.Point{Name: "zero", Value: 0, Time: 0},
	)
	r.Write(want)
	all := <-got
	if !reflect.DeepEqual(all, want) {
		t.Errorf("received %d points, want %d; first difference:", len(all), len(want))
		for i := range min(len(all), len(want)) {
			if all[i] != want[i] {
				t.Errorf("point %d = %+v, want %+v", i, all[i], want[i])
				break
			}
		}
	}
}
