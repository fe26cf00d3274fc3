package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"corral/internal/api"
)

// maxRenderBody bounds a render answer (a graph or a long CSV).
const maxRenderBody = 64 << 20

// SendMetrics stores points through POST /api/v1/metrics.
func (c *Client) SendMetrics(ctx context.Context, points []api.MetricPoint) (api.MetricsIngestResult, error) {
	var res api.MetricsIngestResult
	err := c.do(ctx, http.MethodPost, "/api/v1/metrics", nil, points, &res)
	return res, err
}

// MetricNode is one entry of Graphite's /metrics/find.
type MetricNode struct {
	Path string // the full path
	Leaf bool   // a series; else a branch
}

// FindMetrics runs Graphite's /metrics/find for a glob pattern. It asks for
// the completer format, which lists every matching path (treejson keeps one
// node per last path element, as graphite-web does).
func (c *Client) FindMetrics(ctx context.Context, query string) ([]MetricNode, error) {
	var res struct {
		Metrics []struct {
			Path   string `json:"path"`
			IsLeaf string `json:"is_leaf"`
		} `json:"metrics"`
	}
	if err := c.do(ctx, http.MethodGet, "/metrics/find", url.Values{"query": {query}, "format": {"completer"}}, nil, &res); err != nil {
		return nil, err
	}
	nodes := make([]MetricNode, 0, len(res.Metrics))
	for _, m := range res.Metrics {
		nodes = append(nodes, MetricNode{Path: strings.TrimSuffix(m.Path, "."), Leaf: m.IsLeaf == "1"})
	}
	return nodes, nil
}

// Render calls Graphite's /render with q (target, from, until, format, ...)
// and returns the answer's bytes and content type.
func (c *Client) Render(ctx context.Context, q url.Values) ([]byte, string, error) {
	resp, err := c.send(ctx, http.MethodGet, "/render", q, nil, "*/*")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRenderBody))
	if err != nil {
		return nil, "", fmt.Errorf("render: read answer: %w", err)
	}
	return b, resp.Header.Get("Content-Type"), nil
}
