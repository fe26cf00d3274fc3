package host

import (
	"math"
	"testing"
)

func TestMountName(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"root", "/", "root"},
		{"one level", "/boot", "boot"},
		{"nested", "/var/lib/docker", "var_lib_docker"},
		{"dotted", "/mnt/data.1", "mnt_data_1"},
		{"space", "/media/USB Stick", "media_USB_Stick"},
		{"double slash", "//srv", "srv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mountName(tt.in); got != tt.want {
				t.Errorf("mountName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint64
		dt        float64
		want      float64
		ok        bool
	}{
		{"steady", 1000, 2000, 10, 100, true},
		{"unchanged", 5, 5, 10, 0, true},
		{"fraction", 0, 1, 4, 0.25, true},
		{"reset", 2000, 10, 10, 0, false},
		{"zero interval", 0, 10, 0, 0, false},
		{"negative interval", 0, 10, -1, 0, false},
		{"nan interval", 0, 10, math.NaN(), 0, false},
		{"huge counter", math.MaxUint64 - 10, math.MaxUint64, 1, 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rate(tt.prev, tt.cur, tt.dt)
			if ok != tt.ok || got != tt.want {
				t.Errorf("rate(%d, %d, %v) = %v, %v; want %v, %v", tt.prev, tt.cur, tt.dt, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCPUPercent(t *testing.T) {
	base := cpuTimes{User: 100, System: 50, Idle: 1000, Iowait: 10, Steal: 1, Nice: 2, Irq: 3, Softirq: 4}
	tests := []struct {
		name string
		cur  cpuTimes
		want [8]float64 // user, system, idle, iowait, steal, nice, irq, softirq
		ok   bool
	}{
		{
			name: "busy and idle",
			cur:  cpuTimes{User: 130, System: 60, Idle: 1060, Iowait: 10, Steal: 1, Nice: 2, Irq: 3, Softirq: 4},
			want: [8]float64{30, 10, 60, 0, 0, 0, 0, 0},
			ok:   true,
		},
		{
			name: "every state",
			cur:  cpuTimes{User: 101, System: 51, Idle: 1001, Iowait: 11, Steal: 2, Nice: 3, Irq: 4, Softirq: 5},
			want: [8]float64{12.5, 12.5, 12.5, 12.5, 12.5, 12.5, 12.5, 12.5},
			ok:   true,
		},
		{
			name: "iowait goes backwards",
			cur:  cpuTimes{User: 100, System: 50, Idle: 1010, Iowait: 5, Steal: 1, Nice: 2, Irq: 3, Softirq: 4},
			want: [8]float64{0, 0, 100, 0, 0, 0, 0, 0},
			ok:   true,
		},
		{name: "no time passed", cur: base, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cpuPercent(base, tt.cur)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			var sum float64
			for i := range got {
				sum += got[i]
				if math.Abs(got[i]-tt.want[i]) > 1e-9 {
					t.Errorf("%s = %v, want %v", cpuStates[i], got[i], tt.want[i])
				}
			}
			if math.Abs(sum-100) > 1e-9 {
				t.Errorf("sum = %v, want 100", sum)
			}
		})
	}
}

func TestIgnoredFSType(t *testing.T) {
	defaults := DefaultDiskIgnoreFSTypes()
	tests := []struct {
		name, fstype string
		patterns     []string
		want         bool
	}{
		{"ext4 kept", "ext4", defaults, false},
		{"xfs kept", "xfs", defaults, false},
		{"tmpfs", "tmpfs", defaults, true},
		{"cgroup", "cgroup", defaults, true},
		{"cgroup2 by prefix", "cgroup2", defaults, true},
		{"overlay", "overlay", defaults, true},
		{"exact only", "tmpfs2", []string{"tmpfs"}, false},
		{"no patterns", "tmpfs", nil, false},
		{"star matches all", "ext4", []string{"*"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ignoredFSType(tt.fstype, tt.patterns); got != tt.want {
				t.Errorf("ignoredFSType(%q) = %v, want %v", tt.fstype, got, tt.want)
			}
		})
	}
}

func TestIgnoredBlockDevice(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"loop0", true}, {"ram1", true}, {"zram0", true},
		{"sda", false}, {"sda1", false}, {"nvme0n1p2", false}, {"vda", false}, {"dm-0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ignoredBlockDevice(tt.name); got != tt.want {
				t.Errorf("ignoredBlockDevice(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name             string
		in               string
		running, blocked int
		ok               bool
	}{
		{
			name:    "linux",
			in:      "cpu  1 2 3 4\nctxt 99\nprocesses 1234\nprocs_running 3\nprocs_blocked 1\nsoftirq 0 0\n",
			running: 3, blocked: 1, ok: true,
		},
		{name: "missing blocked", in: "procs_running 3\n", ok: false},
		{name: "garbage value", in: "procs_running x\nprocs_blocked 1\n", ok: false},
		{name: "empty", in: "", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, b, ok := parseProcStat([]byte(tt.in))
			if ok != tt.ok || (ok && (r != tt.running || b != tt.blocked)) {
				t.Errorf("parseProcStat = %d, %d, %v; want %d, %d, %v", r, b, ok, tt.running, tt.blocked, tt.ok)
			}
		})
	}
}

func TestProcState(t *testing.T) {
	tests := []struct {
		name, in string
		want     byte
		ok       bool
	}{
		{"sleeping", "1 (systemd) S 0 1 1", 'S', true},
		{"zombie", "42 (defunct) Z 1 42", 'Z', true},
		{"paren in name", "7 (a) b) R 1 7", 'R', true},
		{"space in name", "8 (Web Content) S 1", 'S', true},
		{"truncated", "9 (x)", 0, false},
		{"no paren", "garbage", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := procState([]byte(tt.in))
			if ok != tt.ok || got != tt.want {
				t.Errorf("procState(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestIsPID(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{{"1", true}, {"31337", true}, {"self", false}, {"", false}, {"12a", false}, {"sys", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isPID(tt.name); got != tt.want {
				t.Errorf("isPID(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}
