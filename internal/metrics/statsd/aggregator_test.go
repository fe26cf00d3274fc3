package statsd

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var time_0 = time.Unix(1700000000, 0)

// points turns a flush into name → value, failing on duplicate names or a
// timestamp other than ts.
func points(t *testing.T, ps []Point, ts int64) map[string]float64 {
	t.Helper()
	m := make(map[string]float64, len(ps))
	for _, p := range ps {
		if _, dup := m[p.Name]; dup {
			t.Fatalf("duplicate point %s", p.Name)
		}
		if p.Time != ts {
			t.Fatalf("point %s time %d, want %d", p.Name, p.Time, ts)
		}
		m[p.Name] = p.Value
	}
	return m
}

// only keeps the entries whose name starts with prefix.
func only(m map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func diff(t *testing.T, got, want map[string]float64) {
	t.Helper()
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			t.Errorf("missing %s (want %v)", k, w)
		case !wok:
			t.Errorf("unexpected %s = %v", k, g)
		case g != w && math.Abs(g-w) > 1e-12*math.Max(1, math.Abs(w)):
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
}

func feed(a *Aggregator, lines ...string) int {
	return a.Feed([]byte(strings.Join(lines, "\n")))
}

func TestTimerOneToTen(t *testing.T) {
	a := New(Config{})
	// One packet per value, shuffled: etsy sorts before computing.
	for _, v := range []int{7, 3, 10, 1, 9, 2, 8, 5, 4, 6} {
		a.Feed(fmt.Appendf(nil, "glork:%d|ms", v))
	}
	got := only(points(t, a.Flush(time_0, 10*time.Second), time_0.Unix()), "stats.timers.")
	// By hand: 90% of 10 values is the 9 smallest, 1..9.
	diff(t, got, map[string]float64{
		"stats.timers.glork.count_90":       9,
		"stats.timers.glork.mean_90":        5,   // 45/9
		"stats.timers.glork.upper_90":       9,   // 9th value
		"stats.timers.glork.sum_90":         45,  // 1+…+9
		"stats.timers.glork.sum_squares_90": 285, // 1+4+…+81
		"stats.timers.glork.count":          10,
		"stats.timers.glork.count_ps":       1, // 10 per 10 s
		"stats.timers.glork.lower":          1,
		"stats.timers.glork.upper":          10,
		"stats.timers.glork.sum":            55,
		"stats.timers.glork.sum_squares":    385,
		"stats.timers.glork.mean":           5.5,
		"stats.timers.glork.median":         5.5,             // (5+6)/2
		"stats.timers.glork.std":            math.Sqrt(8.25), // Σ(x-5.5)² = 82.5, /10
	})
}

func TestTimerPercentiles(t *testing.T) {
	tests := []struct {
		name   string
		pcts   []float64
		values string
		want   map[string]float64 // percentile outputs only
	}{
		{"top 10 percent", []float64{-10}, "1:2:3:4:5:6:7:8:9:10", map[string]float64{
			"count_top10": 1, "mean_top10": 10, "lower_top10": 10, "sum_top10": 10, "sum_squares_top10": 100}},
		{"fractional percentile name", []float64{99.9}, "1:2:3:4:5:6:7:8:9:10", map[string]float64{
			// round(9.99) = 10 values
			"count_99_9": 10, "mean_99_9": 5.5, "upper_99_9": 10, "sum_99_9": 55, "sum_squares_99_9": 385}},
		{"half rounds up", []float64{50}, "3:1:2", map[string]float64{
			// round(1.5) = 2 values: 1, 2
			"count_50": 2, "mean_50": 1.5, "upper_50": 2, "sum_50": 3, "sum_squares_50": 5}},
		{"single value ignores the percentile", []float64{90, 10}, "7", map[string]float64{
			"count_90": 1, "mean_90": 7, "upper_90": 7, "sum_90": 7, "sum_squares_90": 49,
			"count_10": 1, "mean_10": 7, "upper_10": 7, "sum_10": 7, "sum_squares_10": 49}},
		{"empty percentile is skipped", []float64{10}, "1:2:3:4", map[string]float64{}},
		{"several percentiles", []float64{50, 75}, "4:3:2:1", map[string]float64{
			"count_50": 2, "mean_50": 1.5, "upper_50": 2, "sum_50": 3, "sum_squares_50": 5,
			"count_75": 3, "mean_75": 2, "upper_75": 3, "sum_75": 6, "sum_squares_75": 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Config{Percentiles: tt.pcts})
			var b strings.Builder
			b.WriteString("t")
			for _, v := range strings.Split(tt.values, ":") {
				b.WriteString(":" + v + "|ms")
			}
			if bad := a.Feed([]byte(b.String())); bad != 0 {
				t.Fatalf("bad = %d", bad)
			}
			got := map[string]float64{}
			for k, v := range only(points(t, a.Flush(time_0, 10*time.Second), time_0.Unix()), "stats.timers.t.") {
				k = strings.TrimPrefix(k, "stats.timers.t.")
				if strings.Contains(k, "_") && k != "count_ps" && k != "sum_squares" {
					got[k] = v
				}
			}
			diff(t, got, tt.want)
		})
	}
}

