package whisper

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DefaultSchemasConf is the storage-schemas.conf used when none is configured.
// It follows carbon's shipped example: carbon's own metrics at one minute for
// 90 days, everything else at 10 s for 6 h, 1 min for 7 d and 10 min for 5 y.
const DefaultSchemasConf = `# Corral's default storage-schemas.conf (carbon semantics).
[carbon]
pattern = ^carbon\.
retentions = 60:90d

[default]
pattern = .*
retentions = 10s:6h,1m:7d,10m:5y
`

// DefaultAggregationConf is the storage-aggregation.conf used when none is
// configured: carbon's shipped example plus a rule summing ".sum" series.
const DefaultAggregationConf = `# Corral's default storage-aggregation.conf (carbon semantics).
[min]
pattern = \.min$
xFilesFactor = 0.1
aggregationMethod = min

[max]
pattern = \.max$
xFilesFactor = 0.1
aggregationMethod = max

[sum]
pattern = \.count$
xFilesFactor = 0
aggregationMethod = sum

[sum_total]
pattern = \.sum$
xFilesFactor = 0
aggregationMethod = sum

[default_average]
pattern = .*
xFilesFactor = 0.5
aggregationMethod = average
`

// Whisper's defaults for a file whose aggregation rule leaves a value unset.
const (
	DefaultXFilesFactor      = 0.5
	DefaultAggregationMethod = "average"
)

// AggregationMethods are the method names whisper.py accepts, in the order of
// their numeric id in the file header (average = 1).
var AggregationMethods = []string{"average", "sum", "last", "max", "min", "avg_zero", "absmax", "absmin"}

// Retention is one archive: SecondsPerPoint precision kept for Points points.
type Retention struct {
	SecondsPerPoint int
	Points          int
}

// Duration is the time span the archive covers, in seconds.
func (r Retention) Duration() int { return r.SecondsPerPoint * r.Points }

// String renders the retention in the "precision:points" seconds form.
func (r Retention) String() string { return fmt.Sprintf("%d:%d", r.SecondsPerPoint, r.Points) }

// Schema is one section of storage-schemas.conf.
type Schema struct {
	Name       string
	Pattern    *regexp.Regexp // nil matches every name (match-all, carbon's fallback)
	Retentions []Retention    // sorted by precision, validated
	Line       int            // line of the section header, 0 for built-ins
}

// Matches reports whether the schema applies to a metric name (Python re.search).
func (s Schema) Matches(name string) bool { return s.Pattern == nil || s.Pattern.MatchString(name) }

// Schemas is a parsed storage-schemas.conf in file order; the first match wins.
type Schemas []Schema

// FallbackSchema is carbon's built-in schema for names no section matches:
// one minute for seven days.
var FallbackSchema = Schema{Name: "default", Retentions: []Retention{{60, 60 * 24 * 7}}}

// Match returns the first schema whose pattern matches name, or FallbackSchema.
func (ss Schemas) Match(name string) Schema {
	for _, s := range ss {
		if s.Matches(name) {
			return s
		}
	}
	return FallbackSchema
}

// Aggregation is one section of storage-aggregation.conf, with unset values
// already resolved to whisper's defaults.
type Aggregation struct {
	Name         string
	Pattern      *regexp.Regexp // nil matches every name
	XFilesFactor float64
	Method       string // one of AggregationMethods
	Line         int
}

// Aggregations is a parsed storage-aggregation.conf in file order.
type Aggregations []Aggregation

// Match returns the first rule matching name, or whisper's defaults.
func (as Aggregations) Match(name string) Aggregation {
	for _, a := range as {
		if a.Pattern == nil || a.Pattern.MatchString(name) {
			return a
		}
	}
	return Aggregation{Name: "default", XFilesFactor: DefaultXFilesFactor, Method: DefaultAggregationMethod}
}

// iniSection is a section of an INI file read with Python configparser rules.
type iniSection struct {
	name    string
	line    int
	options map[string]iniValue
}

type iniValue struct {
	value string
	line  int
}

