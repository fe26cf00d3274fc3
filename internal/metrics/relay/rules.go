package relay

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Rule is one section of carbon's relay-rules.conf: metrics whose name
// matches Pattern (case-insensitive, anywhere in the name, as carbon's
// re.search) go to Destinations. A nil Pattern is the default rule, which
// matches every name. Without Continue the first matching rule ends the
// routing.
type Rule struct {
	Name         string
	Pattern      *regexp.Regexp // nil: default rule
	Destinations []string       // "host:port" or "host:port:instance", as written
	Continue     bool
}

// Route returns the destinations of a metric name under rules, in rule
// order and without duplicates: every matching rule up to and including
// the first one without Continue. It is carbon-relay's RelayRulesRouter.
func Route(rules []Rule, name string) []string {
	var out []string
	for _, r := range rules {
		if r.Pattern != nil && !r.Pattern.MatchString(name) {
			continue
		}
		for _, d := range r.Destinations {
			dup := false
			for _, o := range out {
				if o == d {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, d)
			}
		}
		if !r.Continue {
			break
		}
	}
	return out
}

// ParseRules reads carbon's relay-rules.conf from r; file names it in
// errors ("relay-rules.conf:12: ..."). Like carbon: every section needs
// `destinations`; a section has either `pattern` (a regular expression,
// matched case-insensitively anywhere in the name) with an optional
// `continue`, or `default = true`; exactly one default rule is required
// and it is placed last whatever its position in the file; a section with
// `default = false` and no pattern is ignored. Patterns use Go's RE2
// syntax, which covers the Python expressions used in practice except
// backreferences and lookaround.
func ParseRules(r io.Reader, file string) ([]Rule, error) {
	secs, err := parseINI(r, file)
	if err != nil {
		return nil, err
	}
	var rules []Rule
	var def *Rule
	for _, s := range secs {
		at := func(key string) string { return fmt.Sprintf("%s:%d", file, s.line(key)) }
		dests, ok := s.get("destinations")
		if !ok {
			return nil, fmt.Errorf("%s:%d: section [%s] has no destinations", file, s.lineNo, s.name)
		}
		rule := Rule{Name: s.name}
		for _, d := range strings.Split(dests, ",") {
			d = strings.TrimSpace(d)
			if d == "" {
				continue
			}
			if _, err := parseDestination(d); err != nil {
				return nil, fmt.Errorf("%s: section [%s]: %w", at("destinations"), s.name, err)
			}
			rule.Destinations = append(rule.Destinations, d)
		}
		if len(rule.Destinations) == 0 {
			return nil, fmt.Errorf("%s: section [%s]: destinations is empty", at("destinations"), s.name)
		}
		pattern, hasPattern := s.get("pattern")
		defVal, hasDefault := s.get("default")
		switch {
		case hasPattern && hasDefault:
			return nil, fmt.Errorf("%s: section [%s] has both pattern and default; use one or the other", at("default"), s.name)
		case hasPattern:
			re, err := regexp.Compile("(?i)" + pattern)
			if err != nil {
				return nil, fmt.Errorf("%s: section [%s]: pattern: %w", at("pattern"), s.name, err)
			}
			rule.Pattern = re
			if c, ok := s.get("continue"); ok {
				if rule.Continue, err = parseBool(c); err != nil {
					return nil, fmt.Errorf("%s: section [%s]: continue: %w", at("continue"), s.name, err)
				}
			}
			rules = append(rules, rule)
		case hasDefault:
			isDef, err := parseBool(defVal)
			if err != nil {
				return nil, fmt.Errorf("%s: section [%s]: default: %w", at("default"), s.name, err)
			}
			if !isDef {
				continue
			}
			if def != nil {
				return nil, fmt.Errorf("%s: section [%s] is a second default rule ([%s] is one); only one is allowed", at("default"), s.name, def.Name)
			}
			d := rule
			def = &d
		}
	}
	if def == nil {
		return nil, fmt.Errorf("%s: no default rule: one section must have default = true instead of a pattern", file)
	}
	return append(rules, *def), nil
}

// parseBool accepts ConfigParser's booleans.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true or false)", s)
}

// parseDestination returns the "host:port" address of a carbon destination
// "host:port[:instance]" (IPv6 hosts in brackets).
func parseDestination(d string) (string, error) {
	host, rest := "", ""
	if strings.HasPrefix(d, "[") {
		end := strings.Index(d, "]")
		if end < 0 {
			return "", fmt.Errorf("destination %q: missing ']'", d)
		}
		host, rest = d[1:end], strings.TrimPrefix(d[end+1:], ":")
	} else {
		var ok bool
		host, rest, ok = strings.Cut(d, ":")
		if !ok {
			return "", fmt.Errorf("destination %q: want host:port[:instance]", d)
		}
	}
	port, _, _ := strings.Cut(rest, ":")
	if host == "" || strings.ContainsAny(host, " \t") {
		return "", fmt.Errorf("destination %q: want host:port[:instance]", d)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("destination %q: port %q is not a number between 1 and 65535", d, port)
	}
	return net.JoinHostPort(host, port), nil
}

// section is one [name] of an INI file with its keys (lowercased, as
// ConfigParser does) and the lines they were on.
type section struct {
	name   string
	lineNo int
	keys   map[string]string
	lines  map[string]int
}

func (s *section) get(key string) (string, bool) {
	v, ok := s.keys[key]
	return v, ok
}

func (s *section) line(key string) int {
	if n, ok := s.lines[key]; ok {
		return n
	}
	return s.lineNo
}

// parseINI reads ConfigParser-style INI: [sections], "key = value" or
// "key: value", comments starting with '#' or ';', indented continuation
// lines appended to the previous value.
func parseINI(r io.Reader, file string) ([]*section, error) {
	var secs []*section
	var cur *section
	lastKey := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if cur != nil && lastKey != "" {
				cur.keys[lastKey] += "\n" + line
				continue
			}
			return nil, fmt.Errorf("%s:%d: continuation line without a key", file, n)
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: section header %q has no ']'", file, n, line)
			}
			name := strings.TrimSpace(line[1:end])
			for _, s := range secs {
				if s.name == name {
					return nil, fmt.Errorf("%s:%d: section [%s] appears twice (first at line %d)", file, n, name, s.lineNo)
				}
			}
			cur = &section{name: name, lineNo: n, keys: map[string]string{}, lines: map[string]int{}}
			secs = append(secs, cur)
			lastKey = ""
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q before the first [section]", file, n, line)
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: want \"key = value\", got %q", file, n, line)
		}
		// Other keys are kept and ignored, as carbon does.
		key := strings.ToLower(strings.TrimSpace(line[:i]))
		cur.keys[key] = strings.TrimSpace(line[i+1:])
		cur.lines[key] = n
		lastKey = key
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return secs, nil
}