func TestSampledTimerAndCounter(t *testing.T) {
	a := New(Config{})
	bad := feed(a,
		"glork:320|ms|@0.1", "glork:100|ms|@0.5",
		"gorets:1|c|@0.1", "gorets:3|c", "gorets:1|c:1|c")
	if bad != 0 {
		t.Fatalf("bad = %d", bad)
	}
	got := points(t, a.Flush(time_0, 10*time.Second), time_0.Unix())
	diff(t, only(got, "stats.counters.gorets."), map[string]float64{
		"stats.counters.gorets.count": 15,  // 1/0.1 + 3 + 1 + 1
		"stats.counters.gorets.rate":  1.5, // per second over 10 s
	})
	for k, w := range map[string]float64{
		"stats.timers.glork.count":    12, // 1/0.1 + 1/0.5
		"stats.timers.glork.count_ps": 1.2,
		"stats.timers.glork.sum":      420, // values are not scaled
		"stats.timers.glork.mean":     210,
	} {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
}

func TestGauges(t *testing.T) {
	a := New(Config{})
	feed(a, "gaugor:333|g", "gaugor:-10|g", "gaugor:+4|g", "fresh:-5|g", "fresh2:+2|g")
	got := only(points(t, a.Flush(time_0, 10*time.Second), time_0.Unix()), "stats.gauges.")
	diff(t, got, map[string]float64{
		"stats.gauges.gaugor": 327, // 333 - 10 + 4, as in metric_types.md
		"stats.gauges.fresh":  -5,  // a delta on an unknown gauge starts from 0
		"stats.gauges.fresh2": 2,
	})
	// Idle: gauges keep their value (and a first lag gauge appears).
	t1 := time_0.Add(10 * time.Second)
	got = only(points(t, a.Flush(t1, 10*time.Second), t1.Unix()), "stats.gauges.")
	diff(t, got, map[string]float64{
		"stats.gauges.gaugor": 327, "stats.gauges.fresh": -5, "stats.gauges.fresh2": 2,
		"stats.gauges.statsd.timestamp_lag": 0,
	})
	feed(a, "gaugor:-7|g", "fresh:3|g")
	t2 := t1.Add(12 * time.Second)
	got = only(points(t, a.Flush(t2, 10*time.Second), t2.Unix()), "stats.gauges.")
	diff(t, got, map[string]float64{
		"stats.gauges.gaugor": 320, "stats.gauges.fresh": 3, "stats.gauges.fresh2": 2,
		"stats.gauges.statsd.timestamp_lag": 2, // 12 s since the last flush, 10 s expected
	})
}

func TestSets(t *testing.T) {
	a := New(Config{})
	feed(a, "uniques:765|s", "uniques:766|s", "uniques:765|s", "uniques:|s", "uniques:0|s")
	got := points(t, a.Flush(time_0, 10*time.Second), time_0.Unix())
	if got["stats.sets.uniques.count"] != 3 { // 765, 766, 0
		t.Errorf("count = %v, want 3", got["stats.sets.uniques.count"])
	}
	got = points(t, a.Flush(time_0.Add(10*time.Second), 10*time.Second), time_0.Unix()+10)
	if v, ok := got["stats.sets.uniques.count"]; !ok || v != 0 {
		t.Errorf("idle count = %v, %v, want 0, true", v, ok)
	}
}

func TestFlushFullOutput(t *testing.T) {
	a := New(Config{Prefix: "p"})
	if bad := a.Feed([]byte("c:2|c\nt:4|ms\ng:1|g\ns:x|s\nbad\n\n")); bad != 1 {
		t.Fatalf("bad = %d, want 1", bad)
	}
	a.Feed([]byte("c:3|c|@0.5"))
	got := points(t, a.Flush(time_0.Add(400*time.Millisecond), 5*time.Second), time_0.Unix())
	diff(t, got, map[string]float64{
		"p.counters.c.rate": 8.0 / 5, "p.counters.c.count": 8, // 2 + 3/0.5
		"p.counters.statsd.packets_received.rate": 0.4, "p.counters.statsd.packets_received.count": 2,
		"p.counters.statsd.metrics_received.rate": 1.2, "p.counters.statsd.metrics_received.count": 6, // 5 + 1; empty lines not counted
		"p.counters.statsd.bad_lines_seen.rate": 0.2, "p.counters.statsd.bad_lines_seen.count": 1,
		"p.timers.t.count": 1, "p.timers.t.count_ps": 0.2, "p.timers.t.lower": 4, "p.timers.t.upper": 4,
		"p.timers.t.mean": 4, "p.timers.t.median": 4, "p.timers.t.std": 0, "p.timers.t.sum": 4, "p.timers.t.sum_squares": 16,
		"p.timers.t.count_90": 1, "p.timers.t.mean_90": 4, "p.timers.t.upper_90": 4, "p.timers.t.sum_90": 4, "p.timers.t.sum_squares_90": 16,
		"p.gauges.g":        1,
		"p.sets.s.count":    1,
		"p.statsd.numStats": 7, // 4 counters, 1 timer, 1 gauge, 1 set
	})
}

func TestIdleFlush(t *testing.T) {
	tests := []struct {
		name string
		del  bool
		want map[string]float64
	}{
		{"etsy defaults keep zeros", false, map[string]float64{
			"stats.counters.c.rate": 0, "stats.counters.c.count": 0,
			"stats.timers.t.count": 0, "stats.timers.t.count_ps": 0,
			"stats.gauges.g":     5,
			"stats.sets.s.count": 0,
		}},
		{"deleteIdleStats drops everything", true, map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Config{DeleteIdle: tt.del})
			feed(a, "c:1|c", "t:1|ms", "g:5|g", "s:1|s")
			first := points(t, a.Flush(time_0, 10*time.Second), time_0.Unix())
			if first["stats.gauges.g"] != 5 || first["stats.counters.c.count"] != 1 {
				t.Fatalf("first flush = %v", first)
			}
			t1 := time_0.Add(10 * time.Second)
			got := points(t, a.Flush(t1, 10*time.Second), t1.Unix())
			// statsd's own stats are always there.
			for _, k := range []string{"packets_received", "metrics_received", "bad_lines_seen"} {
				if _, ok := got["stats.counters.statsd."+k+".count"]; !ok {
					t.Errorf("missing statsd.%s", k)
				}
			}
			if _, ok := got["stats.gauges.statsd.timestamp_lag"]; !ok {
				t.Errorf("missing timestamp_lag")
			}
			user := map[string]float64{}
			for k, v := range got {
				if !strings.Contains(k, "statsd.") {
					user[k] = v
				}
			}
			diff(t, user, tt.want)
			// A gauge delta after deletion starts from zero again (TTL 1).
			feed(a, "g:+1|g")
			t2 := t1.Add(10 * time.Second)
			want := 6.0
			if tt.del {
				want = 1
			}
			if v := points(t, a.Flush(t2, 10*time.Second), t2.Unix())["stats.gauges.g"]; v != want {
				t.Errorf("gauge after delta = %v, want %v", v, want)
			}
		})
	}
}

