package check

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"

	"corral/internal/api"
)

func mustProbe(t *testing.T, builtin string, args Args) Probe {
	t.Helper()
	p, fe := Builtins()[builtin](args)
	if len(fe) > 0 {
		t.Fatalf("%s args %v: %v", builtin, args, fe)
	}
	return p
}

// statfsUsedPercent computes df's use% of path from statfs(2) directly.
func statfsUsedPercent(t *testing.T, path string) float64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	used := float64(st.Blocks - st.Bfree)
	return used / (used + float64(st.Bavail)) * 100
}

func TestDisk(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("statfs comparison is written for Linux")
	}
	for _, path := range []string{"/", t.TempDir()} {
		pct := statfsUsedPercent(t, path)
		if pct <= 0.5 || pct >= 99.5 {
			t.Skipf("%s is %.1f%% used: too close to the edges to force each status", path, pct)
		}
		below, over := math.Floor(pct)-0.5, math.Ceil(pct)+0.5
		tests := []struct {
			name       string
			warn, crit float64
			want       int
		}{
			{"ok", over, over + 0.1, api.StatusOK},
			{"warning", below, over, api.StatusWarning},
			{"critical", below - 0.1, below, api.StatusCritical},
			{"percent strings", below, 100, api.StatusWarning},
		}
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				args := Args{"path": path, "warning": tt.warn, "critical": tt.crit, "inode_warning": 100.0, "inode_critical": 100.0}
				if tt.name == "percent strings" {
					args["warning"] = fmt.Sprintf("%g%%", tt.warn)
					args["critical"] = "100%"
				}
				o := mustProbe(t, "disk", args).Probe(context.Background(), Env{})
				if o.Status != tt.want {
					t.Fatalf("status %d, want %d: %s", o.Status, tt.want, o.Output)
				}
				wantPrefix := fmt.Sprintf("DISK %s - %s ", label(tt.want), path)
				if !strings.HasPrefix(o.Output, wantPrefix) {
					t.Errorf("output %q, want prefix %q", o.Output, wantPrefix)
				}
				perfs, err := ParsePerfdata(SplitPerfdata(o.Output))
				if err != nil || len(perfs) == 0 || perfs[0].Label != path || perfs[0].UOM != "MB" {
					t.Errorf("perfdata %+v (%v), want %s=...MB first", perfs, err, path)
				}
			})
		}
	}
}

func TestDiskEveryMount(t *testing.T) {
	o := mustProbe(t, "disk", Args{"warning": 100.0, "critical": 100.0}).Probe(context.Background(), Env{})
	if o.Status == api.StatusUnknown {
		t.Fatalf("unknown: %s", o.Output)
	}
	for _, pseudo := range []string{"/proc ", "/sys ", "/dev/shm "} {
		if strings.Contains(o.Output, pseudo) {
			t.Errorf("output lists pseudo filesystem %s: %s", pseudo, o.Output)
		}
	}
}

func TestCPU(t *testing.T) {
	samples := []cpu.TimesStat{
		{User: 100, System: 50, Idle: 800, Iowait: 50},
		// +30 user, +10 system, +50 idle, +10 iowait: busy 40 of 100.
		{User: 130, System: 60, Idle: 850, Iowait: 60},
		// +90 user, +10 idle: busy 90 of 100.
		{User: 220, System: 60, Idle: 860, Iowait: 60},
		// nothing passed, and still nothing after resampling
		{User: 220, System: 60, Idle: 860, Iowait: 60},
		{User: 220, System: 60, Idle: 860, Iowait: 60},
		// then +5 system, +5 idle: busy 50.
		{User: 220, System: 65, Idle: 865, Iowait: 60},
	}
	p := mustProbe(t, "cpu", Args{"warning": 50, "critical": "90%"}).(*cpuProbe)
	i := 0
	p.times = func(context.Context) (cpu.TimesStat, error) { s := samples[i]; i++; return s, nil }
	tests := []struct {
		want     int
		wantText string
	}{
		{api.StatusOK, "CPU OK - 40% busy"},
		{api.StatusCritical, "CPU CRITICAL - 90% busy"},
		{api.StatusUnknown, "CPU UNKNOWN - no cpu time passed between samples"},
		{api.StatusWarning, "CPU WARNING - 50% busy"},
	}
	for n, tt := range tests {
		o := p.Probe(context.Background(), Env{})
		if i != []int{2, 3, 5, 6}[n] {
			t.Errorf("run %d: %d samples taken so far", n, i)
		}
		if o.Status != tt.want || !strings.HasPrefix(o.Output, tt.wantText) {
			t.Errorf("run %d: %d %q, want %d %q", n, o.Status, o.Output, tt.want, tt.wantText)
		}
	}
	// And on this machine, with the real counters.
	o := mustProbe(t, "cpu", nil).Probe(context.Background(), Env{})
	if o.Status == api.StatusUnknown || !strings.Contains(o.Output, "| busy=") {
		t.Errorf("real cpu: %d %q", o.Status, o.Output)
	}
}

