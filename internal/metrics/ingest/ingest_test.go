package ingest

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/metrics/carbon"
)

// recordSink keeps every point written; failures makes its next Writes fail.
type recordSink struct {
	mu       sync.Mutex
	pts      []carbon.Point
	writes   int
	failures int
}

var errFull = errors.New("cache full")

func (s *recordSink) Write(pts []carbon.Point) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.failures > 0 {
		s.failures--
		return errFull
	}
	s.pts = append(s.pts, pts...)
	return nil
}

func (s *recordSink) points() []carbon.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]carbon.Point(nil), s.pts...)
}

// waitPoints waits up to d for the sink to hold n points.
func (s *recordSink) waitPoints(t *testing.T, n int, d time.Duration) []carbon.Point {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		pts := s.points()
		if len(pts) >= n {
			return pts
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the sink has %d points, want %d: %v", d, len(pts), n, pts)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

const now = 1700000999

// start listens on loopback with both receivers and runs them until the
// test ends; the returned stop cancels Run and reports how long it took.
func start(t *testing.T, opts Options) (*Receivers, func() time.Duration) {
	t.Helper()
	opts.PlainAddr, opts.PickleAddr = "127.0.0.1:0", "127.0.0.1:0"
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Now = func() time.Time { return time.Unix(now, 0) }
	r, err := Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stop := func() time.Duration {
		t0 := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return 5s after cancel")
		}
		return time.Since(t0)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { stop() }) })
	return r, func() (d time.Duration) { once.Do(func() { d = stop() }); return d }
}

func dial(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, data string) {
	t.Helper()
	if _, err := io.WriteString(c, data); err != nil {
		t.Fatal(err)
	}
}

func TestListenSharesPlainPort(t *testing.T) {
	r, _ := start(t, Options{Sink: &recordSink{}})
	tcp, udp, pickle := r.Addrs()
	if tcp != udp || tcp == "" || pickle == "" || pickle == tcp {
		t.Errorf("Addrs() = %q, %q, %q; want TCP and UDP on one port, pickle on another", tcp, udp, pickle)
	}
}

func TestListenAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, opts := range []Options{{PlainAddr: ln.Addr().String()}, {PickleAddr: ln.Addr().String()}} {
		opts.Sink = &recordSink{}
		_, err := Listen(opts)
		if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
			t.Errorf("Listen(%+v) error = %v, want one naming the address", opts, err)
		}
	}
}

func TestTCPPlainGoodAndBad(t *testing.T) {
	sink := &recordSink{}
	r, _ := start(t, Options{Sink: sink})
	addr, _, _ := r.Addrs()
	c := dial(t, "tcp", addr)
	write(t, c, "a.b 1 100\nnot a number line\nc.d 2.5 200\r\n\nonlyname\ne 3\n")
	got := sink.waitPoints(t, 3, time.Second)
	want := []carbon.Point{{Name: "a.b", Value: 1, Time: 100}, {Name: "c.d", Value: 2.5, Time: 200}, {Name: "e", Value: 3, Time: now}}
	if !equalPoints(got, want) {
		t.Errorf("points = %v, want %v", got, want)
	}
	if s := r.Stats(); s.BadLines != 2 || s.Points != 3 || s.Conns != 1 {
		t.Errorf("stats = %+v, want 2 bad lines, 3 points, 1 conn", s)
	}
	// The connection stays open for more.
	write(t, c, "f 4 400\n")
	got = sink.waitPoints(t, 4, time.Second)
	if got[3] != (carbon.Point{Name: "f", Value: 4, Time: 400}) {
		t.Errorf("fourth point = %v", got[3])
	}
}

func TestTCPTrickleFlushedWithin100ms(t *testing.T) {
	sink := &recordSink{}
	r, _ := start(t, Options{Sink: sink})
	addr, _, _ := r.Addrs()
	c := dial(t, "tcp", addr)
	for i := range 3 {
		t0 := time.Now()
		write(t, c, "a.b 1 100\n")
		sink.waitPoints(t, i+1, 200*time.Millisecond)
		if d := time.Since(t0); d < 50*time.Millisecond {
			t.Logf("delivered after %v: batching should wait ~100ms", d)
		}
	}
}

func TestTCPBatchSize(t *testing.T) {
	sink := &recordSink{}
	r, _ := start(t, Options{Sink: sink, BatchSize: 10})
	addr, _, _ := r.Addrs()
	c := dial(t, "tcp", addr)
	write(t, c, strings.Repeat("x 1 1\n", 25))
	c.Close()
	sink.waitPoints(t, 25, time.Second)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.writes != 3 {
		t.Errorf("%d writes for 25 points in batches of 10, want 3", sink.writes)
	}
}

func TestUDPDatagram(t *testing.T) {
	sink := &recordSink{}
	r, _ := start(t, Options{Sink: sink})
	_, addr, _ := r.Addrs()
	c := dial(t, "udp", addr)
	write(t, c, "u.a 1 10\nu.b 2 20\nbad\nu.c 3") // last line has no newline
	got := sink.waitPoints(t, 3, time.Second)
	want := []carbon.Point{{Name: "u.a", Value: 1, Time: 10}, {Name: "u.b", Value: 2, Time: 20}, {Name: "u.c", Value: 3, Time: now}}
	if !equalPoints(got, want) {
		t.Errorf("points = %v, want %v", got, want)
	}
	if s := r.Stats(); s.BadLines != 1 {
		t.Errorf("stats = %+v, want 1 bad line", s)
	}
}

