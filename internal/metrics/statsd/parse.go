// Package statsd is the pure core of an etsy-compatible StatsD server: it
// parses StatsD packets (`name:value|c|ms|h|g|s[|@rate]`, several lines per
// packet, several values per line) and aggregates them into the series etsy
// statsd's graphite backend emits with legacyNamespace=false
// (stats.counters.X.rate, stats.timers.X.mean_90, stats.gauges.X, ...).
//
// It owns no sockets or clocks: the agent's UDP listener feeds packets to an
// Aggregator and calls Flush on its own ticker, then ships the Points to
// carbon. The semantics follow etsy/statsd stats.js, lib/helpers.js,
// lib/process_metrics.js and backends/graphite.js; the few deliberate
// differences are noted in the doc comments of ParseLine, Config and Flush.
package statsd

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrBadLine is wrapped by every error ParseLine returns.
var ErrBadLine = errors.New("bad statsd line")

// Metric types as stored in Metric.Type.
const (
	Counter byte = 'c'
	Timer   byte = 'm' // "ms", and "h" (histogram) which is aggregated as a timer
	Gauge   byte = 'g'
	Set     byte = 's'
)

// Metric is one parsed value of a StatsD line.
type Metric struct {
	Name     string  // sanitised bucket name
	Value    float64 // numeric value; 0 for sets
	Type     byte    // Counter, Timer, Gauge or Set
	Sign     int     // gauges only: +1 or -1 for a "+N"/"-N" delta, 0 for an absolute value
	Rate     float64 // sample rate in (0, ∞); 1 when absent
	SetValue string  // sets only: the member, "0" when empty as in etsy
}

// value is a parsed value before it is attached to a name; set aliases the
// input so Feed can aggregate without allocating.
type value struct {
	typ  byte
	sign int8
	v    float64
	rate float64
	set  []byte
}

// ParseLine parses one line of a packet. A line may carry several values for
// the same name ("a:1|c:2|c"), so ParseLine returns every good value and, if
// some values are bad, an error wrapping ErrBadLine for each bad one
// (joined). A line without any ':' is bad, as is an empty or fully
// sanitised-away name.
func ParseLine(line []byte) ([]Metric, error) {
	var buf []byte
	name, rest, err := splitName(line, &buf)
	if err != nil {
		return nil, err
	}
	var (
		out  []Metric
		errs []error
	)
	eachField(rest, ':', func(bit []byte) {
		v, err := parseValue(bit)
		if err != nil {
			errs = append(errs, err)
			return
		}
		m := Metric{Name: string(name), Value: v.v, Type: v.typ, Sign: int(v.sign), Rate: v.rate}
		if v.typ == Set {
			m.SetValue = string(v.set)
		}
		out = append(out, m)
	})
	return out, errors.Join(errs...)
}

// eachField calls fn for every sep-separated field of b (at least one).
func eachField(b []byte, sep byte, fn func([]byte)) {
	for {
		i := indexByte(b, sep)
		if i < 0 {
			fn(b)
			return
		}
		fn(b[:i])
		b = b[i+1:]
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// splitName splits line at its first ':' and sanitises the name like etsy's
// sanitizeKeyName: runs of whitespace become '_', '/' becomes '-', and any
// other character outside [a-zA-Z0-9_.-] is dropped. The returned name aliases
// line when it needs no change, else *buf.
func splitName(line []byte, buf *[]byte) (name, rest []byte, err error) {
	i := indexByte(line, ':')
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: no ':' in %q", ErrBadLine, trunc(line))
	}
	raw := line[:i]
	name = raw
	for _, c := range raw {
		if !nameByte(c) {
			name = sanitize((*buf)[:0], raw)
			*buf = name
			break
		}
	}
	if len(name) == 0 {
		return nil, nil, fmt.Errorf("%w: empty name in %q", ErrBadLine, trunc(line))
	}
	return name, line[i+1:], nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.'
}

func sanitize(dst, raw []byte) []byte {
	inSpace := false
	for len(raw) > 0 {
		r, n := rune(raw[0]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(raw)
		}
		raw = raw[n:]
		if jsSpace(r) {
			if !inSpace {
				dst = append(dst, '_')
			}
			inSpace = true
			continue
		}
		inSpace = false
		switch {
		case r == '/':
			dst = append(dst, '-')
		case r < utf8.RuneSelf && nameByte(byte(r)):
			dst = append(dst, byte(r))
		}
	}
	return dst
}

// jsSpace reports whether r is matched by JavaScript's \s.
func jsSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// parseValue parses "value|type[|@rate[|ignored...]]" like etsy's
// is_valid_packet plus the type dispatch in stats.js.
func parseValue(bit []byte) (value, error) {
	var f [3][]byte
	n := 0
	for n < 3 {
		i := indexByte(bit, '|')
		if i < 0 || n == 2 {
			if n == 2 && i >= 0 {
				bit = bit[:i] // fields after the rate are ignored, as in etsy
			}
			f[n] = bit
			n++
			break
		}
		f[n] = bit[:i]
		bit = bit[i+1:]
		n++
	}
	if n < 2 {
		return value{}, fmt.Errorf("%w: missing type in %q", ErrBadLine, trunc(f[0]))
	}
	v := value{rate: 1}
	switch t := trimSpace(f[1]); string(t) {
	case "c":
		v.typ = Counter
	case "ms", "h":
		v.typ = Timer
	case "g":
		v.typ = Gauge
	case "s":
		v.typ = Set
	default:
		return value{}, fmt.Errorf("%w: unknown type %q", ErrBadLine, trunc(t))
	}
	if n == 3 {
		r, ok := parseRate(trimSpace(f[2]))
		if !ok {
			return value{}, fmt.Errorf("%w: bad sample rate %q", ErrBadLine, trunc(f[2]))
		}
		v.rate = r
	}
	if v.typ == Set {
		v.set = f[0]
		if len(v.set) == 0 {
			v.set = zero
		}
		return v, nil
	}
	num := trimSpace(f[0])
	if v.typ == Gauge && len(num) > 0 {
		switch num[0] {
		case '+':
			v.sign = 1
		case '-':
			v.sign = -1
		}
	}
	x, ok := parseNumber(num)
	if !ok {
		return value{}, fmt.Errorf("%w: bad value %q", ErrBadLine, trunc(f[0]))
	}
	v.v = x
	return v, nil
}

var zero = []byte("0")

// parseNumber accepts a finite decimal number: [+-]digits[.digits][e[+-]digits],
// with digits on at least one side of the point. It rejects what strconv would
// also take but a StatsD value should not be: NaN, Inf, hex, underscores.
func parseNumber(b []byte) (float64, bool) {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	d := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			d++
		}
	}
	if d == 0 {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		e := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			e++
		}
		if e == 0 {
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	x, err := strconv.ParseFloat(string(b), 64) // no allocation: the conversion does not escape
	if err != nil {
		return 0, false // out of range
	}
	return x, true
}

// parseRate accepts "@" followed by an unsigned decimal without exponent
// (etsy reads the rate with /^@([\d\.]+)/), greater than zero.
func parseRate(b []byte) (float64, bool) {
	if len(b) < 2 || b[0] != '@' {
		return 0, false
	}
	for _, c := range b[1:] {
		if c != '.' && (c < '0' || c > '9') {
			return 0, false
		}
	}
	r, ok := parseNumber(b[1:])
	if !ok || r <= 0 {
		return 0, false
	}
	return r, true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && asciiSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && asciiSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
