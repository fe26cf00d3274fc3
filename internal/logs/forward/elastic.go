package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"corral/internal/api"
)

// bulkEncoder writes Elasticsearch/OpenSearch _bulk bodies: for every entry
// an action line naming the index (by the entry's time in UTC) and the
// entry's document (document.go), each line ended by '\n'. The action is
// "index" with no _id: the cluster makes the id, and a batch sent twice
// (at-least-once) is indexed twice.
type bulkEncoder struct {
	pattern string
	// The index of the last hour seen, since most entries of a batch
	// share it.
	hour    int64
	index   string
	scratch []kv
}

// encode appends the _bulk body of entries to b.
func (c *bulkEncoder) encode(b []byte, entries []api.LogEntry) []byte {
	for i := range entries {
		e := &entries[i]
		if h := e.Time.Unix() / 3600; h != c.hour || c.index == "" {
			c.hour, c.index = h, indexName(c.pattern, e.Time)
		}
		b = append(b, `{"index":{"_index":`...)
		b = appendJSONString(b, c.index)
		b = append(b, "}}\n"...)
		b = appendDoc(b, e, &c.scratch)
		b = append(b, '\n')
	}
	return b
}

// bulkResponse is the part of a _bulk answer the forwarder reads.
type bulkResponse struct {
	Errors bool              `json:"errors"`
	Items  []json.RawMessage `json:"items"`
}

// bulkItem is one item of a _bulk answer: {"index": {...}} (or "create").
type bulkItem struct {
	Status int `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// bulkVerdict says what became of the n documents of a _bulk request.
type bulkVerdict struct {
	Retry    []int  // documents to send again: status 429 or 5xx
	Rejected []int  // documents refused for good: other 4xx
	Reason   string // the first rejection's "<status> <type>: <reason>"
}

// parseBulkResponse reads the answer to a _bulk request of n documents.
// When errors is false every document was taken; else each item's status
// decides.
func parseBulkResponse(body []byte, n int) (bulkVerdict, error) {
	var v bulkVerdict
	var r bulkResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return v, fmt.Errorf("read _bulk response: %w", err)
	}
	if !r.Errors {
		return v, nil
	}
	if len(r.Items) != n {
		return v, fmt.Errorf("read _bulk response: %d items for %d documents", len(r.Items), n)
	}
	for i, raw := range r.Items {
		var action map[string]bulkItem
		if err := json.Unmarshal(raw, &action); err != nil || len(action) != 1 {
			return bulkVerdict{}, fmt.Errorf("read _bulk response: item %d: not one action", i)
		}
		for _, it := range action {
			switch {
			case it.Status >= 200 && it.Status < 300:
			case it.Status == http.StatusTooManyRequests || it.Status >= 500:
				v.Retry = append(v.Retry, i)
			default:
				v.Rejected = append(v.Rejected, i)
				if v.Reason == "" {
					v.Reason = fmt.Sprint(it.Status)
					if it.Error != nil {
						v.Reason += " " + it.Error.Type + ": " + it.Error.Reason
					}
				}
			}
		}
	}
	return v, nil
}

// elastic sends batches to an Elasticsearch or OpenSearch _bulk endpoint.
type elastic struct {
	http *httpOutput
	enc  bulkEncoder
	buf  []byte
}

func newElastic(spec api.LogOutputSpec, o Options) (sender, error) {
	h, err := newHTTPOutput(spec, o, "/_bulk", "application/x-ndjson")
	if err != nil {
		return nil, err
	}
	pattern := spec.Index
	if pattern == "" {
		pattern = api.DefaultLogOutputIndex
	}
	return &elastic{http: h, enc: bulkEncoder{pattern: pattern}}, nil
}

func (s *elastic) send(ctx context.Context, entries []api.LogEntry) (outcome, error) {
	s.buf = s.enc.encode(s.buf[:0], entries)
	body, rejectAll, err := s.http.post(ctx, s.buf)
	if err != nil {
		return outcome{}, err
	}
	if rejectAll != "" {
		return outcome{rejected: len(entries), reason: rejectAll}, nil
	}
	v, err := parseBulkResponse(body, len(entries))
	if err != nil {
		return outcome{}, err
	}
	out := outcome{rejected: len(v.Rejected), reason: v.Reason}
	for _, i := range v.Retry {
		out.retry = append(out.retry, entries[i])
	}
	return out, nil
}

func (s *elastic) close() error { return nil }
