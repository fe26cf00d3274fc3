package parse

import (
	"bytes"
	"strconv"
	"time"

	"corral/internal/api"
)

// Syslog parses syslog messages as they arrive on the wire and as rsyslog
// writes them to files:
//
//	<165>1 2003-10-11T22:14:15.003Z host app 123 ID47 [id@1 k="v"] msg   RFC 5424
//	<34>Oct 11 22:14:15 mymachine su[123]: msg                          RFC 3164
//	Oct 11 22:14:15 mymachine su[123]: msg                              rsyslog's traditional file format
//	2024-03-01T12:00:00.123456+01:00 mymachine su[123]: msg             rsyslog's high-precision file format
//
// Fields: host, app_name, procid, msgid, facility (its name, when the line
// has a PRI) and RFC 5424 structured data as sd.<id>.<param>. The level is
// the PRI's severity. RFC 3164 has no year: it is the one that puts the
// time closest before Now (a line up to a week in Now's future counts as
// this year, to allow for clock skew).
type Syslog struct {
	Now      func() time.Time
	Location *time.Location
}

// facilities are the syslog facility names by code (RFC 5424 table 1, with
// rsyslog's names).
var facilities = [24]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// Parse implements Parser. On an error only the Message (the raw line) is
// set.
func (p Syslog) Parse(line []byte, e *api.LogEntry) error {
	err := p.parse(trimEOL(line), e)
	if err != nil {
		e.Time, e.Level, e.Fields = time.Time{}, "", nil
		e.Message = text(trimEOL(line))
	}
	return err
}

func (p Syslog) parse(line []byte, e *api.LogEntry) error {
	e.Message = text(line)
	rest := line
	pri := -1
	if len(rest) > 0 && rest[0] == '<' {
		end := bytes.IndexByte(rest, '>')
		if end < 2 || end > 4 {
			return syntaxErr("syslog: bad PRI")
		}
		n, err := strconv.Atoi(string(rest[1:end]))
		if err != nil || n < 0 || n > 191 || !allDigits(string(rest[1:end])) {
			return syntaxErr("syslog: bad PRI %q", rest[1:end])
		}
		pri = n
		rest = rest[end+1:]
		if len(rest) >= 2 && rest[0] == '1' && rest[1] == ' ' {
			return p.parse5424(rest[2:], pri, e)
		}
	}
	return p.parse3164(rest, pri, e)
}

// setPRI stores what the PRI says.
func setPRI(e *api.LogEntry, pri int) {
	if pri < 0 {
		return
	}
	e.Level = levels[pri&7]
	setField(e, "facility", facilities[pri>>3])
}

// parse5424 reads the part after "<PRI>1 ".
func (p Syslog) parse5424(b []byte, pri int, e *api.LogEntry) error {
	var tok [5][]byte // timestamp, host, app, procid, msgid
	for i := range tok {
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			if i < len(tok)-1 {
				return syntaxErr("syslog 5424: header ends early")
			}
			sp = len(b)
		}
		tok[i] = b[:sp]
		if sp < len(b) {
			b = b[sp+1:]
		} else {
			b = nil
		}
	}
	if ts := tok[0]; string(ts) != "-" {
		t, err := time.Parse(time.RFC3339Nano, string(ts))
		if err != nil {
			return syntaxErr("syslog 5424: timestamp %q", ts)
		}
		e.Time = t
	}
	setPRI(e, pri)
	for i, name := range [...]string{"", "host", "app_name", "procid", "msgid"} {
		if i > 0 && string(tok[i]) != "-" && len(tok[i]) > 0 {
			setField(e, name, text(tok[i]))
		}
	}
	// STRUCTURED-DATA: "-" or one or more [id k="v" ...].
	switch {
	case len(b) == 0:
	case b[0] == '-':
		b = b[1:]
	case b[0] == '[':
		for len(b) > 0 && b[0] == '[' {
			n, err := parseSDElement(b, e)
			if err != nil {
				return err
			}
			b = b[n:]
		}
	default:
		return syntaxErr("syslog 5424: structured data")
	}
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	e.Message = text(b)
	return nil
}

