package parse

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"corral/internal/api"
)

// JSON parses one JSON object per line (Logstash json_lines, Docker's
// json-file, logstash-logback-encoder, lograge, bunyan, zap, slog). Nested
// objects are flattened to "a.b" fields, arrays kept as compact JSON text,
// numbers as written (integers in exponent form are written out in full),
// null dropped. The message is the first of message, msg and log that is
// present, else the whole line; the time the first of @timestamp, time, ts
// and timestamp that parses (RFC 3339 and variants, unix s/ms/µs/ns); the
// level the first of level, lvl, severity, log.level and levelname that is a
// known level. Keys used for them are not repeated in Fields.
type JSON struct {
	// Location is the zone of timestamps written without one.
	Location *time.Location
}

var (
	jsonMessageKeys = []string{"message", "msg", "log"}
	jsonTimeKeys    = []string{"@timestamp", "time", "ts", "timestamp"}
	jsonLevelKeys   = []string{"level", "lvl", "severity", "log.level", "levelname"}
)

// Parse implements Parser.
func (p JSON) Parse(line []byte, e *api.LogEntry) error {
	line = bytes.Trim(line, " \t\r\n")
	if len(line) == 0 || line[0] != '{' {
		e.Message = text(line)
		return syntaxErr("not a JSON object")
	}
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	// Keys and values are substrings of one copy of the line.
	w := jsonWalker{b: line, s: string(line), fields: make(map[string]string, 16)}
	if end := jsonSpace(line, w.object(0, "", true)); w.err == nil && end != len(line) {
		w.fail(end, "text after the object")
	}
	if w.err != nil {
		e.Message = w.s
		return w.err
	}
	fields := w.fields
	e.Message = ""
	found := false
	for _, k := range jsonMessageKeys {
		if v, ok := fields[k]; ok {
			e.Message = strings.TrimRight(v, "\r\n")
			delete(fields, k)
			found = true
			break
		}
	}
	if !found {
		e.Message = w.s
	}
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	for _, k := range jsonTimeKeys {
		if v, ok := fields[k]; ok {
			if t, ok := parseTime(v, loc); ok {
				e.Time = t
				delete(fields, k)
				break
			}
		}
	}
	for _, k := range jsonLevelKeys {
		if v, ok := fields[k]; ok {
			if l := Level(v); l != "" {
				e.Level = l
				delete(fields, k)
				break
			}
		}
	}
	if len(fields) > 0 {
		if e.Fields == nil {
			e.Fields = fields
		} else {
			for k, v := range fields {
				e.Fields[k] = v
			}
		}
	}
	return nil
}

// jsonSpace skips whitespace from i.
func jsonSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonMaxDepth bounds nesting, as encoding/json does, so that hostile input
// cannot recurse deeply.
const jsonMaxDepth = 1000

// jsonWalker validates and flattens one JSON object in a single pass; its
// text is both b and s, and keys and values are substrings of s.
type jsonWalker struct {
	b      []byte
	s      string
	fields map[string]string
	depth  int
	err    error
}

// fail records the first error and returns an index that ends every loop.
func (w *jsonWalker) fail(i int, what string) int {
	if w.err == nil {
		w.err = syntaxErr("JSON: %s at byte %d", what, i)
	}
	return len(w.b)
}

// object reads the object at b[i] == '{', storing its members under prefix
// when store is set, and returns the index after it.
func (w *jsonWalker) object(i int, prefix string, store bool) int {
	b := w.b
	if w.depth++; w.depth > jsonMaxDepth {
		return w.fail(i, "nesting too deep")
	}
	defer func() { w.depth-- }()
	i = jsonSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for w.err == nil {
		if i >= len(b) || b[i] != '"' {
			return w.fail(i, "expected a key")
		}
		var key string
		key, i = w.str(i)
		if prefix != "" && store {
			key = prefix + "." + key
		}
		i = jsonSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return w.fail(i, "expected ':'")
		}
		i = jsonSpace(b, w.value(jsonSpace(b, i+1), key, store))
		switch {
		case i >= len(b):
			return w.fail(i, "unterminated object")
		case b[i] == '}':
			return i + 1
		case b[i] != ',':
			return w.fail(i, "expected ',' or '}'")
		}
		i = jsonSpace(b, i+1)
	}
	return len(b)
}

// array reads the array at b[i] == '[' and returns the index after it.
func (w *jsonWalker) array(i int) int {
	b := w.b
	if w.depth++; w.depth > jsonMaxDepth {
		return w.fail(i, "nesting too deep")
	}
	defer func() { w.depth-- }()
	i = jsonSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for w.err == nil {
		i = jsonSpace(b, w.value(i, "", false))
		switch {
		case i >= len(b):
			return w.fail(i, "unterminated array")
		case b[i] == ']':
			return i + 1
		case b[i] != ',':
			return w.fail(i, "expected ',' or ']'")
		}
		i = jsonSpace(b, i+1)
	}
	return len(b)
}

// value reads the value at b[i], stores it under key when store is set, and
// returns the index after it. Arrays are stored as compact JSON text.
func (w *jsonWalker) value(i int, key string, store bool) int {
	b := w.b
	if i >= len(b) {
		return w.fail(i, "expected a value")
	}
	var v string
	end := i
	switch c := b[i]; {
	case c == '{':
		return w.object(i, key, store)
	case c == '[':
		end = w.array(i)
		if !store || w.err != nil {
			return end
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b[i:end]); err == nil && buf.Len() < end-i {
			v = buf.String()
		} else {
			v = w.s[i:end]
		}
	case c == '"':
		v, end = w.str(i)
	case c == 'n':
		if !bytes.HasPrefix(b[i:], []byte("null")) {
			return w.fail(i, "bad literal")
		}
		return i + 4
	case c == 't':
		if !bytes.HasPrefix(b[i:], []byte("true")) {
			return w.fail(i, "bad literal")
		}
		v, end = "true", i+4
	case c == 'f':
		if !bytes.HasPrefix(b[i:], []byte("false")) {
			return w.fail(i, "bad literal")
		}
		v, end = "false", i+5
	default:
		end = jsonNumberEnd(b, i)
		if end < 0 {
			return w.fail(i, "bad number")
		}
		if store {
			v = jsonNumber(w.s[i:end])
		}
	}
	if store && w.err == nil {
		w.fields[key] = v
	}
	return end
}

// jsonNumberEnd returns the index after the number at b[i], -1 when there
// is no valid number there:  -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumberEnd(b []byte, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// jsonNumber formats a JSON number: as written, except that an integral
// value written with an exponent is written out ("1e3" is "1000").
func jsonNumber(n string) string {
	if strings.IndexAny(n, "eE") < 0 {
		return n
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || f != float64(int64(f)) || f > 1e21 || f < -1e21 {
		return n
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// str reads the string at b[i] == '"' and returns it decoded and the index
// after its closing quote.
func (w *jsonWalker) str(i int) (string, int) {
	b := w.b
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !escaped {
				return w.s[i+1 : j], j + 1
			}
			var s string
			if err := json.Unmarshal(b[i:j+1], &s); err != nil {
				return "", w.fail(i, "bad string")
			}
			return s, j + 1
		case c == '\\':
			escaped = true
			j++
			if j >= len(b) {
				break
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return "", w.fail(j, "bad \\u escape")
				}
				for _, h := range b[j+1 : j+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return "", w.fail(j, "bad \\u escape")
					}
				}
				j += 4
			default:
				return "", w.fail(j, "bad escape")
			}
		case c < 0x20:
			return "", w.fail(j, "control character in string")
		}
	}
	return "", w.fail(len(b), "unterminated string")
}
