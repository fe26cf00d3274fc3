// Package carbon parses Graphite's carbon wire formats: plaintext lines and
// pickle batches. It is pure: no I/O beyond the readers it is given.
//
// The TCP/UDP receivers of the metrics ingest (package metrics and the server
// composition root) import it; it imports only the standard library.
//
// Deliberate differences from carbon-cache (Python):
//   - NaN and ±Inf values are rejected with an error. Python's float()
//     accepts them, but whisper cannot store them meaningfully and carbon
//     drops NaN silently anyway.
//   - A missing timestamp ("path value") means now, like "-1". Carbon
//     rejects two-field lines; go-carbon and many clients expect this.
//   - Negative timestamps other than -1 are rejected.
//   - Hexadecimal floats and underscores in numbers are rejected
//     (Python's float() rejects hex; underscores are simply not supported).
//   - Tagged names ("name;tag=value") are normalised exactly like carbon's
//     TaggedSeries.parse(...).path (tags sorted, "name" tag and leading "~"
//     of the name dropped) and invalid tag syntax is an error, where carbon
//     logs and keeps the raw name. Untagged names are kept verbatim.
//     OpenMetrics-style names (`name{tag="v"}`) are not parsed.
package carbon

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Point is one datapoint as received.
type Point struct {
	Name  string  // normalised metric path
	Value float64 // never NaN or ±Inf
	Time  int64   // unix seconds
}

// MaxLineLen is the longest plaintext line (without its newline) that is parsed.
const MaxLineLen = 64 << 10

// errBlank marks a whitespace-only line (LineReader skips those silently).
var errBlank = errors.New("empty line")

// ParseLine parses one plaintext line "path value [timestamp]" without its
// trailing newline; a trailing "\r" and surrounding whitespace are tolerated.
// Fields are separated by runs of ASCII whitespace. A missing timestamp or
// "-1" means now. A fractional timestamp is truncated. The error says what
// is wrong and quotes the line.
func ParseLine(line []byte, now int64) (Point, error) {
	p, needNow, err := parseLine(line)
	if err != nil {
		return Point{}, err
	}
	if needNow {
		p.Time = now
	}
	return p, nil
}

// isSpace reports ASCII whitespace: space, \t, \n, \v, \f, \r.
func isSpace(c byte) bool {
	return c <= ' ' && (c == ' ' || c >= '\t' && c <= '\r')
}

// nextField returns the next whitespace-delimited field of b starting at i
// and the index just after it; the field is empty at the end of b.
func nextField(b []byte, i int) ([]byte, int) {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	start := i
	for i < len(b) && !isSpace(b[i]) {
		i++
	}
	return b[start:i], i
}

// parseLine parses line; needNow reports that the timestamp was missing or -1.
func parseLine(line []byte) (p Point, needNow bool, err error) {
	name, i := nextField(line, 0)
	if len(name) == 0 {
		return Point{}, false, errBlank
	}
	val, i := nextField(line, i)
	if len(val) == 0 {
		return Point{}, false, lineErr(line, "expected \"path value timestamp\", got 1 field")
	}
	ts, i := nextField(line, i)
	if extra, _ := nextField(line, i); len(extra) != 0 {
		return Point{}, false, lineErr(line, "expected \"path value timestamp\", got more than 3 fields")
	}
	v, ok := parseFloat(val)
	if !ok {
		return Point{}, false, lineErr(line, fmt.Sprintf("value %q is not a number", val))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Point{}, false, lineErr(line, fmt.Sprintf("value %q is not finite", val))
	}
	p.Value = v
	if len(ts) == 0 {
		needNow = true
	} else if t, ok := parseUint(ts); ok {
		p.Time = t
	} else if t, now, msg := parseTimestamp(ts); msg != "" {
		return Point{}, false, lineErr(line, fmt.Sprintf("timestamp %q %s", ts, msg))
	} else {
		p.Time, needNow = t, now
	}
	p.Name, err = normalizeName(name)
	if err != nil {
		return Point{}, false, lineErr(line, err.Error())
	}
	return p, needNow, nil
}

func lineErr(line []byte, msg string) error {
	const max = 200
	if len(line) > max {
		return fmt.Errorf("line %q...: %s", line[:max], msg)
	}
	return fmt.Errorf("line %q: %s", line, msg)
}

