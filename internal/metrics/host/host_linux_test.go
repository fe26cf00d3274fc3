package host

import (
	"context"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
)

func byName(points []api.MetricPoint) map[string]float64 {
	m := make(map[string]float64, len(points))
	for _, p := range points {
		m[p.Name] = p.Value
	}
	return m
}

// TestCollectLive samples this machine twice, one second apart.
func TestCollectLive(t *testing.T) {
	ctx := context.Background()
	c := New("test.node/1 x", Options{})
	const base = "corral.test_node_1_x."

	first, err := c.Collect(ctx)
	if err != nil {
		t.Fatalf("first Collect: %v", err)
	}
	for _, p := range first {
		if strings.HasPrefix(p.Name, base+"cpu.") || strings.HasPrefix(p.Name, base+"diskio.") ||
			strings.HasPrefix(p.Name, base+"net.") {
			t.Errorf("first sample has rate %s", p.Name)
		}
	}
	time.Sleep(time.Second)
	second, err := c.Collect(ctx)
	if err != nil {
		t.Fatalf("second Collect: %v", err)
	}
	got := byName(second)

	var sum float64
	for _, s := range cpuStates {
		v, ok := got[base+"cpu."+s]
		if !ok {
			t.Errorf("missing cpu.%s", s)
		}
		sum += v
	}
	if math.Abs(sum-100) > 2 {
		t.Errorf("cpu states sum to %v, want 100±2", sum)
	}
	for _, name := range []string{
		"memory.total", "disk.root.total", "load.load1", "load.load5", "load.load15",
		"load.per_core.load1", "swap.total", "processes.total", "processes.running",
	} {
		if _, ok := got[base+name]; !ok {
			t.Errorf("missing %s", name)
		}
	}
	for _, name := range []string{"memory.total", "disk.root.total", "processes.total"} {
		if got[base+name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[base+name])
		}
	}
	if len(second) <= len(first) {
		t.Errorf("second sample has %d points, first %d; want rates added", len(second), len(first))
	}
	for _, p := range second {
		if strings.ContainsAny(p.Name, " /") || strings.Contains(p.Name, "..") {
			t.Errorf("bad name %q", p.Name)
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			t.Errorf("%s = %v, not finite", p.Name, p.Value)
		}
		if strings.Contains(p.Name, ".net.lo.") {
			t.Errorf("loopback reported: %s", p.Name)
		}
	}
	t.Logf("%d points, e.g. cpu.idle=%.1f memory.used_percent=%.1f", len(second),
		got[base+"cpu.idle"], got[base+"memory.used_percent"])
}

// TestCollectClock checks that timestamps come from the injected clock and
// that the prefix option is honoured.
func TestCollectClock(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	c := New("n1", Options{Prefix: ".infra.corral.", Now: func() time.Time { return now }})
	for i := range 2 {
		points, err := c.Collect(context.Background())
		if err != nil {
			t.Fatalf("Collect %d: %v", i, err)
		}
		for _, p := range points {
			if p.Time != now.Unix() {
				t.Errorf("%s at %d, want %d", p.Name, p.Time, now.Unix())
			}
			if !strings.HasPrefix(p.Name, "infra.corral.n1.") {
				t.Errorf("name %q lacks prefix", p.Name)
			}
		}
		now = now.Add(10 * time.Second)
	}
}

// TestCollectZombie leaves an exited child unreaped and expects to count it.
func TestCollectZombie(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start /bin/true: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })
	// Wait for the child to exit without reaping it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
		if err != nil {
			t.Fatalf("read child stat: %v", err)
		}
		if st, ok := procState(data); ok && st == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never became a zombie")
		}
		time.Sleep(5 * time.Millisecond)
	}
	points, err := New("z", Options{}).Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if z := byName(points)["corral.z.processes.zombie"]; z < 1 {
		t.Errorf("processes.zombie = %v, want >= 1", z)
	}
}

func TestCollectCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if points, err := New("n", Options{}).Collect(ctx); err == nil || points != nil {
		t.Errorf("Collect on canceled ctx = %d points, %v; want nil, error", len(points), err)
	}
}

// BenchmarkCollect reports wall time and process CPU time (user+system,
// all threads) per steady-state Collect.
func BenchmarkCollect(b *testing.B) {
	ctx := context.Background()
	c := New("bench", Options{})
	if _, err := c.Collect(ctx); err != nil {
		b.Fatal(err)
	}
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Collect(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := time.Duration(r1.Utime.Nano() - r0.Utime.Nano() + r1.Stime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkReadProcesses isolates the processes.* scan, whose cost grows
// with the number of processes; it reports the cost per process.
func BenchmarkReadProcesses(b *testing.B) {
	c := New("bench", Options{})
	var total int
	for b.Loop() {
		pc, err := c.readProcesses()
		if err != nil {
			b.Fatal(err)
		}
		total = pc.total
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(total, 1)), "ns/process")
}