func TestSinkBackPressure(t *testing.T) {
	sink := &recordSink{failures: 2}
	r, _ := start(t, Options{Sink: sink})
	addr, _, _ := r.Addrs()
	c := dial(t, "tcp", addr)
	write(t, c, "a 1 1\nb 2 2\n")
	sink.waitPoints(t, 2, 2*time.Second)
	write(t, c, "c 3 3\n")
	got := sink.waitPoints(t, 3, time.Second)
	if len(got) != 3 || got[2].Name != "c" {
		t.Errorf("points = %v", got)
	}
	if s := r.Stats(); s.SinkErrors != 2 || s.Dropped != 0 || s.Points != 3 {
		t.Errorf("stats = %+v, want 2 sink errors, 0 dropped, 3 points", s)
	}
}

func TestSinkDropsAfterRetries(t *testing.T) {
	sink := &recordSink{failures: 1 << 30}
	r, _ := start(t, Options{Sink: sink, retryFor: 50 * time.Millisecond})
	addr, _, _ := r.Addrs()
	c := dial(t, "tcp", addr)
	write(t, c, "a 1 1\nb 2 2\n")
	deadline := time.Now().Add(2 * time.Second)
	for r.Stats().Dropped != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want 2 dropped", r.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := r.Stats(); s.SinkErrors < 2 {
		t.Errorf("stats = %+v, want retries counted as sink errors", s)
	}
}

func TestPickle(t *testing.T) {
	sink := &recordSink{}
	r, _ := start(t, Options{Sink: sink})
	_, _, addr := r.Addrs()
	c := dial(t, "tcp", addr)
	// The "basic" golden frames, protocols 0 to 5, as written by Python.
	var frames []byte
	for _, hx := range goldenPickles(t, "basic") {
		frames = append(frames, frame(hx)...)
	}
	frames = append(frames, frame(encodePickle2([]carbon.Point{{Name: "p.q", Value: 7, Time: 70}, {Name: "nan", Value: math.NaN(), Time: 1}}))...)
	write(t, c, string(frames))
	got := sink.waitPoints(t, 13, time.Second)
	if got[0] != (carbon.Point{Name: "a.b", Value: 1.5, Time: 1700000000}) || got[12].Name != "p.q" {
		t.Errorf("points = %v", got)
	}
	if s := r.Stats(); s.BadEntries != 1 || s.BadPickles != 0 {
		t.Errorf("stats = %+v, want 1 bad entry", s)
	}
	// A malformed frame closes the connection.
	write(t, c, string(frame([]byte("\x80\x02cos\nsystem\n."))))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after a malformed frame: %v, want EOF", err)
	}
	if s := r.Stats(); s.BadPickles != 1 {
		t.Errorf("stats = %+v, want 1 bad pickle", s)
	}
}

func TestMaxConns(t *testing.T) {
	r, _ := start(t, Options{Sink: &recordSink{}, MaxConns: 1})
	addr, _, _ := r.Addrs()
	dial(t, "tcp", addr)
	waitStat(t, r, func(s Stats) bool { return s.Conns == 1 })
	c := dial(t, "tcp", addr)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("read on a connection over MaxConns: %v, want it closed", err)
	}
	if s := r.Stats(); s.Rejected != 1 {
		t.Errorf("stats = %+v, want 1 rejected", s)
	}
}

func TestIdleTimeout(t *testing.T) {
	r, _ := start(t, Options{Sink: &recordSink{}, IdleTimeout: 100 * time.Millisecond})
	addr, _, _ := r.Addrs()
	c := dial(t, "tcp", addr)
	write(t, c, "a 1 1\n")
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	t0 := time.Now()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read on an idle connection: %v, want EOF", err)
	}
	if d := time.Since(t0); d < 80*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
}

func TestRunStopsWithOpenConnections(t *testing.T) {
	sink := &recordSink{}
	r, stop := start(t, Options{Sink: sink})
	plain, _, pickle := r.Addrs()
	c1 := dial(t, "tcp", plain)
	dial(t, "tcp", pickle)
	write(t, c1, "a 1 1\n")
	waitStat(t, r, func(s Stats) bool { return s.Conns == 2 })
	if d := stop(); d > time.Second {
		t.Errorf("Run took %v to stop", d)
	}
	if got := sink.points(); len(got) != 1 {
		t.Errorf("points = %v, want the pending one flushed on stop", got)
	}
}

func waitStat(t *testing.T, r *Receivers, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !ok(r.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v", r.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func equalPoints(a, b []carbon.Point) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// goldenPickles returns the frames of one case in carbon's golden file.
func goldenPickles(t *testing.T, name string) [][]byte {
	t.Helper()
	f, err := os.Open("../carbon/testdata/pickle_golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == name {
			b, err := hex.DecodeString(fields[2])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no golden pickles %q", name)
	}
	return out
}

// frame prefixes a pickle with its 4-byte big-endian length.
func frame(pickle []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(pickle))), pickle...)
}

// encodePickle2 writes points as Python's pickle protocol 2 would:
// [(name, (ts, value)), ...].
func encodePickle2(points []carbon.Point) []byte {
	b := []byte{0x80, 2, ']', '('}
	for _, p := range points {
		b = append(b, 'X')
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Name)))
		b = append(b, p.Name...)
		b = append(b, 'J')
		b = binary.LittleEndian.AppendUint32(b, uint32(p.Time))
		b = append(b, 'G')
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Value))
		b = append(b, 0x86, 0x86)
	}
	return append(b, 'e', '.')
}
