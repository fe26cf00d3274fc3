package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"

	"corral/internal/api"
)

// ignoredFS are the filesystem types the disk check skips when it looks at
// every mount: kernel pseudo filesystems, memory and image filesystems and
// container overlays (the same list as the host metrics). A trailing '*'
// matches by prefix.
var ignoredFS = []string{
	"autofs", "binfmt_misc", "bpf", "cgroup*", "configfs", "debugfs",
	"devpts", "devtmpfs", "efivarfs", "fuse.lxcfs", "fuse.portal", "fusectl",
	"hugetlbfs", "mqueue", "nsfs", "overlay", "proc", "pstore", "ramfs",
	"rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs",
	"tracefs", "iso9660", "nfs*", "cifs", "smb3", "fuse.sshfs",
}

func ignoredFSType(t string) bool {
	for _, p := range ignoredFS {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(t, prefix) || t == p {
			return true
		}
	}
	return false
}

// diskProbe: args path (one mount; absent = every real local mount),
// warning/critical (% used, default 80/90), inode_warning/inode_critical
// (% inodes used, default the same as warning/critical).
type diskProbe struct {
	path                 string
	warn, crit           float64
	inodeWarn, inodeCrit float64
	partitions           func(ctx context.Context) ([]string, error)
	usage                func(ctx context.Context, path string) (*disk.UsageStat, error)
}

func parseDisk(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &diskProbe{path: r.str("path", "")}
	p.warn = r.percent("warning", 80)
	p.crit = r.percent("critical", 90)
	r.ordered("warning", p.warn, p.crit)
	_, iw := a["inode_warning"]
	_, ic := a["inode_critical"]
	p.inodeWarn = r.percent("inode_warning", p.warn)
	p.inodeCrit = r.percent("inode_critical", p.crit)
	if iw || ic {
		r.ordered("inode_warning", p.inodeWarn, p.inodeCrit)
	}
	p.partitions = realMounts
	p.usage = disk.UsageWithContext
	return p, r.done()
}

// realMounts lists the mount points of local, real filesystems.
func realMounts(ctx context.Context) ([]string, error) {
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil {
		return nil, err
	}
	// A device mounted more than once (bind mounts, container files) is
	// judged once, at its first mount point.
	seen := map[string]bool{}
	var out []string
	for _, p := range parts {
		key := p.Mountpoint
		if strings.HasPrefix(p.Device, "/dev/") {
			key = p.Device
		}
		if ignoredFSType(p.Fstype) || seen[key] || seen[p.Mountpoint] {
			continue
		}
		seen[key], seen[p.Mountpoint] = true, true
		out = append(out, p.Mountpoint)
	}
	return out, nil
}

func (p *diskProbe) Probe(ctx context.Context, _ Env) Outcome {
	paths := []string{p.path}
	if p.path == "" {
		var err error
		if paths, err = p.partitions(ctx); err != nil {
			return unknown("DISK", err)
		}
	}
	status := api.StatusOK
	var texts, perf []string
	var errs []error
	for _, path := range paths {
		u, err := p.usage(ctx, path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if u.Total == 0 {
			continue
		}
		s := above(u.UsedPercent, p.warn, p.crit)
		text := fmt.Sprintf("%s %s%% used (%s of %s)", path, f2(u.UsedPercent), humanBytes(u.Used), humanBytes(u.Total))
		const mb = 1 << 20
		perf = append(perf, fmt.Sprintf("%s=%dMB;%d;%d;0;%d", perfLabelText(path), u.Used/mb,
			uint64(float64(u.Total)*p.warn/100)/mb, uint64(float64(u.Total)*p.crit/100)/mb, u.Total/mb))
		if u.InodesTotal > 0 {
			is := above(u.InodesUsedPercent, p.inodeWarn, p.inodeCrit)
			if is != api.StatusOK {
				text += fmt.Sprintf(", inodes %s%% used", f2(u.InodesUsedPercent))
			}
			s = max(s, is)
			perf = append(perf, fmt.Sprintf("%s=%s%%;%s;%s;0;100", perfLabelText(path+" inodes"),
				f2(u.InodesUsedPercent), fnum(p.inodeWarn), fnum(p.inodeCrit)))
		}
		status = max(status, s)
		texts = append(texts, text)
	}
	if len(errs) > 0 && len(texts) == 0 {
		return unknown("DISK", errors.Join(errs...))
	}
	if len(texts) == 0 {
		return Outcome{api.StatusOK, "DISK OK - no real filesystems"}
	}
	if len(errs) > 0 {
		status = max(status, api.StatusWarning)
		texts = append(texts, "errors: "+errors.Join(errs...).Error())
	}
	return Outcome{status, fmt.Sprintf("DISK %s - %s | %s", label(status), strings.Join(texts, ", "), strings.Join(perf, " "))}
}

// cpuProbe: args warning/critical (% busy, default 90/95). Busy is
// everything but idle and iowait, over the time since the previous run
// (the first run, or one right after the previous, samples for 200 ms).
type cpuProbe struct {
	warn, crit float64
	times      func(ctx context.Context) (cpu.TimesStat, error)

	mu   sync.Mutex
	prev cpu.TimesStat
	have bool
}

// firstSample is how long the cpu check samples on its first run.
const firstSample = 200 * time.Millisecond

func parseCPU(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &cpuProbe{warn: r.percent("warning", 90), crit: r.percent("critical", 95), times: cpuTimes}
	r.ordered("warning", p.warn, p.crit)
	return p, r.done()
}

func cpuTimes(ctx context.Context) (cpu.TimesStat, error) {
	ts, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return cpu.TimesStat{}, err
	}
	if len(ts) == 0 {
		return cpu.TimesStat{}, errors.New("no aggregate cpu times")
	}
	return ts[0], nil
}

