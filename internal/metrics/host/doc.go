// Package host samples the health of the machine an agent runs on (CPU, load,
// memory, swap, filesystems, block devices, network interfaces and processes)
// and turns it into Graphite metric points, in the spirit of collectd's cpu,
// load, memory, swap, df, disk, interface and processes plugins. The agent
// imports it and calls [Collector.Collect] every 10 s; nothing else should.
//
// Every name starts with "<prefix>.<node>." where prefix defaults to "corral"
// and node is sanitised for Graphite ('.', '/', whitespace and other control
// characters become '_'). Mount points, devices and interfaces are sanitised
// the same way; the root mount "/" is called "root" and other mounts lose
// their leading slash ("/var/lib" → "var_lib").
//
// Gauges, present in every sample:
//
//	load.load1  load.load5  load.load15  load.per_core.load1
//	memory.total  memory.used  memory.free  memory.available
//	memory.buffers  memory.cached                        (bytes)
//	memory.used_percent
//	swap.total  swap.used  swap.free                     (bytes)
//	swap.used_percent
//	disk.<mount>.total  disk.<mount>.used  disk.<mount>.free   (bytes)
//	disk.<mount>.used_percent  disk.<mount>.inodes_used_percent
//	processes.total  processes.running  processes.blocked  processes.zombie
//
// Rates, computed against the previous call and therefore absent from the
// first sample (and for a device or interface first seen in this sample):
//
//	cpu.user  cpu.system  cpu.idle  cpu.iowait
//	cpu.steal  cpu.nice  cpu.irq  cpu.softirq            (percent of all CPUs; sum 100)
//	diskio.<device>.read_bytes  diskio.<device>.write_bytes    (bytes/s)
//	diskio.<device>.reads  diskio.<device>.writes              (operations/s)
//	net.<iface>.rx_bytes  net.<iface>.tx_bytes                 (bytes/s)
//	net.<iface>.rx_packets  net.<iface>.tx_packets             (packets/s)
//	net.<iface>.rx_errors  net.<iface>.tx_errors               (errors/s)
//
// disk.* covers mounts whose filesystem type is not in
// [Options.DiskIgnoreFSTypes] (pseudo and overlay filesystems by default),
// one entry per mount point; diskio.* skips loop, ram and zram devices;
// net.* skips the loopback interface "lo". A counter that goes backwards
// (device reset, wrap) yields no rate for that interval. inodes_used_percent
// is omitted for filesystems without inodes. Values that are NaN or infinite
// are never emitted.
//
// The processes plugin reads procs_running and procs_blocked from /proc/stat,
// counts /proc/[0-9]* for the total and reads the state field of each
// /proc/<pid>/stat for zombies. It is Linux only, like the rest of the stack;
// on other systems the process gauges are skipped with an error.
package host
