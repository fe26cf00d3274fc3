package integration

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/metrics/whisper"
)

// TestMetricsHTTPIngest stores points through POST /api/v1/metrics (carbon
// lines and JSON) and `corral metrics send`, finds them with `corral metrics
// find`, and reads them back from the whisper files.
func TestMetricsHTTPIngest(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.AdminToken()
	now := time.Now().Unix()
	ts := now - now%10 - 30

	// Carbon plaintext with one bad line: the good lines are stored and the
	// bad one is named by its line number.
	body := []byte(strings.Join([]string{
		"corral.http.lines 1 " + strconv.FormatInt(ts, 10),
		"this is not a metric",
		"corral.http.lines 2 " + strconv.FormatInt(ts+10, 10),
	}, "\n"))
	status, out := srv.HTTP(t, "POST", "/api/v1/metrics", admin, body)
	var res api.MetricsIngestResult
	if status != http.StatusOK || json.Unmarshal(out, &res) != nil {
		t.Fatalf("POST carbon lines: %d %s", status, out)
	}
	if res.Accepted != 2 || res.Rejected != 1 || len(res.Errors) != 1 || !strings.HasPrefix(res.Errors[0], "line 2: ") {
		t.Errorf("carbon lines result = %+v, want 2 accepted and line 2 rejected", res)
	}

	// A viewer may read but not write metrics.
	viewer := srv.CreateToken(t, api.TokenRequest{Role: api.RoleViewer, Name: "grafana"})
	if status, out := srv.HTTP(t, "POST", "/api/v1/metrics", viewer.Secret, body); status != http.StatusForbidden {
		t.Errorf("viewer POST = %d %s, want 403", status, out)
	}

	// The CLI sends through the same endpoint (JSON).
	flags := srv.CLIFlags(admin)
	if out, errOut, code := RunCLI(t, CLIEnv{}, append([]string{"metrics", "send", "corral.http.cli", "7.5", strconv.FormatInt(ts, 10)}, flags...)...); code != 0 {
		t.Fatalf("metrics send: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := RunCLI(t, CLIEnv{}, append([]string{"metrics", "send", "corral.http.cli", "x"}, flags...)...); code == 0 || !strings.Contains(errOut, `VALUE "x"`) {
		t.Errorf("metrics send with a bad value: exit %d, stderr %q", code, errOut)
	}
	out2, errOut, code := RunCLI(t, CLIEnv{}, append([]string{"metrics", "find", "corral.http.*"}, flags...)...)
	if code != 0 {
		t.Fatalf("metrics find: exit %d %s", code, errOut)
	}
	for _, want := range []string{"corral.http.cli", "corral.http.lines"} {
		if !strings.Contains(out2, want) {
			t.Errorf("metrics find output lacks %s:\n%s", want, out2)
		}
	}

	srv.Stop() // flushes the cache
	st, err := whisper.Open(whisper.Options{Root: filepath.Join(srv.Dir, "whisper")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		at   int64
		want float64
	}{{"corral.http.lines", ts, 1}, {"corral.http.lines", ts + 10, 2}, {"corral.http.cli", ts, 7.5}} {
		s, err := st.Fetch(c.name, ts-10, ts+20)
		if err != nil {
			t.Errorf("fetch %s: %v", c.name, err)
			continue
		}
		if i := int((c.at - s.Start) / s.Step); i < 0 || i >= len(s.Values) || s.Values[i] != c.want {
			t.Errorf("%s at %d: got %v (start %d step %d), want %v", c.name, c.at, s.Values, s.Start, s.Step, c.want)
		}
	}
}
