package forward

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"corral/internal/api"
)

// A spool record of a Forwarder is a JSON array of entries, each a flat
// array: the time in Unix nanoseconds, then node, source, app, task,
// stream, level and message, then the parsed fields as name, value pairs:
//
//	[[1764093600123456789,"web1","task","shop/api","","stdout","info","GET /a","status","500"]]
//
// It is JSON because the spool takes only JSON; it is not api.LogEntry's
// JSON because decoding that with encoding/json cost the sender more time
// than everything else it does (about 8 µs an entry), and this format is
// read by the hand-written decoder below in a fraction of it.

// recordType is the spool record type of such a list.
const recordType = "entries"

// minTime and maxTime bound the times a record holds (int64 nanoseconds).
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// errTimeRange says an entry's time does not fit the record.
var errTimeRange = errors.New("time outside the years 1678-2262")

// appendEntry appends the record form of e.
func appendEntry(b []byte, e *api.LogEntry) ([]byte, error) {
	if e.Time.Before(minTime) || e.Time.After(maxTime) {
		return b, errTimeRange
	}
	b = append(b, '[')
	b = strconv.AppendInt(b, e.Time.UnixNano(), 10)
	for _, s := range [...]string{e.Node, e.Source, e.App, e.Task, e.Stream, e.Level, e.Message} {
		b = append(b, ',')
		b = appendJSONString(b, s)
	}
	for k, v := range e.Fields {
		b = append(b, ',')
		b = appendJSONString(b, k)
		b = append(b, ',')
		b = appendJSONString(b, v)
	}
	return append(b, ']'), nil
}

// errRecord says a record is not in the format above.
var errRecord = errors.New("malformed entries record")

// decodeEntries reads a record. Strings equal to the same field of the
// entry before share its memory.
func decodeEntries(data []byte) ([]api.LogEntry, error) {
	d := entryDecoder{b: data}
	if !d.byte('[') {
		return nil, errRecord
	}
	var out []api.LogEntry
	if d.byte(']') {
		return out, d.end()
	}
	for {
		var e api.LogEntry
		var prev *api.LogEntry
		if len(out) > 0 {
			prev = &out[len(out)-1]
		}
		if err := d.entry(&e, prev); err != nil {
			return nil, err
		}
		out = append(out, e)
		if d.byte(']') {
			if err := d.end(); err != nil {
				return nil, err
			}
			return out, nil
		}
		if !d.byte(',') {
			return nil, errRecord
		}
	}
}

type entryDecoder struct {
	b   []byte
	i   int
	buf []byte
}

func (d *entryDecoder) space() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\n' || d.b[d.i] == '\r' || d.b[d.i] == '\t') {
		d.i++
	}
}

// byte consumes c (after white space) if it comes next.
func (d *entryDecoder) byte(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *entryDecoder) end() error {
	d.space()
	if d.i != len(d.b) {
		return errRecord
	}
	return nil
}

func (d *entryDecoder) entry(e *api.LogEntry, prev *api.LogEntry) error {
	if !d.byte('[') {
		return errRecord
	}
	d.space()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	ns, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		return errRecord
	}
	e.Time = time.Unix(0, ns).UTC()
	var zero api.LogEntry
	if prev == nil {
		prev = &zero
	}
	for _, f := range [...]struct{ dst, prev *string }{
		{&e.Node, &prev.Node}, {&e.Source, &prev.Source}, {&e.App, &prev.App}, {&e.Task, &prev.Task},
		{&e.Stream, &prev.Stream}, {&e.Level, &prev.Level}, {&e.Message, nil},
	} {
		if !d.byte(',') {
			return errRecord
		}
		raw, ok := d.str()
		if !ok {
			return errRecord
		}
		if f.prev != nil && string(raw) == *f.prev {
			*f.dst = *f.prev
		} else {
			*f.dst = string(raw)
		}
	}
	for !d.byte(']') {
		if !d.byte(',') {
			return errRecord
		}
		k, ok := d.str()
		if !ok || !d.byte(',') {
			return errRecord
		}
		key := string(k)
		v, ok := d.str()
		if !ok {
			return errRecord
		}
		if e.Fields == nil {
			e.Fields = make(map[string]string, 4)
		}
		e.Fields[key] = string(v)
	}
	return nil
}

// str reads a JSON string and returns its bytes, valid until the next call.
func (d *entryDecoder) str() ([]byte, bool) {
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	d.i++
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// escaped reads the rest of a string with escapes, from its start.
func (d *entryDecoder) escaped(start int) ([]byte, bool) {
	d.buf = append(d.buf[:0], d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.buf, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			d.buf = append(d.buf, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return nil, false
		}
		esc := d.b[d.i+1]
		d.i += 2
		switch esc {
		case '"', '\\', '/':
			d.buf = append(d.buf, esc)
		case 'b':
			d.buf = append(d.buf, '\b')
		case 'f':
			d.buf = append(d.buf, '\f')
		case 'n':
			d.buf = append(d.buf, '\n')
		case 'r':
			d.buf = append(d.buf, '\r')
		case 't':
			d.buf = append(d.buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					if r2, ok = d.hex4(); !ok {
						return nil, false
					}
					if utf16.DecodeRune(r, r2) == utf8.RuneError {
						d.i, r2 = save, -1
					}
				}
				r = utf16.DecodeRune(r, r2) // U+FFFD for a lone surrogate
			}
			d.buf = utf8.AppendRune(d.buf, r)
		default:
			return nil, false
		}
	}
	return nil, false
}

func (d *entryDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}
