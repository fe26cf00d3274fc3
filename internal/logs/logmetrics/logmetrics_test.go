package logmetrics

import (
	"testing"
	"time"

	"corral/internal/api"
)

func TestCounter(t *testing.T) {
	c := New()
	c.Add([]api.LogEntry{
		{Node: "web-1", App: "shop/api", Level: "error"},
		{Node: "web-1", App: "/shop/api", Level: "error"},
		{Node: "web-1", App: "shop/api"},
		{Node: "web-1", Source: "file:/var/log/nginx/access.log", Fields: map[string]string{"method": "GET", "status": "500", "service": "nginx"}},
		{Node: "web-1", Source: "file:/var/log/nginx/access.log", Fields: map[string]string{"method": "GET", "status": "503", "service": "nginx"}},
		{Node: "web.2", Source: "file:/x", Fields: map[string]string{"method": "POST", "status": "201"}},
		{Node: "web-1", Fields: map[string]string{"status": "200"}},                   // no method: not an access log
		{Node: "web-1", Fields: map[string]string{"method": "GET", "status": "2000"}}, // not a status
	})
	at := time.Unix(1700000000, 0)
	got := map[string]float64{}
	for _, p := range c.Flush(at) {
		if p.Time != at.Unix() {
			t.Errorf("%s stamped %d", p.Name, p.Time)
		}
		got[p.Name] = p.Value
	}
	want := map[string]float64{
		"corral.logs.node.web-1.lines":       7,
		"corral.logs.node.web_2.lines":       1,
		"corral.logs.app.shop_api.error":     2,
		"corral.logs.app.shop_api.unknown":   1,
		"corral.logs.http.web-1.nginx.500":   1,
		"corral.logs.http.web-1.nginx.503":   1,
		"corral.logs.http.web-1.nginx.5xx":   2,
		"corral.logs.http.web_2.unknown.201": 1,
		"corral.logs.http.web_2.unknown.2xx": 1,
	}
	if len(got) != len(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if again := c.Flush(at); len(again) != 0 {
		t.Errorf("a second flush sent %v; counts start over", again)
	}
}
