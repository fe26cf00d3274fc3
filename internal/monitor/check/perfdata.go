package check

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"corral/internal/api"
	"corral/internal/metrics/carbon"
)

// Perf is one Nagios performance data item:
// 'label'=value[UOM];[warn];[crit];[min];[max].
// Warn, Crit, Min and Max are kept as written (they may be ranges).
type Perf struct {
	Label string
	Value float64
	UOM   string
	Warn  string
	Crit  string
	Min   string
	Max   string
}

// perfUOMs are the units of measure the plugin guidelines define, plus the
// byte multiples monitoring-plugins print.
var perfUOMs = map[string]bool{
	"": true, "s": true, "ms": true, "us": true, "%": true, "B": true,
	"KB": true, "MB": true, "GB": true, "TB": true, "c": true,
	"KiB": true, "MiB": true, "GiB": true, "TiB": true,
}

// SplitPerfdata returns the perfdata text of a plugin's output: what follows
// the first '|' of the first line, and what follows the first '|' in the
// long text after it (which runs to the end of the output), joined by a
// space. Output without '|' has none.
func SplitPerfdata(output string) string {
	first, rest, _ := strings.Cut(output, "\n")
	var parts []string
	if _, perf, ok := strings.Cut(first, "|"); ok {
		parts = append(parts, perf)
	}
	if _, perf, ok := strings.Cut(rest, "|"); ok {
		parts = append(parts, perf)
	}
	return strings.Join(parts, " ")
}

// ParsePerfdata reads the perfdata items of perf (as SplitPerfdata returns
// it). Items whose value is "U" (undetermined) or not a finite number, or
// whose unit is not one of the guidelines', are skipped and reported in the
// error (the other items are still returned).
func ParsePerfdata(perf string) ([]Perf, error) {
	var out []Perf
	var bad []string
	s := perf
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			break
		}
		label, rest, err := perfLabel(s)
		if errors.Is(err, errNoEquals) {
			// A stray word: report it and resume after it.
			word, after := cutSpace(s)
			bad = append(bad, fmt.Sprintf("%q: no '='", word))
			s = after
			continue
		}
		if err != nil {
			bad = append(bad, err.Error())
			break // nothing after a broken quote can be trusted
		}
		item, after := cutSpace(rest)
		s = after
		p, err := perfItem(label, item)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("perfdata: %s", strings.Join(bad, "; "))
	}
	return out, nil
}

// cutSpace splits s at its first space, tab or line break.
func cutSpace(s string) (word, rest string) {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

var errNoEquals = errors.New("no '='")

// perfLabel reads a label up to '=' and returns it with the text after '='.
// A quoted label may hold spaces and '=', and ” stands for one quote.
func perfLabel(s string) (label, rest string, err error) {
	if s[0] != '\'' {
		eq := strings.IndexByte(s, '=')
		sp := strings.IndexAny(s, " \t\r\n")
		if eq < 0 || (sp >= 0 && sp < eq) {
			return "", "", errNoEquals
		}
		return s[:eq], s[eq+1:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '=' {
			return b.String(), s[i+2:], nil
		}
		return "", "", fmt.Errorf("label %q: quote not followed by '='", b.String())
	}
	return "", "", fmt.Errorf("label %q: unterminated quote", b.String())
}

// perfItem parses value[UOM];warn;crit;min;max.
func perfItem(label, item string) (Perf, error) {
	fields := strings.Split(item, ";")
	v := fields[0]
	end := 0
	for end < len(v) && strings.IndexByte("0123456789.-+eE", v[end]) >= 0 {
		end++
	}
	// "1e" would be read as a number and "B" lost: give back a trailing e/E.
	for end > 0 && (v[end-1] == 'e' || v[end-1] == 'E') {
		end--
	}
	num, uom := v[:end], v[end:]
	if num == "" {
		return Perf{}, fmt.Errorf("%s: value %q is not a number", label, v)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return Perf{}, fmt.Errorf("%s: value %q is not a number", label, v)
	}
	if !perfUOMs[uom] {
		return Perf{}, fmt.Errorf("%s: unknown unit %q", label, uom)
	}
	p := Perf{Label: label, Value: f, UOM: uom}
	dst := []*string{&p.Warn, &p.Crit, &p.Min, &p.Max}
	for i, f := range fields[1:] {
		if i < len(dst) {
			*dst[i] = f
		}
	}
	return p, nil
}

// ParseGraphite reads Graphite plaintext lines "path value [timestamp]".
// A missing, zero or negative timestamp becomes def. Lines that do not
// parse are skipped and reported in the error.
func ParseGraphite(output string, def int64) ([]api.MetricPoint, error) {
	var out []api.MetricPoint
	var bad []string
	for n, line := range strings.Split(output, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 || len(f) > 3 {
			bad = append(bad, fmt.Sprintf("line %d: want \"path value timestamp\"", n+1))
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			bad = append(bad, fmt.Sprintf("line %d: value %q is not a number", n+1, f[1]))
			continue
		}
		ts := def
		if len(f) == 3 {
			t, err := strconv.ParseFloat(f[2], 64)
			if err != nil {
				bad = append(bad, fmt.Sprintf("line %d: timestamp %q is not a number", n+1, f[2]))
				continue
			}
			if t > 0 && t < 1<<62 {
				ts = int64(t)
			}
		}
		out = append(out, api.MetricPoint{Name: f[0], Value: v, Time: ts})
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("graphite plaintext: %s", strings.Join(bad, "; "))
	}
	return out, nil
}

// MetricPrefix is the default first component of check metric names.
const MetricPrefix = "corral"

// Metrics reads the points of a check's output in format (api.MetricFormat*;
// "" gives none). Perfdata items are named
// "<prefix>.<node>.checks.<check>.<label>" with node and label sanitised
// (see Sanitize), values as written (no unit conversion) at time ts.
// Graphite plaintext paths are kept as the command wrote them: such
// commands already choose their own namespace.
func Metrics(format, output, prefix, node, check string, ts int64) ([]api.MetricPoint, error) {
	switch format {
	case api.MetricFormatNagios:
		perfs, err := ParsePerfdata(SplitPerfdata(output))
		if len(perfs) == 0 {
			return nil, err
		}
		if prefix == "" {
			prefix = MetricPrefix
		}
		base := strings.Trim(prefix, ".") + "." + Sanitize(node) + ".checks." + Sanitize(check) + "."
		out := make([]api.MetricPoint, len(perfs))
		for i, p := range perfs {
			out[i] = api.MetricPoint{Name: base + Sanitize(p.Label), Value: p.Value, Time: ts}
		}
		return out, err
	case api.MetricFormatGraphite:
		return ParseGraphite(output, ts)
	}
	return nil, nil
}

// Sanitize makes s one Graphite path component: '.', '/', '\\', spaces and
// control characters become '_', and "" becomes "_". A leading '/' of a
// mount point label ("/var") is dropped first, and "/" alone (or before a
// space, "/ inodes") is "root", as the host metrics name mounts.
func Sanitize(s string) string {
	if s == "/" || strings.HasPrefix(s, "/ ") {
		s = "root" + s[1:]
	}
	if len(s) > 1 && s[0] == '/' {
		s = strings.TrimLeft(s, "/")
	}
	return carbon.Component(s)
}