func TestFeedMultiLine(t *testing.T) {
	a := New(Config{})
	bad := a.Feed([]byte("gorets:1|c\r\nglork:320|ms\ngaugor:333|g\nuniques:765|s\nx:1|c:y|c:2|c\n  \n:1|c\nz"))
	if bad != 4 { // "y", the blank line, the empty name, "z"
		t.Fatalf("bad = %d, want 4", bad)
	}
	got := points(t, a.Flush(time_0, time.Second), time_0.Unix())
	for k, w := range map[string]float64{
		"stats.counters.gorets.count": 1, "stats.timers.glork.sum": 320, "stats.gauges.gaugor": 333,
		"stats.sets.uniques.count": 1, "stats.counters.x.count": 3, "stats.counters.statsd.bad_lines_seen.count": 4,
		"stats.counters.statsd.metrics_received.count": 8,
	} {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
}

func TestConcurrentFeed(t *testing.T) {
	a := New(Config{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				a.Feed([]byte("c:1|c\nt:2|ms\ns:a|s"))
			}
		}()
	}
	var flushed float64
	for i := range 5 {
		flushed += points(t, a.Flush(time_0.Add(time.Duration(i)*time.Second), time.Second), time_0.Unix()+int64(i))["stats.counters.c.count"]
	}
	wg.Wait()
	flushed += points(t, a.Flush(time_0.Add(time.Minute), time.Second), time_0.Unix()+60)["stats.counters.c.count"]
	if flushed != 4000 {
		t.Errorf("counted %v over all flushes, want 4000 (no loss)", flushed)
	}
}
