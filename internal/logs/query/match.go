package query

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"corral/internal/api"
)

// Match reports whether the entry matches the query. A nil query matches
// everything.
func Match(q *Query, e *api.LogEntry) bool {
	if q == nil || q.Root == nil {
		return true
	}
	return q.Root.Match(e)
}

// Match reports whether the entry matches the expression.
func (x *Expr) Match(e *api.LogEntry) bool {
	switch x.Op {
	case OpAnd:
		for _, c := range x.Children {
			if !c.Match(e) {
				return false
			}
		}
		return true
	case OpOr:
		for _, c := range x.Children {
			if c.Match(e) {
				return true
			}
		}
		return false
	case OpNot:
		return !x.Children[0].Match(e)
	}
	return x.Term.Match(e)
}

// FieldValue returns the value of a built-in or parsed field of the entry.
// time is RFC 3339 with nanoseconds in UTC.
func FieldValue(e *api.LogEntry, name string) (string, bool) {
	switch name {
	case "node":
		return e.Node, e.Node != ""
	case "source":
		return e.Source, e.Source != ""
	case "app":
		return e.App, e.App != ""
	case "task":
		return e.Task, e.Task != ""
	case "stream":
		return e.Stream, e.Stream != ""
	case "level":
		return e.Level, e.Level != ""
	case "message":
		return e.Message, true
	case "time":
		return e.Time.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"), true
	}
	v, ok := e.Fields[name]
	return v, ok
}

// Match reports whether the entry matches the term.
func (t *Term) Match(e *api.LogEntry) bool {
	switch t.Kind {
	case KindField:
		v, ok := FieldValue(e, t.Field)
		if !ok {
			return false
		}
		if !t.Glob {
			return v == t.Value
		}
		if t.Value == "*" {
			return v != ""
		}
		return Glob(t.Value, v)
	case KindCompare:
		if t.Field == "time" {
			return compare(t.Cmp, cmpInt(e.Time.UnixNano(), t.timeNs))
		}
		v, ok := FieldValue(e, t.Field)
		if !ok {
			return false
		}
		return t.CompareValue(v)
	case KindWord:
		if t.Glob {
			return anyWord(e.Message, func(w string) bool { return Glob(t.Words[0], lowerIfNeeded(w)) })
		}
		return anyWord(e.Message, func(w string) bool { return strings.EqualFold(w, t.Words[0]) })
	case KindPhrase:
		return hasPhrase(e.Message, t.Words)
	}
	return false
}

// CompareValue applies a KindCompare term to a field's value: numerically
// when both are numbers, else as strings.
func (t *Term) CompareValue(v string) bool {
	if t.isNum {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			switch {
			case f < t.num:
				return compare(t.Cmp, -1)
			case f > t.num:
				return compare(t.Cmp, 1)
			}
			return compare(t.Cmp, 0)
		}
	}
	return compare(t.Cmp, strings.Compare(v, t.Value))
}

// TimeBound returns the bound of a KindCompare term on time, in Unix
// nanoseconds.
func (t *Term) TimeBound() int64 { return t.timeNs }

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compare(op string, c int) bool {
	switch op {
	case ">=":
		return c >= 0
	case ">":
		return c > 0
	case "<=":
		return c <= 0
	case "<":
		return c < 0
	}
	return false
}

func lowerIfNeeded(w string) string {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			return lowerUnicode(w)
		}
	}
	return w
}

// nextWord returns the bounds of the first word of s at or after i, or
// start == -1.
func nextWord(s string, i int) (start, end int) {
	start = -1
	for i < len(s) {
		c := s[i]
		n := 1
		word := false
		if c < utf8.RuneSelf {
			word = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z'
		} else {
			var r rune
			r, n = utf8.DecodeRuneInString(s[i:])
			word = unicode.IsLetter(r) || unicode.IsNumber(r)
		}
		if word && start < 0 {
			start = i
		} else if !word && start >= 0 {
			return start, i
		}
		i += n
	}
	if start >= 0 {
		return start, len(s)
	}
	return -1, -1
}

func anyWord(s string, f func(string) bool) bool {
	for i := 0; ; {
		a, b := nextWord(s, i)
		if a < 0 {
			return false
		}
		if f(s[a:b]) {
			return true
		}
		i = b
	}
}

func hasPhrase(s string, words []string) bool {
	for i := 0; ; {
		a, b := nextWord(s, i)
		if a < 0 {
			return false
		}
		if strings.EqualFold(s[a:b], words[0]) {
			j, k := b, 1
			for ; k < len(words); k++ {
				c, d := nextWord(s, j)
				if c < 0 || !strings.EqualFold(s[c:d], words[k]) {
					break
				}
				j = d
			}
			if k == len(words) {
				return true
			}
		}
		i = b
	}
}
