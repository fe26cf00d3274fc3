package index

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// ErrBadTaggedName is wrapped by every error about a malformed tagged name.
var ErrBadTaggedName = errors.New("bad tagged series name")

// ErrBadTagExpr is wrapped by every error about a malformed tag expression.
var ErrBadTagExpr = errors.New("bad tag expression")

// IsTagged reports whether name is a tagged series name ("name;tag=value").
func IsTagged(name string) bool { return strings.IndexByte(name, ';') >= 0 }

// ParseTagged splits a tagged series name into its tags, as carbon's
// TaggedSeries.parse does: the part before the first ';' is the "name" tag,
// each following part is tag=value. Tag names may not hold ";!^=" and values
// may not hold ';' nor start with '~'; both must be non-empty. A repeated tag
// keeps its last value.
func ParseTagged(name string) (map[string]string, error) {
	parts := strings.Split(name, ";")
	if parts[0] == "" {
		return nil, fmt.Errorf("%w: %q: empty metric name", ErrBadTaggedName, name)
	}
	tags := map[string]string{"name": parts[0]}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: %q: tag %q has no '='", ErrBadTaggedName, name, p)
		case k == "" || strings.ContainsAny(k, ";!^="):
			return nil, fmt.Errorf("%w: %q: bad tag name %q", ErrBadTaggedName, name, k)
		case v == "" || v[0] == '~':
			return nil, fmt.Errorf("%w: %q: bad value for tag %q", ErrBadTaggedName, name, k)
		}
		tags[k] = v
	}
	return tags, nil
}

// FormatTagged is the canonical form of a tagged name: the name, then the
// other tags sorted by tag name ("cpu;dc=x;host=a"), as carbon stores it.
func FormatTagged(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		if k != "name" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(tags["name"])
	for _, k := range keys {
		b.WriteByte(';')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(tags[k])
	}
	return b.String()
}

// NormalizeTagged returns the canonical form of a tagged series name.
func NormalizeTagged(name string) (string, error) {
	tags, err := ParseTagged(name)
	if err != nil {
		return "", err
	}
	return FormatTagged(tags), nil
}

// tagSeries is one stored tagged series.
type tagSeries struct {
	name string
	tags map[string]string
}

// Tags is graphite's tag database: tagged series names in canonical form,
// with lookup by tag expressions (seriesByTag, /tags/findSeries) and
// autocompletion of tag names and values. It is safe for concurrent use.
// Build one with NewTags (in memory) or OpenTags (persisted).
type Tags struct {
	mu     sync.RWMutex
	series map[string]*tagSeries
	// byTag maps tag name → value → series names holding that value.
	byTag map[string]map[string][]string
	log   *tagLog // nil: in memory only
}

// NewTags returns an empty in-memory tag database.
func NewTags() *Tags {
	return &Tags{series: make(map[string]*tagSeries), byTag: make(map[string]map[string][]string)}
}

// Add stores the tagged series name (canonicalised first) and reports
// whether it was new. Malformed names are refused with false. With a
// persisted database the new name is appended to its file (buffered; see
// OpenTags).
func (t *Tags) Add(name string) bool {
	// Fast path for the common case on ingest: a known canonical name.
	t.mu.RLock()
	_, known := t.series[name]
	t.mu.RUnlock()
	if known {
		return false
	}
	tags, err := ParseTagged(name)
	if err != nil {
		return false
	}
	canon := FormatTagged(tags)
	t.mu.RLock()
	_, ok := t.series[canon]
	t.mu.RUnlock()
	if ok {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.insert(canon, tags) {
		return false
	}
	if t.log != nil {
		t.log.append(canon)
	}
	return true
}

// insert adds a canonical name; the caller holds the write lock.
func (t *Tags) insert(canon string, tags map[string]string) bool {
	if _, ok := t.series[canon]; ok {
		return false
	}
	t.series[canon] = &tagSeries{name: canon, tags: tags}
	for k, v := range tags {
		vals := t.byTag[k]
		if vals == nil {
			vals = make(map[string][]string)
			t.byTag[k] = vals
		}
		vals[v] = append(vals[v], canon)
	}
	return true
}

// Len returns the number of tagged series.
func (t *Tags) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.series)
}

