package forward

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"corral/internal/api"
	"corral/internal/logs/query"
)

// lokiEncoder writes Loki push API v1 bodies:
//
//	{"streams":[{"stream":{"app":"shop/api","node":"web1"},
//	             "values":[["1764093600000000000","GET /a status=500"]]}]}
//
// The spec's label fields (built-in or parsed) of an entry make its stream;
// label names are made Loki-safe ([a-zA-Z_][a-zA-Z0-9_]*, other characters
// become '_'), empty values are left out, and an entry with no label at all
// gets job="corral" (Loki refuses a stream without labels). Streams are
// written in the order of their labels, and the values of a stream by time
// (stable), as Loki wants them.
//
// The line is the message, then every other non-empty field that is not a
// label as logfmt (" task=shop-api.1 status=500"): LogQL's `| logfmt`
// extracts them, and the line stays readable in Grafana. Built-in fields
// come first in the order node, source, app, task, stream, level, then
// parsed fields sorted by name (one named like a built-in field is written
// as fields.<name>). Loki's structured metadata would keep them
// apart, but only Loki 3 with it turned on accepts it.
type lokiEncoder struct {
	fields []string // the entry fields that are labels
	names  []string // their label names
	key    []byte
	line   []byte
	sorted []string
}

// fallbackLabel is the label of an entry that has none of the label fields.
const fallbackLabel = `"job":"corral"`

func newLokiEncoder(labels []string) *lokiEncoder {
	if len(labels) == 0 {
		labels = api.DefaultLokiLabels
	}
	c := &lokiEncoder{fields: labels}
	for _, l := range labels {
		c.names = append(c.names, lokiLabelName(l))
	}
	return c
}

// lokiLabelName makes a field name a valid Loki label name.
func lokiLabelName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

type lokiStream struct {
	labels  string // the JSON object's members, sorted by name
	entries []int  // indices into the batch
}

// encode appends the push body of entries to b.
func (c *lokiEncoder) encode(b []byte, entries []api.LogEntry) []byte {
	streams := map[string]*lokiStream{}
	var order []*lokiStream
	type pair struct{ name, value string }
	pairs := make([]pair, 0, len(c.fields))
	for i := range entries {
		pairs = pairs[:0]
		for j, f := range c.fields {
			if v, ok := query.FieldValue(&entries[i], f); ok && v != "" && f != "message" && f != "time" {
				pairs = append(pairs, pair{c.names[j], v})
			}
		}
		slices.SortStableFunc(pairs, func(a, b pair) int { return strings.Compare(a.name, b.name) })
		c.key = c.key[:0]
		for j, p := range pairs {
			if j > 0 && pairs[j-1].name == p.name {
				continue // two fields with one label name: the first wins
			}
			if len(c.key) > 0 {
				c.key = append(c.key, ',')
			}
			c.key = appendJSONString(c.key, p.name)
			c.key = append(c.key, ':')
			c.key = appendJSONString(c.key, p.value)
		}
		if len(c.key) == 0 {
			c.key = append(c.key, fallbackLabel...)
		}
		s := streams[string(c.key)]
		if s == nil {
			s = &lokiStream{labels: string(c.key)}
			streams[s.labels] = s
			order = append(order, s)
		}
		s.entries = append(s.entries, i)
	}
	slices.SortFunc(order, func(a, b *lokiStream) int { return strings.Compare(a.labels, b.labels) })
	b = append(b, `{"streams":[`...)
	for si, s := range order {
		if si > 0 {
			b = append(b, ',')
		}
		slices.SortStableFunc(s.entries, func(x, y int) int {
			return cmp.Compare(entries[x].Time.UnixNano(), entries[y].Time.UnixNano())
		})
		b = append(b, `{"stream":{`...)
		b = append(b, s.labels...)
		b = append(b, `},"values":[`...)
		for vi, i := range s.entries {
			if vi > 0 {
				b = append(b, ',')
			}
			b = append(b, `["`...)
			b = strconv.AppendInt(b, entries[i].Time.UnixNano(), 10)
			b = append(b, `",`...)
			c.line = c.appendLine(c.line[:0], &entries[i])
			b = appendJSONString(b, string(c.line))
			b = append(b, ']')
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...)
}

// appendLine appends the line of e: its message and its other fields as
// logfmt.
func (c *lokiEncoder) appendLine(b []byte, e *api.LogEntry) []byte {
	b = append(b, e.Message...)
	for _, f := range [...]struct{ k, v string }{
		{"node", e.Node}, {"source", e.Source}, {"app", e.App}, {"task", e.Task}, {"stream", e.Stream}, {"level", e.Level},
	} {
		if f.v != "" && !slices.Contains(c.fields, f.k) {
			b = appendLogfmt(b, f.k, f.v)
		}
	}
	c.sorted = c.sorted[:0]
	for k := range e.Fields {
		if !slices.Contains(c.fields, k) {
			c.sorted = append(c.sorted, k)
		}
	}
	slices.Sort(c.sorted)
	for _, k := range c.sorted {
		name := k
		if query.Builtin(k) { // a parsed field named like a built-in one
			name = "fields." + k
		}
		b = appendLogfmt(b, name, e.Fields[k])
	}
	return b
}

// loki sends batches to Loki's push API.
type loki struct {
	http *httpOutput
	enc  *lokiEncoder
	buf  []byte
}

func newLoki(spec api.LogOutputSpec, o Options) (sender, error) {
	h, err := newHTTPOutput(spec, o, "/loki/api/v1/push", "application/json")
	if err != nil {
		return nil, err
	}
	return &loki{http: h, enc: newLokiEncoder(spec.Labels)}, nil
}

func (s *loki) send(ctx context.Context, entries []api.LogEntry) (outcome, error) {
	s.buf = s.enc.encode(s.buf[:0], entries)
	_, rejectAll, err := s.http.post(ctx, s.buf)
	if err != nil {
		return outcome{}, err
	}
	if rejectAll != "" {
		return outcome{rejected: len(entries), reason: rejectAll}, nil
	}
	return outcome{}, nil
}

func (s *loki) close() error { return nil }
