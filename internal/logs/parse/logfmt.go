package parse

import (
	"time"

	"corral/internal/api"
)

// Logfmt parses key=value lines (Heroku's router, Go's log/slog text
// handler, logrus):
//
//	at=info method=GET path="/" host=app.example.com status=200 service=12ms
//
// Values may be quoted with Go-style escapes (\" \\ \n \t); a bare key is
// "true". The message is msg or message (else the whole line), the time
// time, ts or t, the level level, lvl or at when they hold a known level.
type Logfmt struct {
	// Location is the zone of timestamps written without one.
	Location *time.Location
}

var (
	logfmtMessageKeys = []string{"msg", "message"}
	logfmtTimeKeys    = []string{"time", "ts", "t", "timestamp"}
	logfmtLevelKeys   = []string{"level", "lvl", "severity", "at"}
)

// Parse implements Parser.
func (p Logfmt) Parse(line []byte, e *api.LogEntry) error {
	line, str := validLine(trimEOL(line))
	e.Message = str
	fields := make(map[string]string, 8)
	pairs := 0
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			break
		}
		start := i
		for i < len(line) && line[i] > ' ' && line[i] != '=' && line[i] != '"' {
			i++
		}
		key := str[start:i]
		if key == "" {
			return syntaxErr("logfmt: expected a key at byte %d", i)
		}
		if i >= len(line) || line[i] != '=' {
			if i < len(line) && line[i] == '"' {
				return syntaxErr("logfmt: quote in key at byte %d", i)
			}
			fields[key] = "true"
			continue
		}
		i++ // '='
		pairs++
		if i < len(line) && line[i] == '"' {
			v, end, ok := logfmtQuoted(line, str, i)
			if !ok {
				return syntaxErr("logfmt: unterminated quote at byte %d", i)
			}
			fields[key] = v
			i = end
			continue
		}
		start = i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		fields[key] = str[start:i]
	}
	if pairs == 0 {
		return syntaxErr("logfmt: no key=value pair")
	}
	for _, k := range logfmtMessageKeys {
		if v, ok := fields[k]; ok {
			e.Message = v
			delete(fields, k)
			break
		}
	}
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	for _, k := range logfmtTimeKeys {
		if t, ok := parseTime(fields[k], loc); ok {
			e.Time = t
			delete(fields, k)
			break
		}
	}
	for _, k := range logfmtLevelKeys {
		if l := Level(fields[k]); l != "" {
			e.Level = l
			delete(fields, k)
			break
		}
	}
	if e.Fields == nil {
		e.Fields = fields
	} else {
		for k, v := range fields {
			e.Fields[k] = v
		}
	}
	return nil
}

// logfmtQuoted reads the quoted value at b[i] == '"' and returns it with
// escapes undone and the index after the closing quote.
func logfmtQuoted(b []byte, s string, i int) (string, int, bool) {
	var sb []byte
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; c {
		case '"':
			if !escaped {
				return s[i+1 : j], j + 1, true
			}
			return string(sb), j + 1, true
		case '\\':
			if !escaped {
				sb = append(sb, b[i+1:j]...)
				escaped = true
			}
			j++
			if j >= len(b) {
				return "", 0, false
			}
			switch b[j] {
			case 'n':
				sb = append(sb, '\n')
			case 't':
				sb = append(sb, '\t')
			case 'r':
				sb = append(sb, '\r')
			default:
				sb = append(sb, b[j])
			}
		default:
			if escaped {
				sb = append(sb, c)
			}
		}
	}
	return "", 0, false
}