func (p *cpuProbe) Probe(ctx context.Context, _ Env) Outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pct map[string]float64
	// The counters tick every 10 ms: a run right after the previous one (or
	// the first run) samples again after a short wait.
	for attempt := 0; attempt < 2; attempt++ {
		cur, err := p.times(ctx)
		if err != nil {
			return unknown("CPU", err)
		}
		var ok bool
		if p.have {
			pct, ok = cpuShares(p.prev, cur)
		}
		p.prev, p.have = cur, true
		if ok {
			break
		}
		if attempt == 1 {
			return Outcome{api.StatusUnknown, "CPU UNKNOWN - no cpu time passed between samples"}
		}
		select {
		case <-time.After(firstSample):
		case <-ctx.Done():
			return unknown("CPU", ctx.Err())
		}
	}
	busy := 100 - pct["idle"] - pct["iowait"]
	s := above(busy, p.warn, p.crit)
	return Outcome{s, fmt.Sprintf("CPU %s - %s%% busy (user %s%%, system %s%%, iowait %s%%, steal %s%%) | busy=%s%%;%s;%s;0;100 user=%s%% system=%s%% iowait=%s%% steal=%s%%",
		label(s), f2(busy), f2(pct["user"]), f2(pct["system"]), f2(pct["iowait"]), f2(pct["steal"]),
		f2(busy), fnum(p.warn), fnum(p.crit), f2(pct["user"]+pct["nice"]), f2(pct["system"]+pct["irq"]+pct["softirq"]), f2(pct["iowait"]), f2(pct["steal"]))}
}

// cpuShares is the percentage of each state between two samples. A counter
// that went backwards counts zero; ok is false when no time passed.
func cpuShares(a, b cpu.TimesStat) (map[string]float64, bool) {
	d := map[string]float64{
		"user": b.User - a.User, "nice": b.Nice - a.Nice, "system": b.System - a.System,
		"idle": b.Idle - a.Idle, "iowait": b.Iowait - a.Iowait, "irq": b.Irq - a.Irq,
		"softirq": b.Softirq - a.Softirq, "steal": b.Steal - a.Steal,
	}
	var total float64
	for k, v := range d {
		if v < 0 || math.IsNaN(v) {
			d[k], v = 0, 0
		}
		total += v
	}
	if total <= 0 {
		return nil, false
	}
	for k := range d {
		d[k] = d[k] / total * 100
	}
	return d, true
}

// memoryProbe: args warning/critical (% used, default 90/95), where used
// is total minus MemAvailable.
type memoryProbe struct {
	warn, crit float64
	read       func(ctx context.Context) (*mem.VirtualMemoryStat, error)
}

func parseMemory(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &memoryProbe{warn: r.percent("warning", 90), crit: r.percent("critical", 95), read: mem.VirtualMemoryWithContext}
	r.ordered("warning", p.warn, p.crit)
	return p, r.done()
}

