package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Error is a parse error at a 1-based byte column of the query.
type Error struct {
	Col int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("query: col %d: %s", e.Col, e.Msg) }

// Parse parses a query. The empty (or all-blank) query matches everything.
func Parse(s string) (*Query, error) {
	p := &parser{s: s}
	p.skipSpace()
	if p.pos == len(s) {
		return &Query{Text: s}, nil
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(s) {
		if s[p.pos] == ')' {
			return nil, p.errf(p.pos, "unexpected \")\"")
		}
		return nil, p.errf(p.pos, "unexpected %q", s[p.pos:])
	}
	return &Query{Text: s, Root: root}, nil
}

// MustParse is Parse for queries known to be valid; it panics on error.
func MustParse(s string) *Query {
	q, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return q
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 100

type parser struct {
	s     string
	pos   int
	depth int
}

func (p *parser) errf(pos int, format string, args ...any) error {
	return &Error{Col: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// keyword reports whether the keyword kw (OR, AND) stands at the current
// position as a word of its own.
func (p *parser) keyword(kw string) bool {
	if !strings.HasPrefix(p.s[p.pos:], kw) {
		return false
	}
	end := p.pos + len(kw)
	return end == len(p.s) || isSpace(p.s[end]) || p.s[end] == '(' || p.s[end] == '"' || p.s[end] == '-'
}

func (p *parser) parseOr() (*Expr, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	kids := []*Expr{first}
	for {
		p.skipSpace()
		if p.pos >= len(p.s) || !p.keyword("OR") {
			break
		}
		p.pos += 2
		p.skipSpace()
		next, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		kids = append(kids, next)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &Expr{Op: OpOr, Children: kids}, nil
}

func (p *parser) parseAnd() (*Expr, error) {
	var kids []*Expr
	for {
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] == ')' || p.keyword("OR") {
			break
		}
		if p.keyword("AND") {
			if len(kids) == 0 {
				return nil, p.errf(p.pos, "expected a term before AND")
			}
			p.pos += 3
			p.skipSpace()
			if p.pos >= len(p.s) || p.s[p.pos] == ')' || p.keyword("OR") || p.keyword("AND") {
				return nil, p.errf(p.pos, "expected a term after AND")
			}
			continue
		}
		e, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		kids = append(kids, e)
	}
	switch len(kids) {
	case 0:
		if p.pos < len(p.s) && p.keyword("OR") {
			return nil, p.errf(p.pos, "expected a term before OR")
		}
		return nil, p.errf(p.pos, "expected a term")
	case 1:
		return kids[0], nil
	}
	return &Expr{Op: OpAnd, Children: kids}, nil
}

func (p *parser) parseUnary() (*Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errf(p.pos, "nested too deeply")
	}
	switch p.s[p.pos] {
	case '-':
		start := p.pos
		p.pos++
		if p.pos >= len(p.s) || isSpace(p.s[p.pos]) || p.s[p.pos] == ')' {
			return nil, p.errf(start, "expected a term after \"-\"")
		}
		e, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &Expr{Op: OpNot, Children: []*Expr{e}}, nil
	case '(':
		start := p.pos
		p.pos++
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ')' {
			return nil, p.errf(p.pos, "expected a term after \"(\"")
		}
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return nil, p.errf(start, "\"(\" is not closed")
		}
		p.pos++
		return e, nil
	}
	return p.parseTerm()
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '@'
}

func isNameChar(c byte) bool {
	return isNameStart(c) || c >= '0' && c <= '9' || c == '.' || c == '-'
}

func (p *parser) parseTerm() (*Expr, error) {
	start := p.pos
	if p.s[p.pos] == '"' {
		v, err := p.quoted()
		if err != nil {
			return nil, err
		}
		return p.text(start, v, true)
	}
	// A field name followed by ':' or a comparison makes a field term.
	end := p.pos
	if isNameStart(p.s[end]) {
		for end < len(p.s) && isNameChar(p.s[end]) {
			end++
		}
	}
	if end > p.pos && end < len(p.s) {
		name := p.s[p.pos:end]
		op := ""
		switch {
		case p.s[end] == ':':
			op = ":"
		case strings.HasPrefix(p.s[end:], ">="), strings.HasPrefix(p.s[end:], "<="):
			op = p.s[end : end+2]
		case p.s[end] == '>' || p.s[end] == '<':
			op = p.s[end : end+1]
		}
		if op != "" {
			p.pos = end + len(op)
			return p.fieldTerm(start, name, op)
		}
	}
	// A bare word runs to the next blank, parenthesis or quote.
	for end = p.pos; end < len(p.s) && !isSpace(p.s[end]) && p.s[end] != '(' && p.s[end] != ')' && p.s[end] != '"'; end++ {
	}
	if end == p.pos {
		return nil, p.errf(p.pos, "expected a term")
	}
	v := p.s[p.pos:end]
	p.pos = end
	return p.text(start, v, false)
}

// quoted reads a double-quoted string with \" and \\ escapes.
func (p *parser) quoted() (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.s):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case c == '"':
			p.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errf(start, "quoted string is not closed")
}

// value reads the value after a field name and operator.
func (p *parser) value(what string) (string, error) {
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		return p.quoted()
	}
	end := p.pos
	for end < len(p.s) && !isSpace(p.s[end]) && p.s[end] != ')' {
		end++
	}
	if end == p.pos {
		return "", p.errf(p.pos, "expected a value after %q", what)
	}
	v := p.s[p.pos:end]
	p.pos = end
	return v, nil
}

