package converge

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add(`[{"file": {"path": "/etc/motd", "content": "hi\n", "mode": "0644", "notify": ["restart service x"]}}, {"service": {"name": "x"}}]`)
	f.Add(`[{"package": {"name": ["curl", "htop"]}}, {"cron": {"name": "b", "schedule": "@daily", "command": "x", "checkin": "c"}}]`)
	f.Add(`[{"hosts": null}, {"sysctl": {"name": "vm.swappiness", "value": 10}}, {"exec": {"command": "x", "returns": [0, 2]}}]`)
	f.Fuzz(func(t *testing.T, s string) {
		var list []map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &list) != nil {
			return
		}
		res, err := DecodeResources(list)
		if err != nil {
			return
		}
		for _, r := range res {
			if r.provider == nil || r.Name != r.provider.Name() {
				t.Fatalf("%s: provider %v", r.ID(), r.provider)
			}
		}
	})
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
