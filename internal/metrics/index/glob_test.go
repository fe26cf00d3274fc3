package index

import (
	"errors"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		want             bool
	}{
		{"literal", "cpu", "cpu", true},
		{"literal mismatch", "cpu", "cpu0", false},
		{"empty pattern empty name", "", "", true},
		{"star all", "*", "anything", true},
		{"star empty", "*", "", true},
		{"star not dot", "*", "a.b", false},
		{"star prefix", "host*", "host0042", true},
		{"star suffix", "*_user", "cpu_user", true},
		{"star middle", "a*b", "aXXb", true},
		{"star middle backtrack", "a*b*c", "abbbcbc", true},
		{"star middle mismatch", "a*b", "aXXc", false},
		{"double star", "a**", "abc", true},
		{"question", "cpu?", "cpu0", true},
		{"question needs one", "cpu?", "cpu", false},
		{"question not dot", "a?b", "a.b", false},
		{"question unicode rune", "h?st", "höst", true},
		{"class", "cpu[0-3]", "cpu2", true},
		{"class out of range", "cpu[0-3]", "cpu4", false},
		{"class set", "[abc]x", "bx", true},
		{"class negated", "[!a]x", "bx", true},
		{"class negated hit", "[!a]x", "ax", false},
		{"class caret literal", "[^a]", "^", true},
		{"class close first", "[]a]", "]", true},
		{"class negated close first", "[!]a]", "b", true},
		{"class trailing dash", "[a-]", "-", true},
		{"class reversed range", "[z-a]", "m", false},
		{"class unicode", "[äö]", "ö", true},
		{"alternation", "{user,system}", "system", true},
		{"alternation miss", "{user,system}", "idle", false},
		{"alternation with globs", "{us*,sy?tem}", "sys_em", false},
		{"alternation glob hit", "{us*,sy?tem}", "syXtem", true},
		{"alternation affixes", "cpu{0,1}_busy", "cpu1_busy", true},
		{"two groups", "{a,b}{c,d}", "bc", true},
		{"two groups miss", "{a,b}{c,d}", "ab", false},
		{"empty part", "{a,}b", "b", true},
		{"empty part other", "{a,}b", "ab", true},
		{"empty group", "x{}y", "xy", true},
		{"stray close brace literal", "a}", "a}", true},
		{"backslash literal", `a\*`, `a\bc`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Match(tt.pattern, tt.s)
			if err != nil {
				t.Fatalf("Match(%q, %q): %v", tt.pattern, tt.s, err)
			}
			if got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	tests := []struct{ name, pattern string }{
		{"unterminated class", "cpu[0-3"},
		{"bare open bracket", "["},
		{"negated only", "[!]"},
		{"close first only", "[]"},
		{"unterminated brace", "{a,b"},
		{"nested braces", "{a,{b,c}}"},
		{"class inside brace split by comma", "{[a,b]}"},
		{"too many alternatives", "{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Match(tt.pattern, "a")
			if !errors.Is(err, ErrBadPattern) {
				t.Errorf("Match(%q) error = %v, want ErrBadPattern", tt.pattern, err)
			}
		})
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{"*", "a?c", "[a-z]*", "[!]x]", "{a,b}c", "{a,}", "{a,{b}}", "[", "h*o*s*t", "\xff*"} {
		f.Add(s, "abc")
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		ok, err := Match(pattern, s)
		if err != nil && ok {
			t.Fatalf("Match(%q, %q) = true with error %v", pattern, s, err)
		}
		if err == nil && !hasGlob(pattern) && ok != (pattern == s) {
			t.Fatalf("literal Match(%q, %q) = %v", pattern, s, ok)
		}
	})
}
