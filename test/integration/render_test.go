package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// renderJSON calls /render with format=json and returns target → values.
func renderJSON(t *testing.T, srv *Server, token string, q url.Values) map[string][]*float64 {
	t.Helper()
	q.Set("format", "json")
	status, body := srv.HTTP(t, "GET", "/render?"+q.Encode(), token, nil)
	if status != http.StatusOK {
		t.Fatalf("render %v: %d %s", q, status, body)
	}
	var series []struct {
		Target     string        `json:"target"`
		Datapoints [][2]*float64 `json:"datapoints"`
	}
	if err := json.Unmarshal(body, &series); err != nil {
		t.Fatalf("render %v: %v: %s", q, err, body)
	}
	out := map[string][]*float64{}
	for _, s := range series {
		for _, dp := range s.Datapoints {
			out[s.Target] = append(out[s.Target], dp[0])
		}
	}
	return out
}

func vals(ps []*float64) string {
	var b []string
	for _, p := range ps {
		if p == nil {
			b = append(b, "null")
		} else {
			b = append(b, fmt.Sprint(*p))
		}
	}
	return strings.Join(b, ",")
}

// TestRenderAPI stores known points (plain and tagged) and renders them
// through /render (json, csv, png), /functions, seriesByTag and the CLI,
// before and after a restart.
func TestRenderAPI(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.AdminToken()
	now := time.Now().Unix()
	t0 := now - now%10 - 60 // six 10 s steps back
	var lines []string
	for i := range 3 {
		ts := t0 + int64(i)*10
		lines = append(lines,
			fmt.Sprintf("it.r.a %d %d", 1+i, ts),      // 1 2 3
			fmt.Sprintf("it.r.b %d %d", 10*(1+i), ts), // 10 20 30
			fmt.Sprintf("it.disk.used;host=h1;dc=x %d %d", 100+i, ts),
			fmt.Sprintf("it.disk.used;host=h2;dc=y %d %d", 200+i, ts))
	}
	if status, out := srv.HTTP(t, "POST", "/api/v1/metrics", admin, []byte(strings.Join(lines, "\n"))); status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, out)
	}
	from, until := fmt.Sprint(t0-1), fmt.Sprint(t0+29) // exactly the three steps

	checkErr := func(target, want string) error {
		got := renderJSON(t, srv, admin, url.Values{"target": {target}, "from": {from}, "until": {until}})
		var parts []string
		for name, v := range got {
			parts = append(parts, name+"="+vals(v))
		}
		if g := strings.Join(parts, ";"); g != want {
			return fmt.Errorf("render %s = %s, want %s", target, g, want)
		}
		return nil
	}
	check := func(target, want string) {
		t.Helper()
		if err := checkErr(target, want); err != nil {
			t.Error(err)
		}
	}
	check("sumSeries(it.r.*)", "sumSeries(it.r.*)=11,22,33")
	check("scale(it.r.a,2)", "scale(it.r.a,2)=2,4,6")
	check("seriesByTag('dc=x')", "it.disk.used;dc=x;host=h1=100,101,102")

	// Reads see the points while they are still in the write-back cache,
	// and the formats graphite-web offers are served.
	q := url.Values{"target": {"it.r.a"}, "from": {from}, "until": {until}, "format": {"csv"}}
	if status, body := srv.HTTP(t, "GET", "/render?"+q.Encode(), admin, nil); status != http.StatusOK || strings.Count(string(body), "it.r.a,") != 3 {
		t.Errorf("csv: %d %s", status, body)
	}
	q.Set("format", "png")
	if status, body := srv.HTTP(t, "GET", "/render?"+q.Encode()+"&width=400&height=300", admin, nil); status != http.StatusOK {
		t.Errorf("png: %d %.200s", status, body)
	} else if img, err := png.Decode(bytes.NewReader(body)); err != nil || img.Bounds().Dx() != 400 || img.Bounds().Dy() != 300 {
		t.Errorf("png: %v, bounds %v", err, img)
	}
	if status, body := srv.HTTP(t, "GET", "/render?target=sumSeries(it.r.*&format=json", admin, nil); status != http.StatusBadRequest {
		t.Errorf("bad target: %d %s, want 400", status, body)
	}
	status, body := srv.HTTP(t, "GET", "/functions", admin, nil)
	var fns map[string]json.RawMessage
	if status != http.StatusOK || json.Unmarshal(body, &fns) != nil || fns["sumSeries"] == nil || fns["aliasByNode"] == nil || len(fns) < 100 {
		t.Errorf("/functions: %d, %d functions", status, len(fns))
	}
	if status, body := srv.HTTP(t, "GET", "/tags/autoComplete/values?tag=dc", admin, nil); status != http.StatusOK || string(bytes.TrimSpace(body)) != `["x","y"]` {
		t.Errorf("autoComplete values of dc: %d %s", status, body)
	}

	// The CLI: a table with a sparkline, and a graph file.
	flags := srv.CLIFlags(admin)
	out, errOut, code := RunCLI(t, CLIEnv{}, append([]string{"metrics", "render", "it.r.b", "--from", from, "--until", until}, flags...)...)
	if code != 0 || !strings.Contains(out, "it.r.b") || !strings.Contains(out, "30") || !strings.Contains(out, "▁▅█") {
		t.Errorf("metrics render: exit %d\n%s%s", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "g.png")
	if out, errOut, code := RunCLI(t, CLIEnv{}, append([]string{"metrics", "graph", "it.r.*", "--from", "-10min", "-o", file}, flags...)...); code != 0 {
		t.Errorf("metrics graph: exit %d\n%s%s", code, out, errOut)
	} else if f, err := os.Open(file); err != nil {
		t.Error(err)
	} else {
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != 800 {
			t.Errorf("graph file: %v %v", err, img)
		}
	}

	// After a restart (the cache flushed to files), the same answers; the
	// tagged names come back from the tag index file.
	srv.Stop()
	srv.Restart()
	// The name index loads from the files in the background after ready.
	eventually(t, 10*time.Second, func() error { return checkErr("sumSeries(it.r.*)", "sumSeries(it.r.*)=11,22,33") })
	check("seriesByTag('dc=y')", "it.disk.used;dc=y;host=h2=200,201,202")
}
