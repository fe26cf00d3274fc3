package host

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"

	"corral/internal/metrics/carbon"
)

// readCPU returns the cumulative times of all CPUs together.
func readCPU(ctx context.Context) (cpuTimes, error) {
	ts, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return cpuTimes{}, err
	}
	if len(ts) == 0 {
		return cpuTimes{}, errors.New("no aggregate cpu line")
	}
	t := ts[0]
	return cpuTimes{
		User: t.User, System: t.System, Idle: t.Idle, Iowait: t.Iowait,
		Steal: t.Steal, Nice: t.Nice, Irq: t.Irq, Softirq: t.Softirq,
	}, nil
}

func (c *Collector) collectLoad(ctx context.Context, b *batch) error {
	avg, err := load.AvgWithContext(ctx)
	if err != nil {
		return err
	}
	b.add("load.load1", avg.Load1)
	b.add("load.load5", avg.Load5)
	b.add("load.load15", avg.Load15)
	if c.ncpu == 0 {
		// Host-wide, not the process's affinity mask: load is host-wide too.
		n, err := cpu.CountsWithContext(ctx, true)
		if err != nil {
			return err
		}
		c.ncpu = n
	}
	if c.ncpu > 0 {
		b.add("load.per_core.load1", avg.Load1/float64(c.ncpu))
	}
	return nil
}

func collectMemory(ctx context.Context, b *batch) error {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return err
	}
	b.add("memory.total", float64(vm.Total))
	b.add("memory.used", float64(vm.Used))
	b.add("memory.free", float64(vm.Free))
	b.add("memory.available", float64(vm.Available))
	b.add("memory.buffers", float64(vm.Buffers))
	b.add("memory.cached", float64(vm.Cached))
	b.add("memory.used_percent", vm.UsedPercent)
	return nil
}

func collectSwap(ctx context.Context, b *batch) error {
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return err
	}
	b.add("swap.total", float64(sw.Total))
	b.add("swap.used", float64(sw.Used))
	b.add("swap.free", float64(sw.Free))
	b.add("swap.used_percent", sw.UsedPercent)
	return nil
}

// collectDisk reports space and inode use of every real mount. Statfs on a
// dead network mount can block; such types belong in DiskIgnoreFSTypes.
func (c *Collector) collectDisk(ctx context.Context, b *batch) error {
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil {
		return err
	}
	var errs []error
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		if ignoredFSType(p.Fstype, c.ignoreFS) || seen[p.Mountpoint] {
			continue
		}
		seen[p.Mountpoint] = true
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if u.Total == 0 {
			continue
		}
		m := "disk." + mountName(p.Mountpoint) + "."
		b.add(m+"total", float64(u.Total))
		b.add(m+"used", float64(u.Used))
		b.add(m+"free", float64(u.Free))
		b.add(m+"used_percent", u.UsedPercent)
		if u.InodesTotal > 0 {
			b.add(m+"inodes_used_percent", u.InodesUsedPercent)
		}
	}
	return errors.Join(errs...)
}

type diskCounters struct{ readBytes, writeBytes, reads, writes uint64 }

func readDiskIO(ctx context.Context) (map[string]diskCounters, error) {
	io, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]diskCounters, len(io))
	for name, s := range io {
		if ignoredBlockDevice(name) {
			continue
		}
		out[name] = diskCounters{s.ReadBytes, s.WriteBytes, s.ReadCount, s.WriteCount}
	}
	return out, nil
}

func emitDiskIO(b *batch, prev, cur map[string]diskCounters, dt float64) {
	for _, name := range slices.Sorted(maps.Keys(cur)) {
		p, ok := prev[name]
		if !ok {
			continue
		}
		c := cur[name]
		m := "diskio." + carbon.Component(name) + "."
		addRate(b, m+"read_bytes", p.readBytes, c.readBytes, dt)
		addRate(b, m+"write_bytes", p.writeBytes, c.writeBytes, dt)
		addRate(b, m+"reads", p.reads, c.reads, dt)
		addRate(b, m+"writes", p.writes, c.writes, dt)
	}
}

type netCounters struct{ rxBytes, txBytes, rxPackets, txPackets, rxErrors, txErrors uint64 }

func readNet(ctx context.Context) (map[string]netCounters, error) {
	io, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make(map[string]netCounters, len(io))
	for _, s := range io {
		if s.Name == "lo" {
			continue
		}
		out[s.Name] = netCounters{s.BytesRecv, s.BytesSent, s.PacketsRecv, s.PacketsSent, s.Errin, s.Errout}
	}
	return out, nil
}

func emitNet(b *batch, prev, cur map[string]netCounters, dt float64) {
	for _, name := range slices.Sorted(maps.Keys(cur)) {
		p, ok := prev[name]
		if !ok {
			continue
		}
		c := cur[name]
		m := "net." + carbon.Component(name) + "."
		addRate(b, m+"rx_bytes", p.rxBytes, c.rxBytes, dt)
		addRate(b, m+"tx_bytes", p.txBytes, c.txBytes, dt)
		addRate(b, m+"rx_packets", p.rxPackets, c.rxPackets, dt)
		addRate(b, m+"tx_packets", p.txPackets, c.txPackets, dt)
		addRate(b, m+"rx_errors", p.rxErrors, c.rxErrors, dt)
		addRate(b, m+"tx_errors", p.txErrors, c.txErrors, dt)
	}
}

func addRate(b *batch, name string, prev, cur uint64, dt float64) {
	if v, ok := rate(prev, cur, dt); ok {
		b.add(name, v)
	}
}
