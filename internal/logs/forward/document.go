package forward

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"corral/internal/api"
)

// The document of an entry, as Elasticsearch and Logstash get it, is one
// flat JSON object:
//
//	{"@timestamp":"2026-11-25T18:00:00.123456789Z","message":"GET /a","node":"web1",
//	 "source":"task","app":"shop/api","task":"shop-api.1","stream":"stdout",
//	 "level":"info","http.status":"500","path":"/a"}
//
// Parsed fields are written with flat dotted keys ("http.status"), not as
// nested objects: Corral's fields are already flat (a parser flattens nested
// JSON to "a.b"), Elasticsearch and OpenSearch expand dotted keys into the
// same object mapping a nested document gets, and Logstash keeps them as they
// are. Rebuilding the nesting would only add a second place where the
// conflicts below must be solved. Values stay strings, as Corral keeps them.
//
// Two kinds of key would make Elasticsearch reject the document, so they are
// renamed:
//   - a parsed field named like a built-in one, or under it ("message",
//     "node.id"), is written under "fields." ("fields.message");
//   - a key that is also the object of another key ("a" next to "a.b") is
//     written as "a._value".
//
// Keys with an empty dotted segment ("a..b", ".a") get their dots replaced
// by '_'.

// docReserved are the top-level keys a document's built-in fields use.
var docReserved = [...]string{"@timestamp", "message", "node", "source", "app", "task", "stream", "level"}

// kv is one parsed field with its document key.
type kv struct{ k, v string }

// docFields returns the parsed fields of e with their document keys, sorted
// by key. buf is reused.
func docFields(e *api.LogEntry, buf []kv) []kv {
	buf = buf[:0]
	dotted := false
	for k, v := range e.Fields {
		if k == "" {
			continue
		}
		key := k
		if k[0] == '.' || k[len(k)-1] == '.' || strings.Contains(k, "..") {
			key = strings.ReplaceAll(k, ".", "_")
		}
		head, _, _ := strings.Cut(key, ".")
		if slices.Contains(docReserved[:], head) {
			key = "fields." + key
		}
		dotted = dotted || strings.IndexByte(key, '.') >= 0
		buf = append(buf, kv{key, v})
	}
	slices.SortFunc(buf, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	if !dotted {
		return buf
	}
	objects := make(map[string]bool)
	for _, f := range buf {
		for i := 0; i < len(f.k); i++ {
			if f.k[i] == '.' {
				objects[f.k[:i]] = true
			}
		}
	}
	for i, f := range buf {
		if objects[f.k] {
			buf[i].k = f.k + "._value"
		}
	}
	slices.SortFunc(buf, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	return buf
}

// appendDoc appends the document of e (see above).
func appendDoc(b []byte, e *api.LogEntry, scratch *[]kv) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","message":`...)
	b = appendJSONString(b, e.Message)
	for _, f := range [...]struct{ k, v string }{
		{"node", e.Node}, {"source", e.Source}, {"app", e.App}, {"task", e.Task}, {"stream", e.Stream}, {"level", e.Level},
	} {
		if f.v != "" {
			b = append(b, ',', '"')
			b = append(b, f.k...)
			b = append(b, '"', ':')
			b = appendJSONString(b, f.v)
		}
	}
	*scratch = docFields(e, *scratch)
	for _, f := range *scratch {
		b = append(b, ',')
		b = appendJSONString(b, f.k)
		b = append(b, ':')
		b = appendJSONString(b, f.v)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// indexName formats an index pattern for t in UTC: %Y, %m, %d and %H are
// replaced and %% is a '%'.
func indexName(pattern string, t time.Time) string {
	if strings.IndexByte(pattern, '%') < 0 {
		return pattern
	}
	t = t.UTC()
	b := make([]byte, 0, len(pattern)+8)
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 >= len(pattern) {
			b = append(b, c)
			continue
		}
		i++
		switch pattern[i] {
		case 'Y':
			b = strconv.AppendInt(b, int64(t.Year()), 10)
		case 'm':
			b = append2(b, int(t.Month()))
		case 'd':
			b = append2(b, t.Day())
		case 'H':
			b = append2(b, t.Hour())
		case '%':
			b = append(b, '%')
		default:
			b = append(b, '%', pattern[i])
		}
	}
	return string(b)
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// appendLogfmt appends " key=value", quoting the value when it is empty or
// has a space, '=', '"' or a control character, and replacing such
// characters in the key by '_'.
func appendLogfmt(b []byte, k, v string) []byte {
	b = append(b, ' ')
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c == '=' || c == '"' || c == 0x7f {
			c = '_'
		}
		b = append(b, c)
	}
	b = append(b, '=')
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '=' || r == '"' || r == 0x7f }) {
		return strconv.AppendQuote(b, v)
	}
	return append(b, v...)
}
