package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"corral/internal/api"
	"corral/internal/metrics/carbon"
)

// DefaultPrefix is the first component of every metric name unless
// Options.Prefix says otherwise.
const DefaultPrefix = "corral"

// DefaultDiskIgnoreFSTypes lists the filesystem types that disk.* skips when
// Options.DiskIgnoreFSTypes is nil: kernel pseudo filesystems, in-memory and
// read-only image filesystems, and container overlays. A trailing '*'
// matches by prefix.
func DefaultDiskIgnoreFSTypes() []string {
	return []string{
		"autofs", "binfmt_misc", "bpf", "cgroup*", "configfs", "debugfs",
		"devpts", "devtmpfs", "efivarfs", "fuse.lxcfs", "fuse.portal", "fusectl",
		"hugetlbfs", "mqueue", "nsfs", "overlay", "proc", "pstore", "ramfs",
		"rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs",
		"tracefs", "iso9660",
	}
}

// Options configures a Collector. The zero value is usable.
type Options struct {
	// Prefix is the first component of every name; "" means DefaultPrefix.
	// It is used verbatim apart from trimming surrounding dots, so it may
	// hold several components ("infra.corral").
	Prefix string
	// Now is the clock; nil means time.Now. Timestamps and rate intervals
	// both come from it.
	Now func() time.Time
	// DiskIgnoreFSTypes lists filesystem types disk.* skips; nil means
	// DefaultDiskIgnoreFSTypes. A trailing '*' matches by prefix.
	DiskIgnoreFSTypes []string
}

// Collector samples the host. Rates are computed against the previous call
// to Collect, so a Collector is meant to be kept and called periodically by
// one agent; it is safe for concurrent use, but concurrent calls shorten
// each other's intervals.
type Collector struct {
	base     string // "<prefix>.<node>."
	now      func() time.Time
	ignoreFS []string

	mu       sync.Mutex
	procBuf  []byte
	ncpu     int // logical CPUs, looked up once; 0 until known
	havePrev bool
	prevAt   time.Time
	prevCPU  cpuTimes
	cpuOK    bool // prevCPU holds a real reading
	prevDisk map[string]diskCounters
	prevNet  map[string]netCounters
}

// New returns a Collector whose names start with "<prefix>.<node>.".
func New(node string, opts Options) *Collector {
	prefix := strings.Trim(opts.Prefix, ".")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	c := &Collector{
		base:     prefix + "." + carbon.Component(node) + ".",
		now:      opts.Now,
		ignoreFS: opts.DiskIgnoreFSTypes,
		procBuf:  make([]byte, 128),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.ignoreFS == nil {
		c.ignoreFS = DefaultDiskIgnoreFSTypes()
	}
	return c
}

// batch accumulates the points of one sample, dropping non-finite values.
type batch struct {
	base   string
	ts     int64
	points []api.MetricPoint
}

func (b *batch) add(name string, v float64) {
	if !finite(v) {
		return
	}
	b.points = append(b.points, api.MetricPoint{Name: b.base + name, Value: v, Time: b.ts})
}

// Collect takes one sample. The first call returns only gauges; later calls
// add the rates over the time since the previous call. A source that fails
// (say /proc/diskstats is unreadable) does not stop the others: Collect
// returns every point it could gather together with an error naming the
// failed sources. It returns no points only when ctx is already done.
func (c *Collector) Collect(ctx context.Context) ([]api.MetricPoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()

	at := c.now()
	dt := at.Sub(c.prevAt).Seconds()
	b := &batch{base: c.base, ts: at.Unix(), points: make([]api.MetricPoint, 0, 128)}
	var errs []error
	note := func(source string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", source, err))
		}
	}

	cpu, cpuErr := readCPU(ctx)
	note("cpu", cpuErr)
	if cpuErr == nil && c.havePrev && c.cpuOK {
		if pct, ok := cpuPercent(c.prevCPU, cpu); ok {
			for i, state := range cpuStates {
				b.add("cpu."+state, pct[i])
			}
		}
	}

	note("load", c.collectLoad(ctx, b))
	note("memory", collectMemory(ctx, b))
	note("swap", collectSwap(ctx, b))
	note("disk", c.collectDisk(ctx, b))

	disks, err := readDiskIO(ctx)
	note("diskio", err)
	if err == nil && c.havePrev {
		emitDiskIO(b, c.prevDisk, disks, dt)
	}

	nets, err := readNet(ctx)
	note("net", err)
	if err == nil && c.havePrev {
		emitNet(b, c.prevNet, nets, dt)
	}

	note("processes", c.collectProcesses(b))

	// A failed read leaves no baseline (nil map, cpuOK false), so the next
	// sample skips that rate instead of computing one over the wrong span.
	c.havePrev = true
	c.prevAt = at
	c.prevCPU, c.cpuOK = cpu, cpuErr == nil
	c.prevDisk = disks
	c.prevNet = nets
	return b.points, errors.Join(errs...)
}
