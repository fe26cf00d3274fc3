// Package query parses and evaluates Corral's log query language, the
// language of `corral logs`, GET /api/v1/logs, live tail and output `match:`
// filters. The log store (internal/logs/store) plans index lookups from the
// syntax tree and uses Match as the final word on every entry.
//
// The language, for example
//
//	app:shop/api level:error status>=500 "timeout" -path:/health
//
// has these terms:
//
//   - field:value matches a field exactly (case-sensitive); `*` in the value
//     is a glob for any run of characters (app:shop/*); field:* means the
//     field is present and not empty. A value may be quoted: path:"/a b".
//   - field>=N, field>N, field<N, field<=N compare numerically when both the
//     field's value and N are numbers, else as strings. time compares with an
//     RFC 3339 time (time>=2026-11-25T16:00:00Z).
//   - a bare word matches a word of the message, case-insensitively (words
//     are runs of Unicode letters and digits; the log store indexes the same
//     words); `*` in a bare word globs within one word (time*). A "quoted
//     phrase" matches consecutive words of the message. message:v is the same
//     as the bare word or phrase v.
//   - -term negates any term or parenthesised group.
//   - terms side by side are ANDed (AND may be written); OR between terms
//     binds looser than AND; parentheses group: (a OR b) c.
//
// Built-in fields are time, node, source, app, task, stream, level and
// message; every other name is a field a parser found (status, path). A
// missing field matches no field:value or comparison term.
package query

import (
	"strings"
)

// Op is the kind of an Expr node.
type Op int

// The node kinds.
const (
	OpTerm Op = iota // a single term
	OpAnd            // all children
	OpOr             // any child
	OpNot            // not its one child
)

// Kind is the kind of a term.
type Kind int

// The term kinds.
const (
	KindField   Kind = iota // field:value, exact or glob
	KindCompare             // field>=value, >, <, <=
	KindWord                // a bare word (or message:word): one word of the message
	KindPhrase              // "quoted phrase": consecutive words of the message
)

// Expr is a node of the syntax tree.
type Expr struct {
	Op       Op
	Children []*Expr // OpAnd, OpOr: two or more; OpNot: one
	Term     *Term   // OpTerm
}

// Term is one leaf of the syntax tree.
type Term struct {
	Kind  Kind
	Field string // KindField, KindCompare: the field's name
	Cmp   string // KindCompare: ">=", ">", "<" or "<="
	Value string // the value as written (unquoted)
	// Glob is set when Value contains '*' (KindField, KindWord).
	Glob bool
	// Words are the lower-cased words of a KindWord or KindPhrase term.
	Words []string

	num    float64
	isNum  bool
	timeNs int64 // KindCompare on time
}

// Query is a parsed query. The zero Query (and a nil *Query) matches every
// entry.
type Query struct {
	Text string
	Root *Expr // nil: everything
}

// Builtin reports whether name is one of the built-in fields.
func Builtin(name string) bool {
	switch name {
	case "time", "node", "source", "app", "task", "stream", "level", "message":
		return true
	}
	return false
}

// String returns the query as written.
func (q *Query) String() string {
	if q == nil {
		return ""
	}
	return q.Text
}

// String renders the tree in a normalised form (for tests and debugging).
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	switch e.Op {
	case OpTerm:
		t := e.Term
		switch t.Kind {
		case KindField:
			b.WriteString(t.Field + ":" + quoteIfNeeded(t.Value))
		case KindCompare:
			b.WriteString(t.Field + t.Cmp + quoteIfNeeded(t.Value))
		case KindWord:
			b.WriteString(quoteIfNeeded(t.Value))
		case KindPhrase:
			b.WriteString(`"` + strings.ReplaceAll(strings.ReplaceAll(t.Value, `\`, `\\`), `"`, `\"`) + `"`)
		}
	case OpNot:
		b.WriteString("-")
		e.Children[0].write(b)
	case OpAnd, OpOr:
		b.WriteString("(")
		for i, c := range e.Children {
			if i > 0 {
				if e.Op == OpAnd {
					b.WriteString(" ")
				} else {
					b.WriteString(" OR ")
				}
			}
			c.write(b)
		}
		b.WriteString(")")
	}
}

func quoteIfNeeded(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n\"()\\") && s != "OR" && s != "AND" {
		return s
	}
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
