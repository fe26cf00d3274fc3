package store

import (
	"math/bits"
	"strings"

	"corral/internal/logs/query"
)

// segIndex is what planning needs of a segment's index.
type segIndex interface {
	lookup(tok string) []uint32
	prefix(p string, accept func(tok string) bool, add func(post []uint32))
	size() int
}

// cand is the candidate set of a query in one segment: every position (all)
// or an ascending list. exact means every candidate matches (no Match
// needed, as long as the time range is checked).
type cand struct {
	all   bool
	list  []uint32
	exact bool
}

// plan computes the candidates of e in a segment. The result is a superset
// of the matches; query.Match decides.
func plan(ix segIndex, e *query.Expr) cand {
	if e == nil {
		return cand{all: true, exact: true}
	}
	switch e.Op {
	case query.OpTerm:
		return planTerm(ix, e.Term)
	case query.OpNot:
		return cand{all: true}
	case query.OpAnd:
		out := cand{all: true, exact: true}
		var minus []uint32
		for _, c := range e.Children {
			if c.Op == query.OpNot {
				in := plan(ix, c.Children[0])
				if !in.all && in.exact {
					minus = union(ix.size(), minus, in.list)
				} else {
					out.exact = false
				}
				continue
			}
			k := plan(ix, c)
			out.exact = out.exact && k.exact
			if k.all {
				continue
			}
			if out.all {
				out.all, out.list = false, k.list
			} else {
				out.list = intersect(out.list, k.list)
			}
		}
		if len(minus) > 0 && !out.all {
			out.list = difference(out.list, minus)
		} else if len(minus) > 0 {
			out.exact = false
		}
		return out
	case query.OpOr:
		out := cand{exact: true}
		for _, c := range e.Children {
			k := plan(ix, c)
			out.exact = out.exact && k.exact
			if k.all {
				return cand{all: true, exact: out.exact && k.exact}
			}
			out.list = union(ix.size(), out.list, k.list)
		}
		return out
	}
	return cand{all: true}
}

func planTerm(ix segIndex, t *query.Term) cand {
	switch t.Kind {
	case query.KindField:
		if !t.Glob {
			return cand{list: ix.lookup(fieldToken(t.Field, t.Value)), exact: true}
		}
		p := t.Field + "\x00"
		lit := t.Value[:strings.IndexByte(t.Value, '*')]
		var acc [][]uint32
		ix.prefix(p+lit, func(tok string) bool {
			v := tok[len(p):]
			return v != "" && query.Glob(t.Value, v)
		}, func(l []uint32) { acc = append(acc, l) })
		return cand{list: unionAll(ix.size(), acc), exact: true}
	case query.KindCompare:
		if t.Field == "time" {
			return cand{all: true}
		}
		p := t.Field + "\x00"
		var acc [][]uint32
		ix.prefix(p, func(tok string) bool { return t.CompareValue(tok[len(p):]) },
			func(l []uint32) { acc = append(acc, l) })
		return cand{list: unionAll(ix.size(), acc), exact: true}
	case query.KindWord:
		if !t.Glob {
			return cand{list: ix.lookup(t.Words[0]), exact: true}
		}
		w := t.Words[0]
		lit := w[:strings.IndexByte(w, '*')]
		var acc [][]uint32
		ix.prefix(lit, func(tok string) bool {
			return strings.IndexByte(tok, 0) < 0 && query.Glob(w, tok)
		}, func(l []uint32) { acc = append(acc, l) })
		return cand{list: unionAll(ix.size(), acc), exact: true}
	case query.KindPhrase:
		var out []uint32
		for i, w := range t.Words {
			l := ix.lookup(w)
			if i == 0 {
				out = l
			} else {
				out = intersect(out, l)
			}
			if len(out) == 0 {
				break
			}
		}
		return cand{list: out, exact: len(t.Words) == 1}
	}
	return cand{all: true}
}

func intersect(a, b []uint32) []uint32 {
	out := make([]uint32, 0, min(len(a), len(b)))
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func difference(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a))
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}

func union(n int, a, b []uint32) []uint32 {
	return unionAll(n, [][]uint32{a, b})
}

// unionAll merges ascending lists of positions below n through a bitmap.
func unionAll(n int, lists [][]uint32) []uint32 {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return lists[0]
	}
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	bm := make([]uint64, (n+63)/64)
	for _, l := range lists {
		for _, p := range l {
			if int(p) < n {
				bm[p>>6] |= 1 << (p & 63)
			}
		}
	}
	out := make([]uint32, 0, min(total, n))
	for i, w := range bm {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, uint32(i*64+b))
			w &= w - 1
		}
	}
	return out
}
