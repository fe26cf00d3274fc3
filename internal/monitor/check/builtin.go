package check

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"corral/internal/api"
)

// Probe is a builtin check with its arguments parsed, ready to run. A probe
// may keep state between runs (cpu compares with its previous sample), so
// each check keeps its own.
type Probe interface {
	Probe(ctx context.Context, env Env) Outcome
}

// Env is what probes get from the agent.
type Env struct {
	// Now is the clock (file_age and tls_cert measure ages with it).
	Now func() time.Time
	// Timeout is the check's timeout, for probes that dial.
	Timeout time.Duration
}

func (e Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// Builtin parses a builtin's args into a Probe. Errors name the argument
// ("warning": "must be a number").
type Builtin func(args Args) (Probe, api.FieldErrors)

// Builtins returns the builtin checks by name; CheckSpec.Builtin names one.
func Builtins() map[string]Builtin {
	return map[string]Builtin{
		"disk":     parseDisk,
		"cpu":      parseCPU,
		"memory":   parseMemory,
		"load":     parseLoad,
		"swap":     parseSwap,
		"process":  parseProcess,
		"service":  parseService,
		"tcp":      parseTCP,
		"http":     parseHTTP,
		"tls_cert": parseTLSCert,
		"file_age": parseFileAge,
	}
}

// ValidateArgs checks a builtin's args for the server at apply time. Field
// names are "builtin" or "args.<name>".
func ValidateArgs(builtin string, args map[string]any) api.FieldErrors {
	b, ok := Builtins()[builtin]
	if !ok {
		var fe api.FieldErrors
		fe.Add("builtin", "unknown builtin %q (one of %s)", builtin,
			strings.Join(slices.Sorted(maps.Keys(Builtins())), ", "))
		return fe
	}
	_, fe := b(Args(args))
	if len(fe) == 0 {
		return nil
	}
	var out api.FieldErrors
	out.Merge("args.", fe)
	return out
}

// Args are a builtin's parameters as they arrive from JSON or YAML: numbers
// may be float64, int or strings ("80", "80%", "10s").
type Args map[string]any

// reader reads typed args, collecting errors and noting unknown names.
type reader struct {
	args Args
	used map[string]bool
	fe   api.FieldErrors
}

func newReader(a Args) *reader { return &reader{args: a, used: map[string]bool{}} }

func (r *reader) get(name string) (any, bool) {
	r.used[name] = true
	v, ok := r.args[name]
	return v, ok && v != nil
}

// done reports unknown args and returns the errors.
func (r *reader) done() api.FieldErrors {
	for k := range r.args {
		if !r.used[k] {
			r.fe.Add(k, "unknown argument (known: %s)", strings.Join(slices.Sorted(maps.Keys(r.used)), ", "))
		}
	}
	return r.fe
}

func (r *reader) str(name, def string) string {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case string:
		return x
	case float64, int, int64:
		return fmt.Sprint(x)
	}
	r.fe.Add(name, "must be a string")
	return def
}

func (r *reader) required(name string) string {
	s := r.str(name, "")
	if s == "" {
		r.fe.Add(name, "is required")
	}
	return s
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case bool:
		return x
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return b
		}
	}
	r.fe.Add(name, "must be true or false")
	return def
}

// number reads a float; strings may end in '%'.
func (r *reader) number(name string, def float64) float64 {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	f, ok := toNumber(v)
	if !ok {
		r.fe.Add(name, "must be a number")
		return def
	}
	return f
}

// percent reads a number in 0..100.
func (r *reader) percent(name string, def float64) float64 {
	f := r.number(name, def)
	if _, given := r.args[name]; given && (f < 0 || f > 100) {
		r.fe.Add(name, "must be a percentage from 0 to 100")
	}
	return f
}

func (r *reader) integer(name string, def int) int {
	f := r.number(name, float64(def))
	if f != math.Trunc(f) {
		r.fe.Add(name, "must be a whole number")
	}
	return int(f)
}

