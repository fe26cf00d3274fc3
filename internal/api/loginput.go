package api

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// LogInputSpec is `kind: LogInput`: files every subscribed agent follows,
// parses and ships to the server's log store.
type LogInputSpec struct {
	Name string `json:"name"`
	// Type is "file" (the only type a LogInput declares: the syslog, JSON
	// lines and Beats listeners are agent flags).
	Type string `json:"type"`
	// Paths are absolute file paths or glob patterns.
	Paths []string `json:"paths"`
	// Parser is json, combined, logfmt, syslog, regex or none (the default).
	Parser string `json:"parser,omitempty"`
	// Pattern is the regex parser's expression, with named groups.
	Pattern string `json:"pattern,omitempty"`
	// Fields are added to every entry ("service": "nginx").
	Fields map[string]string `json:"fields,omitempty"`
	// Multiline joins continuation lines: a line matching Start begins an
	// entry, the others are appended to the one before.
	Multiline *MultilineSpec `json:"multiline,omitempty"`
	// FromBeginning reads files the agent never followed from their start
	// (default: from their end, like tail -f).
	FromBeginning bool `json:"from_beginning,omitempty"`
	// Subscriptions choose the nodes, as for Checks: a node's role label,
	// its `subscriptions` label, "all" or "entity:<node>"; none means every
	// node.
	Subscriptions []string `json:"subscriptions,omitempty"`
}

// MultilineSpec says how lines are joined into one entry.
type MultilineSpec struct {
	Start    string   `json:"start"`
	MaxLines int      `json:"max_lines,omitempty"` // default 500
	Timeout  Duration `json:"timeout,omitempty"`   // an open entry is sent after this long without a new line (default 1s)
}

// LogParsers are the parser names a LogInput may use.
var LogParsers = []string{"json", "combined", "logfmt", "syslog", "regex", "none"}

// Validate checks a LogInputSpec.
func (l *LogInputSpec) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(l.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	if l.Type != "file" {
		fe.Add("type", "must be file (syslog, JSON lines and Beats are listeners every agent runs: see corral agent --help)")
	}
	if len(l.Paths) == 0 {
		fe.Add("paths", "is required (absolute file paths or glob patterns)")
	}
	for i, p := range l.Paths {
		if !filepath.IsAbs(p) {
			fe.Add(fmt.Sprintf("paths[%d]", i), "must be absolute: %q", p)
		} else if _, err := filepath.Match(p, ""); err != nil {
			fe.Add(fmt.Sprintf("paths[%d]", i), "is not a valid glob pattern: %v", err)
		}
	}
	known := false
	for _, p := range LogParsers {
		known = known || l.Parser == p
	}
	if l.Parser != "" && !known {
		fe.Add("parser", "must be one of %s", strings.Join(LogParsers, ", "))
	}
	if l.Parser == "regex" {
		re, err := regexp.Compile(l.Pattern)
		switch {
		case l.Pattern == "":
			fe.Add("pattern", "is required with parser regex")
		case err != nil:
			fe.Add("pattern", "is not a valid regular expression: %v", err)
		case len(re.SubexpNames()) < 2 || strings.Join(re.SubexpNames(), "") == "":
			fe.Add("pattern", "needs at least one named group, (?P<name>...)")
		}
	} else if l.Pattern != "" {
		fe.Add("pattern", "is only used with parser regex")
	}
	if m := l.Multiline; m != nil {
		if m.Start == "" {
			fe.Add("multiline.start", "is required: the expression a first line matches")
		} else if _, err := regexp.Compile(m.Start); err != nil {
			fe.Add("multiline.start", "is not a valid regular expression: %v", err)
		}
		if m.MaxLines < 0 {
			fe.Add("multiline.max_lines", "must not be negative")
		}
		if m.Timeout < 0 {
			fe.Add("multiline.timeout", "must not be negative")
		}
	}
	for k := range l.Fields {
		if k == "" || strings.ContainsAny(k, " :\"") {
			fe.Add("fields."+k, "field names may not be empty or contain spaces, ':' or '\"'")
		}
	}
	return fe
}

// Subscribed reports whether a node (by name and labels) takes something
// with these subscriptions: none means every node; "all"; "entity:<node>";
// the node's role label; or one of its comma-separated `subscriptions`
// label.
func Subscribed(subs []string, node string, labels map[string]string) bool {
	if len(subs) == 0 {
		return true
	}
	for _, sub := range subs {
		switch {
		case sub == "all", sub == "entity:"+node:
			return true
		case labels["role"] != "" && sub == labels["role"]:
			return true
		}
		for _, s := range strings.Split(labels["subscriptions"], ",") {
			if s = strings.TrimSpace(s); s != "" && s == sub {
				return true
			}
		}
	}
	return false
}