// parseINI reads the configparser subset carbon's files use: [sections] in
// order, "key = value" or "key: value" (keys are case-insensitive), whole-line
// comments with # or ;, and a [DEFAULT] section whose keys every section
// inherits. Duplicate sections and keys are errors, as in Python 3.
func parseINI(r io.Reader, file string) ([]iniSection, error) {
	var (
		sections []iniSection
		defaults = map[string]iniValue{}
		cur      map[string]iniValue
		seen     = map[string]bool{}
	)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			return nil, fmt.Errorf("%s:%d: continuation lines are not supported", file, n)
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("%s:%d: malformed section header %q", file, n, line)
			}
			name := line[1 : len(line)-1]
			if seen[name] {
				return nil, fmt.Errorf("%s:%d: duplicate section [%s]", file, n, name)
			}
			seen[name] = true
			if name == "DEFAULT" {
				cur = defaults
				continue
			}
			sections = append(sections, iniSection{name: name, line: n, options: map[string]iniValue{}})
			cur = sections[len(sections)-1].options
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: expected \"key = value\", got %q", file, n, line)
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: option outside of any [section]", file, n)
		}
		key := strings.ToLower(strings.TrimSpace(line[:i]))
		if _, dup := cur[key]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate option %q", file, n, key)
		}
		cur[key] = iniValue{strings.TrimSpace(line[i+1:]), n}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	for _, s := range sections {
		for k, v := range defaults {
			if _, ok := s.options[k]; !ok {
				s.options[k] = v
			}
		}
	}
	return sections, nil
}

// sectionPattern compiles the section's pattern; match-all (carbon's
// DefaultSchema) yields nil. A section with neither is an error.
func sectionPattern(s iniSection, file string) (*regexp.Regexp, error) {
	if v, ok := s.options["match-all"]; ok && v.value != "" {
		return nil, nil
	}
	v, ok := s.options["pattern"]
	if !ok || v.value == "" {
		if l, ok := s.options["list"]; ok {
			return nil, fmt.Errorf("%s:%d: [%s]: list= schemas are not supported", file, l.line, s.name)
		}
		return nil, fmt.Errorf("%s:%d: [%s] has no pattern", file, s.line, s.name)
	}
	re, err := regexp.Compile(v.value)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: [%s] pattern: %w", file, v.line, s.name, err)
	}
	return re, nil
}

// ParseSchemas reads a storage-schemas.conf. Sections keep file order and the
// first match wins; names matching none get FallbackSchema, as in carbon.
// Unlike carbon, which logs and skips a section with invalid retentions, this
// returns an error naming the file line.
func ParseSchemas(r io.Reader, file string) (Schemas, error) {
	sections, err := parseINI(r, file)
	if err != nil {
		return nil, err
	}
	out := make(Schemas, 0, len(sections))
	for _, s := range sections {
		re, err := sectionPattern(s, file)
		if err != nil {
			return nil, err
		}
		v, ok := s.options["retentions"]
		if !ok {
			return nil, fmt.Errorf("%s:%d: [%s] has no retentions", file, s.line, s.name)
		}
		rets, err := ParseRetentions(v.value)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: [%s]: %w", file, v.line, s.name, err)
		}
		out = append(out, Schema{Name: s.name, Pattern: re, Retentions: rets, Line: s.line})
	}
	return out, nil
}

// ParseAggregations reads a storage-aggregation.conf. An unset xFilesFactor or
// aggregationMethod falls back to whisper's default (0.5, average), not to a
// later section, exactly as carbon does.
func ParseAggregations(r io.Reader, file string) (Aggregations, error) {
	sections, err := parseINI(r, file)
	if err != nil {
		return nil, err
	}
	out := make(Aggregations, 0, len(sections))
	for _, s := range sections {
		re, err := sectionPattern(s, file)
		if err != nil {
			return nil, err
		}
		a := Aggregation{Name: s.name, Pattern: re, XFilesFactor: DefaultXFilesFactor, Method: DefaultAggregationMethod, Line: s.line}
		if v, ok := s.options["xfilesfactor"]; ok {
			f, err := strconv.ParseFloat(v.value, 64)
			if err != nil || f < 0 || f > 1 {
				return nil, fmt.Errorf("%s:%d: [%s] xFilesFactor %q must be a number from 0 to 1", file, v.line, s.name, v.value)
			}
			a.XFilesFactor = f
		}
		if v, ok := s.options["aggregationmethod"]; ok {
			if !slices.Contains(AggregationMethods, v.value) {
				return nil, fmt.Errorf("%s:%d: [%s] unknown aggregationMethod %q (want one of %s)", file, v.line, s.name, v.value, strings.Join(AggregationMethods, ", "))
			}
			a.Method = v.value
		}
		out = append(out, a)
	}
	return out, nil
}

