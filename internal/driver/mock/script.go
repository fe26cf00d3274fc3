package mock

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// op is one statement of a mock script.
type op struct {
	kind string        // run, print, eprint, exit, oom, signal, fail, term
	d    time.Duration // run: how long (0: until stopped); term: exit delay
	n    int           // exit: the code
	text string        // print, eprint, fail, signal: the argument
	mode string        // term: "ignore" or "delay"
}

// parse reads a mock script (the language is in the package comment).
func parse(script string) ([]op, error) {
	var ops []op
	for _, stmt := range strings.FieldsFunc(script, func(r rune) bool { return r == ';' || r == '\n' }) {
		stmt = strings.TrimSpace(stmt)
		if stmt == "" || strings.HasPrefix(stmt, "#") {
			continue
		}
		kind, arg, _ := strings.Cut(stmt, " ")
		arg = strings.TrimSpace(arg)
		o := op{kind: kind}
		switch kind {
		case "run", "sleep", "forever":
			o.kind = "run"
			if arg != "" && kind != "forever" {
				d, err := time.ParseDuration(arg)
				if err != nil || d < 0 {
					return nil, fmt.Errorf("%q: bad duration", stmt)
				}
				o.d = d
			}
		case "print", "eprint", "fail":
			o.text = arg
		case "exit":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 || n > 255 {
				return nil, fmt.Errorf("%q: exit code must be 0-255", stmt)
			}
			o.n = n
		case "oom":
		case "signal":
			if !strings.HasPrefix(arg, "SIG") {
				return nil, fmt.Errorf("%q: want a signal name like SIGSEGV", stmt)
			}
			o.text = arg
		case "term":
			if arg == "ignore" {
				o.mode = "ignore"
				break
			}
			d, err := time.ParseDuration(arg)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("%q: want term ignore or term <duration>", stmt)
			}
			o.mode, o.d = "delay", d
		default:
			return nil, fmt.Errorf("%q: unknown statement %q", stmt, kind)
		}
		ops = append(ops, o)
	}
	return ops, nil
}

// signalNumbers gives the exit code 128+n of the signals a script names.
var signalNumbers = map[string]int{
	"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGABRT": 6, "SIGBUS": 7,
	"SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12,
	"SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
}
