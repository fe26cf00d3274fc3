package converge

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"equal", "a\nb\n", "a\nb\n", ""},
		{"new file", "", "a\nb\n", "--- x\n+++ y\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"removed", "a\n", "", "--- x\n+++ y\n@@ -1 +0,0 @@\n-a\n"},
		{"middle", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			"--- x\n+++ y\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{"no newline at end", "a\nb", "a\nb\n",
			"--- x\n+++ y\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve\n",
			"--- x\n+++ y\n@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+twelve\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnifiedDiff("x", "y", tt.old, tt.new); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestUnifiedDiffAgainstGNU checks random diffs two ways: GNU patch turns
// the old text into the new one with them, and they change as few lines as
// GNU diff --minimal does.
func TestUnifiedDiffAgainstGNU(t *testing.T) {
	for _, tool := range []string{"diff", "patch"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian packages diffutils, patch)", tool)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "c", "d", "e"}
	text := func() string {
		var sb strings.Builder
		n := rng.IntN(30)
		for range n {
			sb.WriteString(words[rng.IntN(len(words))] + "\n")
		}
		if n > 0 && rng.IntN(5) == 0 {
			return strings.TrimSuffix(sb.String(), "\n")
		}
		return sb.String()
	}
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	for i := range 100 {
		old, new := text(), text()
		if old == new {
			continue
		}
		d := UnifiedDiff("old", "new", old, new)
		if err := os.WriteFile(oldPath, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(newPath, []byte(new), 0o644); err != nil {
			t.Fatal(err)
		}
		patchCmd := exec.Command("patch", "-s", "-o", "-", oldPath)
		patchCmd.Stdin = strings.NewReader(d)
		out, err := patchCmd.CombinedOutput()
		if err != nil || string(out) != new {
			t.Fatalf("case %d: patch gave %q (%v), want %q\ndiff:\n%s", i, out, err, new, d)
		}
		gnu, _ := exec.Command("diff", "-u", "--minimal", oldPath, newPath).Output()
		if got, want := changedLines(d), changedLines(string(gnu)); got != want {
			t.Fatalf("case %d: %d lines changed, GNU diff --minimal changes %d\nours:\n%s\nGNU:\n%s", i, got, want, d, gnu)
		}
	}
}

func changedLines(d string) int {
	n := 0
	for _, l := range strings.Split(d, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			n++
		}
	}
	return n
}

// applyUnified applies a unified diff to old, checking every context and
// removed line.
func applyUnified(old, diff string) (string, error) {
	a := splitLines(old)
	var out []string
	lines := strings.SplitAfter(diff, "\n")
	pos := 0 // next line of a to copy
	for i := 2; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "@@ -") {
			return "", fmt.Errorf("line %d: want a hunk header, have %q", i, l)
		}
		f := strings.Fields(l)
		start, _, _ := strings.Cut(strings.TrimPrefix(f[1], "-"), ",")
		n, _ := strconv.Atoi(start)
		if !strings.Contains(f[1], ",") || !strings.HasSuffix(f[1], ",0") {
			n-- // 1-based, except "l,0" which names the line before
		}
		for pos < n {
			out = append(out, a[pos])
			pos++
		}
		for i+1 < len(lines) && lines[i+1] != "" && !strings.HasPrefix(lines[i+1], "@@") {
			i++
			op, body := lines[i][0], lines[i][1:]
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], `\ No newline`) {
				body = strings.TrimSuffix(body, "\n")
				i++
			}
			switch op {
			case ' ', '-':
				if pos >= len(a) || a[pos] != body {
					return "", fmt.Errorf("line %d: %q does not match old line %d", i, body, pos+1)
				}
				if op == ' ' {
					out = append(out, body)
				}
				pos++
			case '+':
				out = append(out, body)
			default:
				return "", fmt.Errorf("line %d: %q", i, lines[i])
			}
		}
	}
	out = append(out, a[pos:]...)
	return strings.Join(out, ""), nil
}

func FuzzUnifiedDiff(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nB\nc\n")
	f.Add("", "x")
	f.Add("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "0\n1\n2\n3\n5\n6\n7\n8\n9\n10\n11")
	f.Fuzz(func(t *testing.T, old, new string) {
		d := UnifiedDiff("a", "b", old, new)
		if (d == "") != (old == new) {
			t.Fatalf("diff %q for old %q new %q", d, old, new)
		}
		if d == "" {
			return
		}
		got, err := applyUnified(old, d)
		if err != nil || got != new {
			t.Fatalf("applying\n%s\nto %q gives %q (%v), want %q", d, old, got, err, new)
		}
	})
}

// TestUnifiedDiffLarge: past maxDiffEdits the diff replaces everything,
// and it still turns the old text into the new one.
func TestUnifiedDiffLarge(t *testing.T) {
	var old, mostly, other strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&old, "line %d\n", i)
		if i%10 == 0 {
			fmt.Fprintf(&mostly, "changed %d\n", i)
		} else {
			fmt.Fprintf(&mostly, "line %d\n", i)
		}
		fmt.Fprintf(&other, "other %d\n", i)
	}
	for _, tt := range []struct {
		name    string
		new     string
		changed int
	}{{"300 lines changed", mostly.String(), 600}, {"all lines changed", other.String(), 6000}} {
		d := UnifiedDiff("a", "b", old.String(), tt.new)
		if got, err := applyUnified(old.String(), d); err != nil || got != tt.new {
			t.Errorf("%s: the diff does not apply: %v", tt.name, err)
		}
		if n := changedLines(d); n != tt.changed {
			t.Errorf("%s: %d lines changed, want %d", tt.name, n, tt.changed)
		}
	}
}