var unitSeconds = []struct {
	word string
	secs int
}{{"seconds", 1}, {"minutes", 60}, {"hours", 3600}, {"days", 86400}, {"weeks", 604800}, {"years", 31536000}}

// unit resolves a unit the way whisper.getUnitString does: any prefix of
// seconds, minutes, hours, days, weeks or years, tried in that order.
func unit(s string) (int, error) {
	for _, u := range unitSeconds {
		if strings.HasPrefix(u.word, s) {
			return u.secs, nil
		}
	}
	return 0, fmt.Errorf("invalid unit %q", s)
}

var amountRE = regexp.MustCompile(`^(\d+)([a-z]+)$`)

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// amount parses "60" (plain number) or "10m" (number with unit, in seconds).
func amount(s, what string) (n int, withUnit bool, err error) {
	if isDigits(s) {
		n, err = strconv.Atoi(s)
		return n, false, err
	}
	m := amountRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false, fmt.Errorf("invalid %s specification %q", what, s)
	}
	n, err = strconv.Atoi(m[1])
	if err != nil {
		return 0, false, err
	}
	u, err := unit(m[2])
	return n * u, true, err
}

// ParseRetention parses one archive definition as whisper.parseRetentionDef:
// "precision:points" where precision is seconds or a number with unit and
// points is a count or a duration with unit ("10s:6h" = 2160 points of 10 s).
func ParseRetention(def string) (Retention, error) {
	prec, pts, ok := strings.Cut(strings.TrimSpace(def), ":")
	if !ok {
		return Retention{}, fmt.Errorf("invalid retention definition %q", def)
	}
	p, _, err := amount(prec, "precision")
	if err != nil {
		return Retention{}, err
	}
	if p <= 0 {
		return Retention{}, fmt.Errorf("retention %q: precision must be positive", def)
	}
	n, withUnit, err := amount(pts, "retention")
	if err != nil {
		return Retention{}, err
	}
	if withUnit {
		n /= p
	}
	if n <= 0 {
		return Retention{}, fmt.Errorf("retention %q keeps no points", def)
	}
	return Retention{SecondsPerPoint: p, Points: n}, nil
}

// ParseRetentions parses a comma-separated retentions value and validates it.
func ParseRetentions(s string) ([]Retention, error) {
	var rets []Retention
	for _, def := range strings.Split(s, ",") {
		r, err := ParseRetention(def)
		if err != nil {
			return nil, err
		}
		rets = append(rets, r)
	}
	if err := ValidateRetentions(rets); err != nil {
		return nil, err
	}
	return rets, nil
}

// ValidateRetentions sorts the archives by precision and applies
// whisper.validateArchiveList: at least one archive, no two with the same
// precision, each precision divides the next, each archive covers more time
// than the previous, and each has enough points to consolidate into the next.
func ValidateRetentions(rets []Retention) error {
	if len(rets) == 0 {
		return fmt.Errorf("at least one archive is required")
	}
	slices.SortStableFunc(rets, func(a, b Retention) int { return a.SecondsPerPoint - b.SecondsPerPoint })
	for i := 0; i+1 < len(rets); i++ {
		a, b := rets[i], rets[i+1]
		switch {
		case a.SecondsPerPoint == b.SecondsPerPoint:
			return fmt.Errorf("two archives with the same precision (archive%d: %s, archive%d: %s)", i, a, i+1, b)
		case b.SecondsPerPoint%a.SecondsPerPoint != 0:
			return fmt.Errorf("higher precision archives' precision must evenly divide all lower precision archives' precision (archive%d: %d, archive%d: %d)", i, a.SecondsPerPoint, i+1, b.SecondsPerPoint)
		case b.Duration() <= a.Duration():
			return fmt.Errorf("lower precision archives must cover larger time intervals than higher precision archives (archive%d: %d seconds, archive%d: %d seconds)", i, a.Duration(), i+1, b.Duration())
		case a.Points < b.SecondsPerPoint/a.SecondsPerPoint:
			return fmt.Errorf("each archive must have at least enough points to consolidate to the next archive (archive%d consolidates %d of archive%d's points but it has only %d total points)", i+1, b.SecondsPerPoint/a.SecondsPerPoint, i, a.Points)
		}
	}
	return nil
}