// parseSDElement reads one [id k="v"...] into sd.id.k fields and returns
// its length.
func parseSDElement(b []byte, e *api.LogEntry) (int, error) {
	i := 1
	start := i
	for i < len(b) && b[i] != ' ' && b[i] != ']' {
		i++
	}
	id := text(b[start:i])
	if id == "" || i >= len(b) {
		return 0, syntaxErr("syslog 5424: SD-ID")
	}
	for {
		if i >= len(b) {
			return 0, syntaxErr("syslog 5424: unterminated structured data")
		}
		if b[i] == ']' {
			return i + 1, nil
		}
		i++ // ' '
		start = i
		for i < len(b) && b[i] != '=' && b[i] != ' ' && b[i] != ']' {
			i++
		}
		name := text(b[start:i])
		if i+1 >= len(b) || b[i] != '=' || b[i+1] != '"' || name == "" {
			return 0, syntaxErr("syslog 5424: SD-PARAM in [%s]", id)
		}
		i += 2
		var v []byte
		for ; i < len(b) && b[i] != '"'; i++ {
			if b[i] == '\\' && i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\' || b[i+1] == ']') {
				i++
			}
			v = append(v, b[i])
		}
		if i >= len(b) {
			return 0, syntaxErr("syslog 5424: unterminated PARAM-VALUE in [%s]", id)
		}
		i++ // closing quote
		setField(e, "sd."+id+"."+name, text(v))
	}
}

// parse3164 reads the part after an optional PRI: a timestamp, a host, an
// optional tag and the message.
func (p Syslog) parse3164(b []byte, pri int, e *api.LogEntry) error {
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	var t time.Time
	switch {
	case len(b) >= 16 && b[3] == ' ' && b[15] == ' ':
		ts, err := time.ParseInLocation(time.Stamp, string(b[:15]), loc)
		if err != nil {
			if pri < 0 {
				return syntaxErr("syslog: timestamp %q", b[:15])
			}
			break // a PRI and a message without a timestamp
		}
		t = p.withYear(ts, loc)
		b = b[16:]
	case len(b) > 0 && b[0] >= '0' && b[0] <= '9':
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			sp = len(b)
		}
		ts, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
		if err != nil {
			if pri < 0 {
				return syntaxErr("syslog: timestamp %q", b[:sp])
			}
			break
		}
		t = ts
		b = b[min(sp+1, len(b)):]
	default:
		if pri < 0 {
			return syntaxErr("syslog: no PRI and no timestamp")
		}
	}
	e.Time = t
	setPRI(e, pri)
	if t.IsZero() {
		e.Message = text(b)
		return nil
	}
	// HOSTNAME, unless the word is already the tag ("su[1]:" or "su:").
	word := b
	if sp := bytes.IndexByte(b, ' '); sp >= 0 {
		word = b[:sp]
	}
	if len(word) > 0 && word[len(word)-1] != ':' && bytes.IndexByte(word, '[') < 0 {
		setField(e, "host", text(word))
		b = b[len(word):]
		if len(b) > 0 {
			b = b[1:]
		}
	}
	// TAG: up to 48 characters of [A-Za-z0-9_./-] then "[pid]:" or ":".
	i := 0
	for i < len(b) && i <= 48 && b[i] != '[' && b[i] != ':' && b[i] != ' ' {
		i++
	}
	if i > 0 && i < len(b) {
		app := b[:i]
		switch b[i] {
		case ':':
			setField(e, "app_name", text(app))
			b = b[i+1:]
		case '[':
			end := bytes.IndexByte(b[i:], ']')
			if end > 1 && i+end+1 < len(b) && b[i+end+1] == ':' {
				setField(e, "app_name", text(app))
				setField(e, "procid", text(b[i+1:i+end]))
				b = b[i+end+2:]
			}
		}
	}
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	e.Message = text(b)
	return nil
}

// withYear gives a year-less RFC 3164 time the year that puts it closest
// before now (up to a week after now counts as now's year).
func (p Syslog) withYear(ts time.Time, loc *time.Location) time.Time {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	now = now.In(loc)
	t := time.Date(now.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond(), loc)
	if t.After(now.Add(7 * 24 * time.Hour)) {
		t = time.Date(now.Year()-1, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond(), loc)
	}
	return t
}
