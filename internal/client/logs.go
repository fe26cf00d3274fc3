package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"corral/internal/api"
)

// LogsPage returns one page of the log lines that match q and the cursor
// of the next (older) page, "" when there is none.
func (c *Client) LogsPage(ctx context.Context, q LogQuery) ([]api.LogEntry, string, error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/logs", q.values(), nil, "application/json")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var es []api.LogEntry
	if err := json.NewDecoder(resp.Body).Decode(&es); err != nil {
		return nil, "", fmt.Errorf("GET /api/v1/logs: decode answer: %w", err)
	}
	return es, resp.Header.Get("X-Next-Cursor"), nil
}

// LogCount counts the lines that match q by the values of field, the top
// most frequent first.
func (c *Client) LogCount(ctx context.Context, q LogQuery, field string, top int) ([]api.LogBucket, error) {
	v := q.values()
	v.Del("limit")
	v.Set("field", field)
	if top > 0 {
		v.Set("top", strconv.Itoa(top))
	}
	var bs []api.LogBucket
	err := c.do(ctx, http.MethodGet, "/api/v1/logs/count", v, nil, &bs)
	return bs, err
}

// LogHistogram counts the lines that match q per step ("1m"; "" lets the
// server choose), oldest first.
func (c *Client) LogHistogram(ctx context.Context, q LogQuery, step string) ([]api.LogBucket, error) {
	v := q.values()
	v.Del("limit")
	setIf(v, "step", step)
	var bs []api.LogBucket
	err := c.do(ctx, http.MethodGet, "/api/v1/logs/histogram", v, nil, &bs)
	return bs, err
}
