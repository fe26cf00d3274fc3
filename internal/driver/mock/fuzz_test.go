package mock

import (
	"strings"
	"testing"
)

// FuzzParse: any script parses or errors, never panics, and what parses
// has only known statements with sane arguments.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"print a; run 2s; exit 3", "term ignore\nrun", "oom", "signal SIGSEGV", "fail x", "exit 300", "run -1s", ";;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ops, err := parse(s)
		if err != nil {
			return
		}
		for _, o := range ops {
			switch o.kind {
			case "run", "print", "eprint", "fail", "oom", "term":
			case "exit":
				if o.n < 0 || o.n > 255 {
					t.Fatalf("%q: exit %d", s, o.n)
				}
			case "signal":
				if !strings.HasPrefix(o.text, "SIG") {
					t.Fatalf("%q: signal %q", s, o.text)
				}
			default:
				t.Fatalf("%q: unknown op %q", s, o.kind)
			}
			if o.d < 0 {
				t.Fatalf("%q: negative duration", s)
			}
		}
	})
}