// Lookup returns the tags of a stored series (by any spelling of its name).
func (t *Tags) Lookup(name string) (map[string]string, bool) {
	canon, err := NormalizeTagged(name)
	if err != nil {
		return nil, false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.series[canon]
	if !ok {
		return nil, false
	}
	return s.tags, true
}

// tagOp is a tag expression's operator.
type tagOp uint8

const (
	opEq       tagOp = iota // =
	opNe                    // !=
	opMatch                 // =~
	opNotMatch              // !=~
)

// TagExpr is one parsed tag expression such as "dc=east" or "host=~web.*".
type TagExpr struct {
	Tag   string
	Op    string // "=", "!=", "=~" or "!=~"
	Value string
	op    tagOp
	re    *regexp.Regexp
}

var tagExprRE = regexp.MustCompile(`^([^;!=]+)(!?=~?)([^;]*)$`)

// ParseTagExpr parses one graphite tag expression: tag=value, tag!=value,
// tag=~regex or tag!=~regex. Regexes match from the start of the value, as
// Python's re.match does; a missing tag has the value "".
func ParseTagExpr(s string) (TagExpr, error) {
	m := tagExprRE.FindStringSubmatch(s)
	if m == nil {
		return TagExpr{}, fmt.Errorf("%w: %q", ErrBadTagExpr, s)
	}
	e := TagExpr{Tag: strings.TrimSpace(m[1]), Op: m[2], Value: m[3]}
	switch e.Op {
	case "=":
		e.op = opEq
	case "!=":
		e.op = opNe
	case "=~", "!=~":
		e.op = opMatch
		if e.Op == "!=~" {
			e.op = opNotMatch
		}
		re, err := regexp.Compile(`^(?:` + e.Value + `)`)
		if err != nil {
			return TagExpr{}, fmt.Errorf("%w: %q: %w", ErrBadTagExpr, s, err)
		}
		e.re = re
	}
	return e, nil
}

// Match reports whether a series whose tag value is v (or "" when the tag is
// missing) satisfies the expression.
func (e *TagExpr) Match(v string) bool {
	switch e.op {
	case opEq:
		return v == e.Value
	case opNe:
		return v != e.Value
	case opMatch:
		return e.re.MatchString(v)
	default:
		return !e.re.MatchString(v)
	}
}

// matchesEmpty reports whether a series without the tag matches.
func (e *TagExpr) matchesEmpty() bool { return e.Match("") }

// ParseTagExprs parses every expression and checks graphite-web's rule that
// at least one of them must not match the empty value.
func ParseTagExprs(exprs []string) ([]TagExpr, error) {
	if len(exprs) == 0 {
		return nil, fmt.Errorf("%w: no tag expressions", ErrBadTagExpr)
	}
	out := make([]TagExpr, 0, len(exprs))
	positive := false
	for _, s := range exprs {
		e, err := ParseTagExpr(s)
		if err != nil {
			return nil, err
		}
		positive = positive || !e.matchesEmpty()
		out = append(out, e)
	}
	if !positive {
		return nil, fmt.Errorf("%w: at least one tag expression must not match the empty value", ErrBadTagExpr)
	}
	return out, nil
}

// FindSeries returns the sorted canonical names of the series matching every
// expression (graphite-web's /tags/findSeries and seriesByTag).
func (t *Tags) FindSeries(exprs []string) ([]string, error) {
	es, err := ParseTagExprs(exprs)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.find(es), nil
}

// find evaluates parsed expressions; the caller holds the read lock.
func (t *Tags) find(es []TagExpr) []string {
	// Start from the smallest candidate set: an equality's series list if
	// there is one (a map lookup), else the series whose value of the first
	// non-empty-matching expression's tag matches (a scan of its values).
	best := -1
	for i := range es {
		if es[i].op == opEq && es[i].Value != "" {
			if best < 0 || len(t.byTag[es[i].Tag][es[i].Value]) < len(t.byTag[es[best].Tag][es[best].Value]) {
				best = i
			}
		}
	}
	var cands []string
	if best >= 0 {
		cands = t.byTag[es[best].Tag][es[best].Value]
	} else {
		for i := range es {
			if !es[i].matchesEmpty() {
				best = i
				break
			}
		}
		for v, names := range t.byTag[es[best].Tag] {
			if es[best].Match(v) {
				cands = append(cands, names...)
			}
		}
	}
	var out []string
	for _, name := range cands {
		s := t.series[name]
		ok := true
		for i := range es {
			if i != best && !es[i].Match(s.tags[es[i].Tag]) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// AutoCompleteTags returns sorted tag names starting with prefix, at most
// limit of them (limit <= 0: no limit). With expressions, only tags of the
// matching series that the expressions do not already name are listed, as
// graphite-web's /tags/autoComplete/tags does.
func (t *Tags) AutoCompleteTags(exprs []string, prefix string, limit int) ([]string, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	if len(exprs) == 0 {
		for k := range t.byTag {
			if strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
	} else {
		es, err := ParseTagExprs(exprs)
		if err != nil {
			return nil, err
		}
		used := make(map[string]bool, len(es))
		for _, e := range es {
			used[e.Tag] = true
		}
		seen := make(map[string]bool)
		for _, name := range t.find(es) {
			for k := range t.series[name].tags {
				if !used[k] && !seen[k] && strings.HasPrefix(k, prefix) {
					seen[k] = true
					out = append(out, k)
				}
			}
		}
	}
	return sortLimit(out, limit), nil
}

// AutoCompleteValues returns sorted values of tag starting with prefix, at
// most limit of them (limit <= 0: no limit), restricted to the series
// matching exprs when any are given.
func (t *Tags) AutoCompleteValues(exprs []string, tag, prefix string, limit int) ([]string, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	if len(exprs) == 0 {
		for v := range t.byTag[tag] {
			if strings.HasPrefix(v, prefix) {
				out = append(out, v)
			}
		}
	} else {
		es, err := ParseTagExprs(exprs)
		if err != nil {
			return nil, err
		}
		seen := make(map[string]bool)
		for _, name := range t.find(es) {
			v, ok := t.series[name].tags[tag]
			if ok && !seen[v] && strings.HasPrefix(v, prefix) {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return sortLimit(out, limit), nil
}

// TagNames returns every tag name, sorted, keeping those the regular
// expression filter matches (anywhere, as Python's re.search) when it is not
// empty (graphite-web's /tags?filter=).
func (t *Tags) TagNames(filter string) ([]string, error) {
	var re *regexp.Regexp
	if filter != "" {
		var err error
		if re, err = regexp.Compile(filter); err != nil {
			return nil, fmt.Errorf("%w: filter %q: %w", ErrBadTagExpr, filter, err)
		}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for k := range t.byTag {
		if re == nil || re.MatchString(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func sortLimit(s []string, limit int) []string {
	slices.Sort(s)
	if limit > 0 && len(s) > limit {
		s = s[:limit]
	}
	return s
}
