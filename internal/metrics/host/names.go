package host

import (
	"math"
	"strings"

	"corral/internal/metrics/carbon"
)

// mountName is the Graphite component for a mount point: "/" is "root",
// other mounts lose their leading slashes and are sanitised.
func mountName(mountpoint string) string {
	if mountpoint == "/" {
		return "root"
	}
	return carbon.Component(strings.TrimLeft(mountpoint, "/"))
}

// rate is the per-second change from prev to cur over dt seconds. It reports
// false when dt is not positive or the counter went backwards (a reset or
// wrap), since no honest rate exists for that interval.
func rate(prev, cur uint64, dt float64) (float64, bool) {
	if dt <= 0 || cur < prev || math.IsNaN(dt) || math.IsInf(dt, 0) {
		return 0, false
	}
	return float64(cur-prev) / dt, true
}

// cpuTimes holds the cumulative jiffies-as-seconds of the eight CPU states
// reported. Guest time is already included in user and nice by Linux, so it
// is left out to avoid counting it twice.
type cpuTimes struct {
	User, System, Idle, Iowait, Steal, Nice, Irq, Softirq float64
}

// cpuStates names the fields of cpuTimes in metric order.
var cpuStates = [8]string{"user", "system", "idle", "iowait", "steal", "nice", "irq", "softirq"}

func (t cpuTimes) values() [8]float64 {
	return [8]float64{t.User, t.System, t.Idle, t.Iowait, t.Steal, t.Nice, t.Irq, t.Softirq}
}

// cpuPercent returns the share of each state in cpuStates order between two
// samples, summing to 100. A state whose counter went backwards (the kernel
// does this to iowait) counts as zero. It reports false when no time passed.
func cpuPercent(prev, cur cpuTimes) ([8]float64, bool) {
	var out [8]float64
	p, c := prev.values(), cur.values()
	var total float64
	for i := range c {
		d := c[i] - p[i]
		if d < 0 || math.IsNaN(d) || math.IsInf(d, 0) {
			d = 0
		}
		out[i] = d
		total += d
	}
	if total <= 0 {
		return out, false
	}
	for i := range out {
		out[i] = out[i] / total * 100
	}
	return out, true
}

// ignoredFSType reports whether fstype matches one of patterns; a pattern
// ending in '*' matches by prefix.
func ignoredFSType(fstype string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(fstype, prefix) {
				return true
			}
		} else if fstype == p {
			return true
		}
	}
	return false
}

// ignoredBlockDevice reports whether a /proc/diskstats device is a loop or
// RAM disk, which say nothing about real storage.
func ignoredBlockDevice(name string) bool {
	return strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") ||
		strings.HasPrefix(name, "zram")
}

// finite reports whether v can be sent to Graphite.
func finite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}
