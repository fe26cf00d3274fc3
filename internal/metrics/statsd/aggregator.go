package statsd

import (
	"sync"
)

// Names of statsd's own counters and gauge, under Config.Prefix's
// counters/gauges namespaces like any other (etsy's prefixStats "statsd").
const (
	statPackets      = "statsd.packets_received"
	statMetrics      = "statsd.metrics_received"
	statBadLines     = "statsd.bad_lines_seen"
	statTimestampLag = "statsd.timestamp_lag"
)

// Config configures an Aggregator. The zero value is etsy's default
// configuration.
type Config struct {
	// Prefix is the global namespace, etsy's graphite.globalPrefix; "" means
	// "stats" (unlike etsy, an empty prefix cannot be configured).
	Prefix string
	// Percentiles are etsy's percentThreshold; nil means [90]. Negative
	// values give the top percentiles (lower_top10, mean_top10, ...). Where
	// etsy would emit NaN (|p| > 100, or -100) the whole timer is used.
	Percentiles []float64
	// DeleteIdle is etsy's deleteIdleStats with gaugesMaxTTL 1: counters,
	// timers, sets and gauges that received nothing during an interval are
	// not emitted at all. When false (etsy's default), idle counters are
	// emitted as 0 (rate and count), idle timers as count 0 and count_ps 0
	// only, idle sets as count 0, and idle gauges keep their last value.
	// statsd's own counters and timestamp_lag gauge are always emitted.
	DeleteIdle bool
}

// Point is one output sample, named with Config.Prefix.
type Point struct {
	Name  string
	Value float64
	Time  int64 // Unix seconds
}

type counter struct{ v float64 }

type timer struct {
	values []float64
	count  float64 // sample-rate-scaled number of values (etsy timer_counters)
}

type gauge struct{ v float64 }

type set struct{ members map[string]struct{} }

// Aggregator accumulates StatsD metrics between flushes. It is safe for
// concurrent use.
type Aggregator struct {
	prefix string
	pcts   []float64
	pctIDs []string // cleaned percentile names: "90", "99_9", "top10"
	del    bool

	mu        sync.Mutex
	counters  map[string]*counter
	timers    map[string]*timer
	gauges    map[string]*gauge
	sets      map[string]*set
	packets   *counter
	received  *counter
	bad       *counter
	lastFlush int64 // Unix seconds of the previous flush, 0 before the first
	nameBuf   []byte
	sortBuf   []float64
}

// New returns an empty Aggregator configured by cfg.
func New(cfg Config) *Aggregator {
	a := &Aggregator{
		prefix:   cfg.Prefix,
		del:      cfg.DeleteIdle,
		counters: make(map[string]*counter),
		timers:   make(map[string]*timer),
		gauges:   make(map[string]*gauge),
		sets:     make(map[string]*set),
		packets:  &counter{},
		received: &counter{},
		bad:      &counter{},
	}
	if a.prefix == "" {
		a.prefix = "stats"
	}
	a.pcts = append([]float64(nil), cfg.Percentiles...)
	if cfg.Percentiles == nil {
		a.pcts = []float64{90}
	}
	for _, p := range a.pcts {
		a.pctIDs = append(a.pctIDs, pctID(p))
	}
	a.counters[statPackets] = a.packets
	a.counters[statMetrics] = a.received
	a.counters[statBadLines] = a.bad
	return a
}

// Feed parses one packet (lines separated by '\n'), aggregates its good
// values and returns the number of bad values. Like etsy it counts the packet
// in statsd.packets_received, every non-empty line in
// statsd.metrics_received and every bad value in statsd.bad_lines_seen; a bad
// value does not spoil the other values of its line or packet.
func (a *Aggregator) Feed(packet []byte) (bad int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.packets.v++
	for len(packet) > 0 {
		line := packet
		if i := indexByte(packet, '\n'); i >= 0 {
			line, packet = packet[:i], packet[i+1:]
		} else {
			packet = nil
		}
		if len(line) == 0 {
			continue
		}
		a.received.v++
		bad += a.feedLine(line)
	}
	a.bad.v += float64(bad)
	return bad
}

func (a *Aggregator) feedLine(line []byte) (bad int) {
	name, rest, err := splitName(line, &a.nameBuf)
	if err != nil {
		return 1
	}
	for {
		bit := rest
		i := indexByte(rest, ':')
		if i >= 0 {
			bit, rest = rest[:i], rest[i+1:]
		}
		if v, err := parseValue(bit); err != nil {
			bad++
		} else {
			a.add(name, v)
		}
		if i < 0 {
			return bad
		}
	}
}

// add aggregates one value; map lookups with string(name) do not allocate,
// only first sightings of a name or set member do.
func (a *Aggregator) add(name []byte, v value) {
	switch v.typ {
	case Counter:
		c := a.counters[string(name)]
		if c == nil {
			c = &counter{}
			a.counters[string(name)] = c
		}
		c.v += v.v * (1 / v.rate)
	case Timer:
		t := a.timers[string(name)]
		if t == nil {
			t = &timer{}
			a.timers[string(name)] = t
		}
		t.values = append(t.values, v.v)
		t.count += 1 / v.rate
	case Gauge:
		g := a.gauges[string(name)]
		if g == nil {
			g = &gauge{}
			a.gauges[string(name)] = g
		}
		if v.sign != 0 {
			g.v += v.v // v.v carries the sign
		} else {
			g.v = v.v
		}
	case Set:
		s := a.sets[string(name)]
		if s == nil {
			s = &set{members: make(map[string]struct{})}
			a.sets[string(name)] = s
		}
		if _, ok := s.members[string(v.set)]; !ok {
			s.members[string(v.set)] = struct{}{}
		}
	}
}
