package converge

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

// maxDiffEdits bounds the Myers search (its memory grows with the square
// of the edits: about 8 MB at the bound); beyond it the diff shows the
// whole old content removed and the new one added (still a correct diff,
// only a long one).
const maxDiffEdits = 1000

type opKind byte

const (
	opEqual opKind = ' '
	opDel   opKind = '-'
	opAdd   opKind = '+'
)

type edit struct {
	kind opKind
	a, b int // line index in a (equal, del) and b (equal, add)
}

// splitLines splits s into lines that keep their "\n"; a last line without
// one is kept as it is.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// UnifiedDiff returns the unified diff (diff -u, three lines of context)
// from old to new, labelled with the two names, or "" when they are equal.
func UnifiedDiff(oldName, newName, old, new string) string {
	if old == new {
		return ""
	}
	a, b := splitLines(old), splitLines(new)
	edits := lineEdits(a, b)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", oldName, newName)
	for i := 0; i < len(edits); {
		// Find the next change.
		for i < len(edits) && edits[i].kind == opEqual {
			i++
		}
		if i == len(edits) {
			break
		}
		start := max(i-diffContext, 0)
		for start > 0 && edits[start-1].kind != opEqual {
			start--
		}
		// Extend the hunk while changes are within 2*context lines.
		end := i
		for {
			for end < len(edits) && edits[end].kind != opEqual {
				end++
			}
			eq := 0
			for end+eq < len(edits) && edits[end+eq].kind == opEqual {
				eq++
			}
			if end+eq == len(edits) || eq > 2*diffContext {
				end += min(eq, diffContext)
				break
			}
			end += eq
		}
		writeHunk(&sb, a, b, edits[start:end])
		i = end
	}
	return sb.String()
}

func writeHunk(sb *strings.Builder, a, b []string, h []edit) {
	aStart, bStart := -1, -1
	aN, bN := 0, 0
	for _, e := range h {
		if e.kind != opAdd {
			if aStart < 0 {
				aStart = e.a
			}
			aN++
		}
		if e.kind != opDel {
			if bStart < 0 {
				bStart = e.b
			}
			bN++
		}
	}
	if aStart < 0 { // only additions: position after the preceding line
		aStart = h[0].a
	}
	if bStart < 0 {
		bStart = h[0].b
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", hunkRange(aStart, aN), hunkRange(bStart, bN))
	for _, e := range h {
		line := ""
		switch e.kind {
		case opEqual, opDel:
			line = a[e.a]
		case opAdd:
			line = b[e.b]
		}
		sb.WriteByte(byte(e.kind))
		sb.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange formats a 0-based start and a count as diff -u does: "l,n", "l"
// when n is 1, and the line before ("l,0") when n is 0.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// lineEdits returns an edit script from a to b: a shortest one (Myers'
// O(ND) algorithm) after trimming the common prefix and suffix. Every edit
// carries its position in both a and b.
func lineEdits(a, b []string) []edit {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	out := make([]edit, 0, len(a)+len(b))
	for i := 0; i < pre; i++ {
		out = append(out, edit{opEqual, i, i})
	}
	out = append(out, myers(a[pre:len(a)-suf], b[pre:len(b)-suf], pre, pre)...)
	for i := suf; i > 0; i-- {
		out = append(out, edit{opEqual, len(a) - i, len(b) - i})
	}
	return out
}

// myers returns a shortest edit script from a to b, positions offset by
// ao and bo.
func myers(a, b []string, ao, bo int) []edit {
	n, m := len(a), len(b)
	whole := func() []edit {
		out := make([]edit, 0, n+m)
		for i := range a {
			out = append(out, edit{opDel, ao + i, bo})
		}
		for j := range b {
			out = append(out, edit{opAdd, ao + n, bo + j})
		}
		return out
	}
	if n == 0 || m == 0 {
		return whole()
	}
	limit := min(n+m, maxDiffEdits)
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	found := -1
	for d := 0; d <= limit && found < 0; d++ {
		// Step d reads only diagonals -d..d of the step before.
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
	}
	if found < 0 {
		return whole()
	}
	// Walk back through the saved V arrays.
	var rev []edit
	x, y := n, m
	for d := found; d > 0; d-- {
		vp := trace[d] // diagonal k at vp[k+d]
		k := x - y
		var pk int
		if k == -d || (k != d && vp[k-1+d] < vp[k+1+d]) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := vp[pk+d]
		py := px - pk
		for x > px && y > py {
			x--
			y--
			rev = append(rev, edit{opEqual, ao + x, bo + y})
		}
		if pk == k+1 { // came down: an insertion of b[py]
			y--
			rev = append(rev, edit{opAdd, ao + x, bo + y})
		} else {
			x--
			rev = append(rev, edit{opDel, ao + x, bo + y})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, edit{opEqual, ao + x, bo + y})
	}
	out := make([]edit, len(rev))
	for i, e := range rev {
		out[len(rev)-1-i] = e
	}
	return out
}