// parseTimestamp parses a non-integer timestamp. msg is non-empty on error.
func parseTimestamp(b []byte) (t int64, now bool, msg string) {
	f, ok := parseFloat(b)
	if !ok {
		return 0, false, "is not a number"
	}
	return floatTime(f)
}

func floatTime(f float64) (t int64, now bool, msg string) {
	switch {
	case f == -1:
		return 0, true, ""
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, false, "is not finite"
	case f < 0:
		return 0, false, "is negative"
	case f >= 1<<63:
		return 0, false, "is out of range"
	}
	return int64(f), false, ""
}

// parseUint parses 1 to 18 decimal digits.
func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// pow10 holds the powers of ten that are exact in a float64.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastFloat parses [+-]digits[.digits] with at most 15 digits in all without
// allocating. The result is correctly rounded (identical to strconv) because
// both the mantissa (< 2^53) and the power of ten are exact and IEEE division
// rounds once.
func fastFloat(b []byte) (float64, bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	var mant uint64
	digits, frac, dot := 0, 0, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(mant)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

// parseFloat parses a number the way Python's float() does, minus
// underscores: decimal, scientific notation, inf, infinity, nan.
func parseFloat(b []byte) (float64, bool) {
	if f, ok := fastFloat(b); ok {
		return f, true
	}
	for _, c := range b {
		if c == 'x' || c == 'X' || c == '_' {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		// Like Python, overflow to ±Inf is a value, not an error; the
		// caller rejects it as not finite.
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange && math.IsInf(f, 0) {
			return f, true
		}
		return 0, false
	}
	return f, true
}

// normalizeName returns the metric path as Graphite stores it. Untagged
// names are returned verbatim; tagged names are validated and normalised as
// carbon's TaggedSeries does.
func normalizeName(b []byte) (string, error) {
	if slices.Index(b, ';') < 0 {
		if len(b) == 0 {
			return "", errors.New("empty metric path")
		}
		return string(b), nil
	}
	return normalizeTagged(string(b))
}

// NormalizeName returns a metric path given as a string (HTTP JSON, agent
// reports) as Graphite stores it: untagged names as they are, without
// copying; tagged names validated and normalised as carbon's TaggedSeries
// does.
func NormalizeName(s string) (string, error) {
	if !strings.Contains(s, ";") {
		if s == "" {
			return "", errors.New("empty metric path")
		}
		return s, nil
	}
	return normalizeTagged(s)
}

func normalizeTagged(path string) (string, error) {
	segs := strings.Split(path, ";")
	metric := segs[0]
	if metric == "" {
		return "", fmt.Errorf("tagged path %q has no metric name", path)
	}
	type tag struct{ k, v string }
	tags := make([]tag, 0, len(segs)-1)
	for _, seg := range segs[1:] {
		k, v, ok := strings.Cut(seg, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("tagged path %q: invalid segment %q", path, seg)
		}
		if v == "" {
			return "", fmt.Errorf("tagged path %q: value of tag %q is empty", path, k)
		}
		if strings.ContainsAny(k, ";!^=") {
			return "", fmt.Errorf("tagged path %q: tag %q contains one of \";!^=\"", path, k)
		}
		if v[0] == '~' {
			return "", fmt.Errorf("tagged path %q: value of tag %q starts with \"~\"", path, k)
		}
		if k == "name" { // replaced by the metric name, as in carbon
			continue
		}
		j := slices.IndexFunc(tags, func(t tag) bool { return t.k == k })
		if j >= 0 {
			tags[j].v = v // later wins, as in a Python dict
		} else {
			tags = append(tags, tag{k, v})
		}
	}
	name := strings.TrimLeft(metric, "~")
	if name == "" {
		return "", fmt.Errorf("tagged path %q: metric name is empty without its leading \"~\"", path)
	}
	// carbon sorts the formatted ";k=v" strings, not the keys.
	parts := make([]string, len(tags))
	n := len(name)
	for i, t := range tags {
		parts[i] = ";" + t.k + "=" + t.v
		n += len(parts[i])
	}
	slices.Sort(parts)
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteString(name)
	for _, p := range parts {
		sb.WriteString(p)
	}
	return sb.String(), nil
}
