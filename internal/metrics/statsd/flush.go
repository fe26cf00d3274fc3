package statsd

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultInterval is etsy's default flushInterval, used when Flush is given
// a non-positive interval.
const defaultInterval = 10 * time.Second

// Flush computes every output of the interval that ends at now, as etsy's
// process_metrics and graphite backend (legacyNamespace=false) do, then
// resets the aggregates per etsy's rules (see Config.DeleteIdle). Points are
// sorted by name and stamped with now rounded to the second. Outputs:
//
//	P.counters.X.rate, P.counters.X.count          (count scaled by 1/rate)
//	P.timers.X.{count,count_ps,lower,upper,mean,median,std,sum,sum_squares}
//	P.timers.X.{count,mean,upper,sum,sum_squares}_90 (per percentile)
//	P.gauges.X
//	P.sets.X.count
//	P.statsd.numStats, and statsd's own counters and timestamp_lag gauge
//
// Unlike etsy, the wall-clock-dependent stats.statsd.processing_time and
// graphiteStats.calculationtime are not produced (Flush has no clock), and
// histogram bins are not supported.
func (a *Aggregator) Flush(now time.Time, interval time.Duration) []Point {
	if interval <= 0 {
		interval = defaultInterval
	}
	secs := interval.Seconds()
	ts := roundUnix(now)

	a.mu.Lock()
	defer a.mu.Unlock()

	if a.lastFlush > 0 {
		lag := a.gauges[statTimestampLag]
		if lag == nil {
			lag = &gauge{}
			a.gauges[statTimestampLag] = lag
		}
		lag.v = float64(ts-a.lastFlush) - secs
	}
	a.lastFlush = ts

	n := 2*len(a.counters) + 2*len(a.timers) + len(a.gauges) + len(a.sets) + 1
	if len(a.timers) > 0 {
		n += len(a.timers) * (7 + 5*len(a.pcts))
	}
	out := make([]Point, 0, n)
	p := a.prefix
	for name, c := range a.counters {
		out = append(out,
			Point{p + ".counters." + name + ".rate", c.v / secs, ts},
			Point{p + ".counters." + name + ".count", c.v, ts})
	}
	for name, t := range a.timers {
		out = a.timerPoints(out, p+".timers."+name+".", t, secs, ts)
	}
	for name, g := range a.gauges {
		out = append(out, Point{p + ".gauges." + name, g.v, ts})
	}
	for name, s := range a.sets {
		out = append(out, Point{p + ".sets." + name + ".count", float64(len(s.members)), ts})
	}
	numStats := len(a.counters) + len(a.timers) + len(a.gauges) + len(a.sets)
	out = append(out, Point{p + ".statsd.numStats", float64(numStats), ts})
	slices.SortFunc(out, func(x, y Point) int { return strings.Compare(x.Name, y.Name) })

	a.reset()
	return out
}

// timerPoints appends the outputs of one timer, computed exactly as etsy's
// process_metrics: values sorted ascending, cumulative sums, percentile
// sizes rounded half up, population standard deviation.
func (a *Aggregator) timerPoints(out []Point, base string, t *timer, secs float64, ts int64) []Point {
	pt := func(k string, v float64) { out = append(out, Point{base + k, v, ts}) }
	pt("count", t.count)
	pt("count_ps", t.count/secs)
	vals := t.values
	count := len(vals)
	if count == 0 {
		return out
	}
	slices.Sort(vals)
	cum := slices.Grow(a.sortBuf[:0], 2*count)[:2*count]
	a.sortBuf = cum
	cumSq := cum[count:]
	cum = cum[:count]
	cum[0], cumSq[0] = vals[0], vals[0]*vals[0]
	for i := 1; i < count; i++ {
		cum[i] = vals[i] + cum[i-1]
		cumSq[i] = vals[i]*vals[i] + cumSq[i-1]
	}
	lo, hi := vals[0], vals[count-1]
	for i, pct := range a.pcts {
		num := count
		sum, sumSq, mean, bound := lo, lo*lo, lo, hi
		if count > 1 {
			num = int(math.Floor(math.Abs(pct)/100*float64(count) + 0.5))
			if num == 0 {
				continue
			}
			num = min(num, count) // etsy yields NaN for |pct| > 100
			if pct > 0 {
				bound, sum, sumSq = vals[num-1], cum[num-1], cumSq[num-1]
			} else {
				bound = vals[count-num]
				sum, sumSq = cum[count-1], cumSq[count-1]
				if count-num-1 >= 0 { // etsy yields NaN for pct -100
					sum -= cum[count-num-1]
					sumSq -= cumSq[count-num-1]
				}
			}
			mean = sum / float64(num)
		}
		id := a.pctIDs[i]
		pt("count_"+id, float64(num))
		pt("mean_"+id, mean)
		if pct > 0 {
			pt("upper_"+id, bound)
		} else {
			pt("lower_"+id, bound)
		}
		pt("sum_"+id, sum)
		pt("sum_squares_"+id, sumSq)
	}
	sum, sumSq := cum[count-1], cumSq[count-1]
	mean := sum / float64(count)
	var diffs float64
	for _, v := range vals {
		diffs += (v - mean) * (v - mean)
	}
	mid := count / 2
	median := vals[mid]
	if count%2 == 0 {
		median = (vals[mid-1] + vals[mid]) / 2
	}
	pt("std", math.Sqrt(diffs/float64(count)))
	pt("upper", hi)
	pt("lower", lo)
	pt("sum", sum)
	pt("sum_squares", sumSq)
	pt("mean", mean)
	pt("median", median)
	return out
}

// reset clears the aggregates after a flush, as etsy's clear_metrics does.
func (a *Aggregator) reset() {
	for name, c := range a.counters {
		if a.del && c != a.packets && c != a.received && c != a.bad {
			delete(a.counters, name)
		} else {
			c.v = 0
		}
	}
	for name, t := range a.timers {
		switch {
		case a.del:
			delete(a.timers, name)
		case cap(t.values) > 4096: // don't pin a burst's memory forever
			t.values, t.count = nil, 0
		default:
			t.values, t.count = t.values[:0], 0
		}
	}
	for name, s := range a.sets {
		switch {
		case a.del:
			delete(a.sets, name)
		case len(s.members) > 4096:
			s.members = make(map[string]struct{})
		default:
			clear(s.members)
		}
	}
	if a.del {
		// gaugesMaxTTL 1: a gauge is emitted in the flush after its update
		// and then forgotten; statsd's own timestamp_lag has no TTL in etsy.
		for name := range a.gauges {
			if name != statTimestampLag {
				delete(a.gauges, name)
			}
		}
	}
}

// pctID is etsy's clean_pct: the percentile as JavaScript prints it, with its
// first '.' replaced by '_' and its first '-' by "top".
func pctID(p float64) string {
	s := strconv.FormatFloat(p, 'f', -1, 64)
	s = strings.Replace(s, ".", "_", 1)
	return strings.Replace(s, "-", "top", 1)
}

func roundUnix(t time.Time) int64 {
	ms := t.UnixMilli()
	return int64(math.Floor(float64(ms)/1000 + 0.5))
}
