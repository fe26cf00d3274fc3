package index

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrBadPattern is wrapped by every error about a malformed glob.
var ErrBadPattern = errors.New("bad glob pattern")

// maxVariants caps how many alternatives one node pattern may expand to, so a
// query like {a,b}{c,d}{e,f}... cannot blow up memory.
const maxVariants = 1024

type tokKind uint8

const (
	tokLit   tokKind = iota // literal text
	tokAny                  // ?
	tokStar                 // *
	tokClass                // [...]
)

type classRange struct{ lo, hi rune }

type token struct {
	kind   tokKind
	lit    string
	neg    bool
	ranges []classRange
}

// variant is one brace-free alternative of a node pattern.
type variant struct {
	toks    []token
	literal bool   // no glob characters: match is string equality
	text    string // the alternative's text (the name itself when literal)
}

// pattern is one compiled node pattern: the union of its variants.
type pattern struct {
	variants []variant
	literal  bool // every variant is literal: look children up directly
}

// hasGlob reports whether s holds any character with glob meaning.
func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[{") }

// compile parses one node pattern. Braces are expanded first, as graphite's
// expand_braces does: {a,b} may hold globs, several groups multiply out, an
// empty part ({a,}) matches the empty string, a stray '}' is literal. Unlike
// graphite, nested braces and an unterminated '{' or '[' are errors.
func compile(p string) (*pattern, error) {
	alts, err := expandBraces(p)
	if err != nil {
		return nil, err
	}
	pt := &pattern{literal: true}
	seen := make(map[string]bool, len(alts))
	for _, a := range alts {
		if seen[a] {
			continue
		}
		seen[a] = true
		v, err := parseVariant(a)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		pt.literal = pt.literal && v.literal
		pt.variants = append(pt.variants, v)
	}
	return pt, nil
}

func expandBraces(p string) ([]string, error) {
	out := []string{""}
	for len(p) > 0 {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			return appendAll(out, p), nil
		}
		out = appendAll(out, p[:i])
		rest := p[i+1:]
		j := strings.IndexAny(rest, "{}")
		if j < 0 {
			return nil, fmt.Errorf("%w: %q: unterminated '{'", ErrBadPattern, p)
		}
		if rest[j] == '{' {
			return nil, fmt.Errorf("%w: %q: nested '{' is not supported", ErrBadPattern, p)
		}
		parts := strings.Split(rest[:j], ",")
		if len(out)*len(parts) > maxVariants {
			return nil, fmt.Errorf("%w: %q: more than %d alternatives", ErrBadPattern, p, maxVariants)
		}
		next := make([]string, 0, len(out)*len(parts))
		for _, o := range out {
			for _, part := range parts {
				next = append(next, o+part)
			}
		}
		out = next
		p = rest[j+1:]
	}
	return out, nil
}

func appendAll(out []string, s string) []string {
	if s == "" {
		return out
	}
	for i := range out {
		out[i] += s
	}
	return out
}

// parseVariant tokenises a brace-free pattern with Python fnmatch rules:
// '*', '?', '[seq]', '[!seq]', ranges a-z, ']' literal when first in a class.
func parseVariant(s string) (variant, error) {
	v := variant{text: s, literal: !strings.ContainsAny(s, "*?[")}
	if v.literal {
		if s != "" {
			v.toks = []token{{kind: tokLit, lit: s}}
		}
		return v, nil
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case '*':
			if n := len(v.toks); n == 0 || v.toks[n-1].kind != tokStar {
				v.toks = append(v.toks, token{kind: tokStar})
			}
			i++
		case '?':
			v.toks = append(v.toks, token{kind: tokAny})
			i++
		case '[':
			t, n, err := parseClass(s[i:])
			if err != nil {
				return v, err
			}
			v.toks = append(v.toks, t)
			i += n
		default:
			j := i + 1
			for j < len(s) && !strings.ContainsRune("*?[", rune(s[j])) {
				j++
			}
			v.toks = append(v.toks, token{kind: tokLit, lit: s[i:j]})
			i = j
		}
	}
	return v, nil
}

// parseClass parses s starting at '[' and returns the token and bytes used.
func parseClass(s string) (token, int, error) {
	t := token{kind: tokClass}
	i := 1
	if i < len(s) && s[i] == '!' {
		t.neg = true
		i++
	}
	first := true
	for {
		if i >= len(s) {
			return t, 0, fmt.Errorf("%w: %q: unterminated '['", ErrBadPattern, s)
		}
		if s[i] == ']' && !first {
			return t, i + 1, nil
		}
		first = false
		lo, n := utf8.DecodeRuneInString(s[i:])
		i += n
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			hi, n = utf8.DecodeRuneInString(s[i+1:])
			i += 1 + n
		}
		t.ranges = append(t.ranges, classRange{lo, hi}) // lo > hi matches nothing, as in Python 3.7+
	}
}

func (t *token) inClass(r rune) bool {
	in := false
	for _, cr := range t.ranges {
		if cr.lo <= r && r <= cr.hi {
			in = true
			break
		}
	}
	return in != t.neg
}

// match reports whether s matches the variant. '*' and '?' never match '.'.
func (v *variant) match(s string) bool {
	if v.literal {
		return s == v.text
	}
	toks := v.toks
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case tokStar:
				starTi, starSi = ti, si
				ti++
				continue
			case tokLit:
				if strings.HasPrefix(s[si:], t.lit) {
					ti++
					si += len(t.lit)
					continue
				}
			case tokAny, tokClass:
				if si < len(s) {
					r, n := utf8.DecodeRuneInString(s[si:])
					if (t.kind == tokAny && r != '.') || (t.kind == tokClass && t.inClass(r)) {
						ti++
						si += n
						continue
					}
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: let the last '*' swallow one more rune, if it can.
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		r, n := utf8.DecodeRuneInString(s[starSi:])
		if r == '.' {
			return false
		}
		starSi += n
		ti, si = starTi+1, starSi
	}
}

// matchesAll reports whether p is a lone '*', which matches every node name
// (names never hold a '.').
func (p *pattern) matchesAll() bool {
	return len(p.variants) == 1 && len(p.variants[0].toks) == 1 && p.variants[0].toks[0].kind == tokStar
}

func (p *pattern) match(s string) bool {
	for i := range p.variants {
		if p.variants[i].match(s) {
			return true
		}
	}
	return false
}

// Match reports whether the single node name s matches the glob pattern with
// graphite-web's per-node semantics. A malformed pattern returns an error
// wrapping ErrBadPattern.
func Match(pattern, s string) (bool, error) {
	p, err := compile(pattern)
	if err != nil {
		return false, err
	}
	return p.match(s), nil
}