// duration reads "90s", "2h", "3d" or a number of seconds.
func (r *reader) duration(name string, def time.Duration) time.Duration {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	if s, ok := v.(string); ok {
		if d, err := api.ParseDuration(s); err == nil && d >= 0 {
			return d
		}
	}
	if f, ok := toNumber(v); ok && f >= 0 {
		return time.Duration(f * float64(time.Second))
	}
	r.fe.Add(name, "must be a duration like \"90s\" or a number of seconds")
	return def
}

// rng reads a Nagios threshold range.
func (r *reader) rng(name, def string) Range {
	s := r.str(name, def)
	if s == "" {
		return Range{}
	}
	rg, err := ParseRange(s)
	if err != nil {
		r.fe.Add(name, "%v", err)
	}
	return rg
}

// ordered notes when warning is past critical for "higher is worse" values.
func (r *reader) ordered(warnName string, warn, crit float64) {
	if warn > crit {
		r.fe.Add(warnName, "must not be above critical")
	}
}

func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(x), "%")), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// Range is a Nagios threshold range ("10", "10:", "~:10", "10:20",
// "@10:20"): a value alerts when it lies outside Start..End, or inside when
// Inside is set. The zero Range never alerts.
type Range struct {
	Set        bool
	Start, End float64 // -Inf / +Inf when open
	Inside     bool
	text       string
}

// ParseRange parses the Nagios plugin guidelines' range syntax.
func ParseRange(s string) (Range, error) {
	r := Range{Set: true, text: s}
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "@") {
		r.Inside = true
		t = t[1:]
	}
	lo, hi, colon := strings.Cut(t, ":")
	if !colon {
		lo, hi = "0", t
	}
	var err error
	switch lo {
	case "~":
		r.Start = math.Inf(-1)
	case "":
		r.Start = 0
	default:
		if r.Start, err = strconv.ParseFloat(lo, 64); err != nil {
			return Range{}, fmt.Errorf("range %q: start %q is not a number", s, lo)
		}
	}
	if hi == "" {
		if !colon {
			return Range{}, fmt.Errorf("range %q is empty", s)
		}
		r.End = math.Inf(1)
	} else if r.End, err = strconv.ParseFloat(hi, 64); err != nil {
		return Range{}, fmt.Errorf("range %q: end %q is not a number", s, hi)
	}
	if math.IsNaN(r.Start) || math.IsNaN(r.End) {
		return Range{}, fmt.Errorf("range %q is not a number", s)
	}
	if r.Start > r.End {
		return Range{}, fmt.Errorf("range %q: start is above end", s)
	}
	return r, nil
}

// Alerts reports whether v breaks the threshold.
func (r Range) Alerts(v float64) bool {
	if !r.Set {
		return false
	}
	in := v >= r.Start && v <= r.End
	return in == r.Inside
}

// String is the range as written.
func (r Range) String() string { return r.text }

// statusOf is critical, warning or ok by the two ranges.
func statusOf(v float64, warn, crit Range) int {
	switch {
	case crit.Alerts(v):
		return api.StatusCritical
	case warn.Alerts(v):
		return api.StatusWarning
	}
	return api.StatusOK
}

// above is the status of a "higher is worse" value against two limits.
func above(v, warn, crit float64) int {
	switch {
	case v >= crit:
		return api.StatusCritical
	case v >= warn:
		return api.StatusWarning
	}
	return api.StatusOK
}

// label is "OK", "WARNING", "CRITICAL" or "UNKNOWN".
func label(status int) string { return strings.ToUpper(api.StatusName(status)) }

// unknown is an UNKNOWN outcome for a check that could not look.
func unknown(service string, err error) Outcome {
	return Outcome{api.StatusUnknown, fmt.Sprintf("%s UNKNOWN - %v", service, err)}
}

// fnum formats a perfdata or output number compactly.
func fnum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// f2 formats with two decimals at most.
func f2(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// perfLabelText quotes a perfdata label when it needs it.
func perfLabelText(l string) string {
	if l == "" || strings.ContainsAny(l, " \t\r\n'=") {
		return "'" + strings.ReplaceAll(l, "'", "''") + "'"
	}
	return l
}

// humanBytes is "10.1 GiB".
func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