func (p *parser) fieldTerm(start int, name, op string) (*Expr, error) {
	what := p.s[start:p.pos]
	vpos := p.pos
	v, err := p.value(what)
	if err != nil {
		return nil, err
	}
	if name == "message" {
		if op != ":" {
			return nil, p.errf(start, "message takes words or a phrase, not %q", op)
		}
		return p.text(vpos, v, p.s[vpos] == '"')
	}
	if op == ":" {
		if name == "time" {
			return nil, p.errf(start, "time takes a comparison (time>=2026-11-25T16:00:00Z)")
		}
		return term(&Term{Kind: KindField, Field: name, Value: v, Glob: strings.Contains(v, "*")}), nil
	}
	t := &Term{Kind: KindCompare, Field: name, Cmp: op, Value: v}
	if name == "time" {
		tm, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, p.errf(vpos, "expected an RFC 3339 time after %q", what)
		}
		t.timeNs = tm.UnixNano()
	} else if f, err := strconv.ParseFloat(v, 64); err == nil {
		t.num, t.isNum = f, true
	}
	return term(t), nil
}

// text makes a full-text term of a bare word or phrase.
func (p *parser) text(start int, v string, quoted bool) (*Expr, error) {
	words := AppendWords(nil, v)
	glob := !quoted && strings.Contains(v, "*")
	if glob {
		if strings.Count(v, "*") == len(v) {
			return nil, p.errf(start, "a glob needs at least one letter or digit")
		}
		// A glob matches within one word: letters, digits and '*'.
		for i := 0; i < len(v); i++ {
			if c := v[i]; c != '*' && c < 0x80 && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return nil, p.errf(start, "a glob matches within one word: %q", v)
			}
		}
		return term(&Term{Kind: KindWord, Value: v, Glob: true, Words: []string{lowerUnicode(v)}}), nil
	}
	switch len(words) {
	case 0:
		return nil, p.errf(start, "%q has no words to search for", v)
	case 1:
		if !quoted {
			return term(&Term{Kind: KindWord, Value: v, Words: words}), nil
		}
	}
	return term(&Term{Kind: KindPhrase, Value: v, Words: words}), nil
}

func term(t *Term) *Expr { return &Expr{Op: OpTerm, Term: t} }
