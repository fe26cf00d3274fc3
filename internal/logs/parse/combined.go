package parse

import (
	"bytes"
	"strings"
	"time"

	"corral/internal/api"
)

// Combined parses the nginx/Apache access log: the common format
//
//	127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326
//
// and the combined one, which adds "$http_referer" "$http_user_agent", with
// what nginx configurations commonly append: a quoted X-Forwarded-For (the
// "main" format), a bare request time ("0.123") and key=value pairs
// (rt=0.123 uct="0.000"). Fields: client_ip, user, method, path, protocol,
// status, bytes, referrer, user_agent, x_forwarded_for, request_time and the
// trailing keys; "-" values are left out. The message is the whole line, the
// time the bracketed one.
type Combined struct{}

// Parse implements Parser.
func (Combined) Parse(line []byte, e *api.LogEntry) error {
	line, str := validLine(trimEOL(line))
	e.Message = str
	r := accessReader{b: line, s: str}
	ip := r.word()
	_ = r.word() // ident, "-" in practice
	user := r.word()
	if ip == "" || user == "" {
		return syntaxErr("access log: missing client address or user")
	}
	ts, ok := r.bracketed()
	if !ok {
		return syntaxErr("access log: missing [time]")
	}
	t, err := time.Parse("02/Jan/2006:15:04:05 -0700", ts)
	if err != nil {
		return syntaxErr("access log: time %q: %v", ts, err)
	}
	req, ok := r.quoted()
	if !ok {
		return syntaxErr("access log: missing \"request\"")
	}
	status := r.word()
	if len(status) != 3 || !allDigits(status) {
		return syntaxErr("access log: status %q", status)
	}
	size := r.word()
	if size != "-" && !allDigits(size) {
		return syntaxErr("access log: bytes %q", size)
	}
	if e.Fields == nil {
		e.Fields = make(map[string]string, 12)
	}
	f := e.Fields
	e.Time = t
	f["client_ip"] = ip
	if user != "-" {
		f["user"] = user
	}
	if m, rest, ok := strings.Cut(req, " "); ok {
		f["method"] = m
		if i := strings.LastIndexByte(rest, ' '); i >= 0 {
			f["path"] = rest[:i] // a path with a space (a bad request) stays whole
			f["protocol"] = rest[i+1:]
		} else {
			f["path"] = rest
		}
	} else if req != "-" && req != "" {
		f["request"] = req
	}
	f["status"] = status
	if size == "-" {
		size = "0"
	}
	f["bytes"] = size
	quotedNames := []string{"referrer", "user_agent", "x_forwarded_for"}
	for {
		r.space()
		if r.done() {
			break
		}
		if r.peek() == '"' {
			v, ok := r.quoted()
			if !ok {
				return syntaxErr("access log: unterminated quote")
			}
			if len(quotedNames) > 0 {
				if v != "-" && v != "" {
					f[quotedNames[0]] = v
				}
				quotedNames = quotedNames[1:]
			}
			continue
		}
		quotedNames = nil
		w := r.word()
		if k, v, ok := strings.Cut(w, "="); ok && k != "" {
			if strings.HasPrefix(v, `"`) {
				r.i -= len(w) - len(k) - 1 // re-read the quoted value
				v, _ = r.quoted()
			}
			if k == "rt" {
				k = "request_time"
			}
			if v != "-" && v != "" {
				f[k] = v
			}
		} else if isDecimal(w) {
			f["request_time"] = w
		}
	}
	return nil
}

// accessReader walks an access log line.
type accessReader struct {
	b []byte
	s string // b as a string
	i int
}

func (r *accessReader) done() bool { return r.i >= len(r.b) }
func (r *accessReader) peek() byte { return r.b[r.i] }

func (r *accessReader) space() {
	for r.i < len(r.b) && r.b[r.i] == ' ' {
		r.i++
	}
}

// word returns the next space-separated word.
func (r *accessReader) word() string {
	r.space()
	start := r.i
	for r.i < len(r.b) && r.b[r.i] != ' ' {
		r.i++
	}
	return r.s[start:r.i]
}

// bracketed returns the text in the next [...].
func (r *accessReader) bracketed() (string, bool) {
	r.space()
	if r.i >= len(r.b) || r.b[r.i] != '[' {
		return "", false
	}
	end := bytes.IndexByte(r.b[r.i:], ']')
	if end < 0 {
		return "", false
	}
	s := r.s[r.i+1 : r.i+end]
	r.i += end + 1
	return s, true
}

// quoted returns the next "..." with Apache's \" and \\ escapes undone;
// nginx's \xNN escapes are kept as written.
func (r *accessReader) quoted() (string, bool) {
	r.space()
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return "", false
	}
	start := r.i + 1
	escaped := false
	for j := start; j < len(r.b); j++ {
		switch r.b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			r.i = j + 1
			s := r.s[start:j]
			if !escaped {
				return s, true
			}
			return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s), true
		}
	}
	return "", false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDecimal reports whether s is digits with at most one '.'.
func isDecimal(s string) bool {
	intPart, frac, _ := strings.Cut(s, ".")
	return allDigits(intPart) && (frac == "" && !strings.HasSuffix(s, ".") || allDigits(frac))
}