func TestMemorySwapLoad(t *testing.T) {
	const gib = 1 << 30
	mp := func(args Args, total, avail uint64) Probe {
		p := mustProbe(t, "memory", args).(*memoryProbe)
		p.read = func(context.Context) (*mem.VirtualMemoryStat, error) {
			return &mem.VirtualMemoryStat{Total: total, Available: avail}, nil
		}
		return p
	}
	sp := func(args Args, total, used uint64) Probe {
		p := mustProbe(t, "swap", args).(*swapProbe)
		p.read = func(context.Context) (*mem.SwapMemoryStat, error) {
			return &mem.SwapMemoryStat{Total: total, Used: used}, nil
		}
		return p
	}
	lp := func(args Args, cores int, l1, l5, l15 float64) Probe {
		p := mustProbe(t, "load", args).(*loadProbe)
		p.read = func(context.Context) (*load.AvgStat, error) {
			return &load.AvgStat{Load1: l1, Load5: l5, Load15: l15}, nil
		}
		p.cores = func(context.Context) (int, error) { return cores, nil }
		return p
	}
	tests := []struct {
		name     string
		probe    Probe
		want     int
		wantText string
	}{
		{"memory ok", mp(nil, 8*gib, 4*gib), api.StatusOK, "MEMORY OK - 50% used (4.0 GiB of 8.0 GiB) | used=50%;90;95;0;100"},
		{"memory warning", mp(nil, 100*gib, 8*gib), api.StatusWarning, "MEMORY WARNING - 92% used"},
		{"memory critical", mp(Args{"critical": 92}, 100*gib, 8*gib), api.StatusCritical, "MEMORY CRITICAL - 92% used"},
		{"no swap", sp(nil, 0, 0), api.StatusOK, "SWAP OK - no swap configured"},
		{"swap warning", sp(nil, 4*gib, 3*gib), api.StatusWarning, "SWAP WARNING - 75% used (3.0 GiB of 4.0 GiB)"},
		{"swap critical", sp(nil, 4*gib, 4*gib), api.StatusCritical, "SWAP CRITICAL - 100% used"},
		{"load ok per core", lp(nil, 4, 8, 8, 6), api.StatusOK, "LOAD OK - load average per core (4 cores): 2, 2, 1.5 | load1=2;2.75;3.5;0 load5=2;2.5;3.25;0 load15=1.5;2;3;0"},
		{"load warning on 15", lp(nil, 2, 1, 1, 4.2), api.StatusWarning, "LOAD WARNING"},
		{"load critical", lp(Args{"warning": "1,1,1", "critical": 2}, 1, 2.5, 0, 0), api.StatusCritical, "LOAD CRITICAL"},
		{"load list args", lp(Args{"warning": []any{1.0, 1.0, 1.0}, "critical": []any{9.0, 9.0, 9.0}}, 1, 1.5, 0, 0), api.StatusWarning, "LOAD WARNING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.probe.Probe(context.Background(), Env{})
			if o.Status != tt.want || !strings.HasPrefix(o.Output, tt.wantText) {
				t.Errorf("got %d %q, want %d %q", o.Status, o.Output, tt.want, tt.wantText)
			}
		})
	}
	// The real readings on this machine give a judgement, not unknown.
	for _, b := range []string{"memory", "swap", "load"} {
		o := mustProbe(t, b, nil).Probe(context.Background(), Env{})
		if o.Status == api.StatusUnknown || !strings.HasPrefix(o.Output, strings.ToUpper(b)+" ") {
			t.Errorf("real %s: %d %q", b, o.Status, o.Output)
		}
	}
}