func (p *memoryProbe) Probe(ctx context.Context, _ Env) Outcome {
	vm, err := p.read(ctx)
	if err != nil {
		return unknown("MEMORY", err)
	}
	if vm.Total == 0 {
		return Outcome{api.StatusUnknown, "MEMORY UNKNOWN - total memory is zero"}
	}
	used := vm.Total - min(vm.Available, vm.Total)
	pct := float64(used) / float64(vm.Total) * 100
	s := above(pct, p.warn, p.crit)
	return Outcome{s, fmt.Sprintf("MEMORY %s - %s%% used (%s of %s) | used=%s%%;%s;%s;0;100 used_bytes=%dB;;;0;%d",
		label(s), f2(pct), humanBytes(used), humanBytes(vm.Total), f2(pct), fnum(p.warn), fnum(p.crit), used, vm.Total)}
}

// swapProbe: args warning/critical (% used, default 50/80). No swap is ok.
type swapProbe struct {
	warn, crit float64
	read       func(ctx context.Context) (*mem.SwapMemoryStat, error)
}

func parseSwap(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &swapProbe{warn: r.percent("warning", 50), crit: r.percent("critical", 80), read: mem.SwapMemoryWithContext}
	r.ordered("warning", p.warn, p.crit)
	return p, r.done()
}

func (p *swapProbe) Probe(ctx context.Context, _ Env) Outcome {
	sw, err := p.read(ctx)
	if err != nil {
		return unknown("SWAP", err)
	}
	if sw.Total == 0 {
		return Outcome{api.StatusOK, "SWAP OK - no swap configured"}
	}
	pct := float64(sw.Used) / float64(sw.Total) * 100
	s := above(pct, p.warn, p.crit)
	return Outcome{s, fmt.Sprintf("SWAP %s - %s%% used (%s of %s) | used=%s%%;%s;%s;0;100",
		label(s), f2(pct), humanBytes(sw.Used), humanBytes(sw.Total), f2(pct), fnum(p.warn), fnum(p.crit))}
}

// loadProbe: args warning/critical as "l1,l5,l15" per core (check_load -r),
// default "2.75,2.5,2" and "3.5,3.25,3"; one number sets all three.
type loadProbe struct {
	warn, crit [3]float64
	read       func(ctx context.Context) (*load.AvgStat, error)
	cores      func(ctx context.Context) (int, error)
}

func parseLoad(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &loadProbe{read: load.AvgWithContext, cores: func(ctx context.Context) (int, error) { return cpu.CountsWithContext(ctx, true) }}
	p.warn = loadTriple(r, "warning", [3]float64{2.75, 2.5, 2})
	p.crit = loadTriple(r, "critical", [3]float64{3.5, 3.25, 3})
	for i := range p.warn {
		if p.warn[i] > p.crit[i] {
			r.fe.Add("warning", "must not be above critical")
		}
	}
	return p, r.done()
}

// loadTriple reads "a,b,c", a list of three numbers, or one number.
func loadTriple(r *reader, name string, def [3]float64) [3]float64 {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	var parts []any
	switch x := v.(type) {
	case string:
		for _, s := range strings.Split(x, ",") {
			parts = append(parts, s)
		}
	case []any:
		parts = x
	default:
		parts = []any{x}
	}
	if len(parts) == 1 {
		parts = []any{parts[0], parts[0], parts[0]}
	}
	var out [3]float64
	if len(parts) != 3 {
		r.fe.Add(name, "must be three numbers \"1m,5m,15m\" (per core) or one")
		return def
	}
	for i, x := range parts {
		f, ok := toNumber(x)
		if !ok || f < 0 {
			r.fe.Add(name, "must be three numbers \"1m,5m,15m\" (per core) or one")
			return def
		}
		out[i] = f
	}
	return out
}

func (p *loadProbe) Probe(ctx context.Context, _ Env) Outcome {
	avg, err := p.read(ctx)
	if err != nil {
		return unknown("LOAD", err)
	}
	n, err := p.cores(ctx)
	if err != nil || n <= 0 {
		n = 1
	}
	per := [3]float64{avg.Load1 / float64(n), avg.Load5 / float64(n), avg.Load15 / float64(n)}
	s := api.StatusOK
	for i := range per {
		s = max(s, above(per[i], p.warn[i], p.crit[i]))
	}
	names := [3]string{"load1", "load5", "load15"}
	var perf []string
	for i, v := range per {
		perf = append(perf, fmt.Sprintf("%s=%s;%s;%s;0", names[i], f2(v), fnum(p.warn[i]), fnum(p.crit[i])))
	}
	return Outcome{s, fmt.Sprintf("LOAD %s - load average per core (%d cores): %s, %s, %s | %s",
		label(s), n, f2(per[0]), f2(per[1]), f2(per[2]), strings.Join(perf, " "))}
}
