// Package parse turns raw log lines into api.LogEntry values: JSON, the
// nginx/Apache access log, logfmt, syslog (RFC 3164 and 5424), a regular
// expression with named groups, or nothing at all. It also holds the pure
// helpers every log input needs: the line truncation marker, the multiline
// joiner and the RFC 6587 framing of syslog over TCP.
//
// Everything here is pure: no files, sockets or clocks of its own. The agent's
// log inputs (files, syslog, task output) call it; the tail package uses its
// truncation marker.
package parse

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"corral/internal/api"
)

// Parser fills an entry from one line. It sets Message and, when the line
// has them, Fields, Time and Level; it leaves Node, Source, App, Task and
// Stream to the caller, and a zero Time when the line has none (the caller
// then uses the time it received the line). On a parse error the raw line is
// kept as the Message and the error is returned for the caller to count.
// Every Parser is safe for concurrent use and never keeps line.
type Parser interface {
	Parse(line []byte, e *api.LogEntry) error
}

// Options configure a parser made by New.
type Options struct {
	// Pattern is the regular expression of the "regex" parser (RE2 syntax,
	// at least one named group). Groups named message, time or level fill
	// those entry fields; the others become Fields.
	Pattern string
	// Now is the clock syslog's RFC 3164 uses to infer the missing year;
	// time.Now when nil.
	Now func() time.Time
	// Location is the zone of timestamps written without one (RFC 3164,
	// "2006-01-02 15:04:05"); time.Local when nil.
	Location *time.Location
}

// ErrSyntax is wrapped by every error a Parser returns for a line it could
// not parse.
var ErrSyntax = errors.New("log line syntax")

// Builtins are the parsers New knows, by the name a LogInput's parser field
// uses.
func Builtins() map[string]func(Options) (Parser, error) {
	return map[string]func(Options) (Parser, error){
		"json":     func(o Options) (Parser, error) { return JSON{Location: o.location()}, nil },
		"combined": func(o Options) (Parser, error) { return Combined{}, nil },
		"logfmt":   func(o Options) (Parser, error) { return Logfmt{Location: o.location()}, nil },
		"syslog":   func(o Options) (Parser, error) { return Syslog{Now: o.now(), Location: o.location()}, nil },
		"regex":    func(o Options) (Parser, error) { return NewRegex(o.Pattern, o.location()) },
		"none":     func(o Options) (Parser, error) { return None{}, nil },
	}
}

// Names lists the parser names New accepts, sorted.
func Names() []string {
	var names []string
	for n := range Builtins() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New returns the parser called name ("" means none).
func New(name string, opts Options) (Parser, error) {
	if name == "" {
		name = "none"
	}
	mk, ok := Builtins()[name]
	if !ok {
		return nil, fmt.Errorf("unknown log parser %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return mk(opts)
}

func (o Options) now() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

func (o Options) location() *time.Location {
	if o.Location != nil {
		return o.Location
	}
	return time.Local
}

// None keeps the line as the message.
type None struct{}

// Parse sets the message to the line.
func (None) Parse(line []byte, e *api.LogEntry) error {
	e.Message = text(trimEOL(line))
	return nil
}

// text returns b as a string with invalid UTF-8 replaced by U+FFFD.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// validLine returns line with invalid UTF-8 replaced by U+FFFD and the
// same text as a string: parsers slice their fields out of that one string
// (every boundary they cut at is an ASCII byte, so the pieces stay valid).
func validLine(line []byte) ([]byte, string) {
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	return line, string(line)
}

// trimEOL drops one trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// syntaxErr returns an error wrapping ErrSyntax.
func syntaxErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// setField stores v under k, making the map on first use.
func setField(e *api.LogEntry, k, v string) {
	if e.Fields == nil {
		e.Fields = make(map[string]string, 8)
	}
	e.Fields[k] = v
}

// Regex parses lines with a regular expression's named groups.
type Regex struct {
	re       *regexp.Regexp
	names    []string
	location *time.Location
}

// NewRegex compiles pattern, which needs at least one named group.
func NewRegex(pattern string, loc *time.Location) (*Regex, error) {
	if pattern == "" {
		return nil, errors.New("regex parser: pattern is empty")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex parser: %w", err)
	}
	named := 0
	for _, n := range re.SubexpNames() {
		if n != "" {
			named++
		}
	}
	if named == 0 {
		return nil, fmt.Errorf("regex parser: pattern %q has no named group (?P<name>...)", pattern)
	}
	if loc == nil {
		loc = time.Local
	}
	return &Regex{re: re, names: re.SubexpNames(), location: loc}, nil
}

// Parse matches the line; groups named message (or msg), time (or
// timestamp) and level fill those, the other non-empty groups become fields.
// Without a message group the whole line is the message.
func (r *Regex) Parse(line []byte, e *api.LogEntry) error {
	line = trimEOL(line)
	e.Message = text(line)
	m := r.re.FindSubmatchIndex(line)
	if m == nil {
		return syntaxErr("line does not match %s", r.re)
	}
	for i, name := range r.names {
		if name == "" || m[2*i] < 0 {
			continue
		}
		v := text(line[m[2*i]:m[2*i+1]])
		switch name {
		case "message", "msg":
			e.Message = v
			continue
		case "time", "timestamp":
			if t, ok := parseTime(v, r.location); ok {
				e.Time = t
				continue
			}
		case "level", "severity":
			if l := Level(v); l != "" {
				e.Level = l
				continue
			}
		}
		if v != "" {
			setField(e, name, v)
		}
	}
	return nil
}
