package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral/internal/metrics/carbon"
)

// carbonCache runs Debian's carbon-cache in the foreground with its own
// configuration under dir; it returns its plaintext and pickle addresses
// and its whisper directory.
func carbonCache(t *testing.T, dir string) (line, pickle, data string) {
	t.Helper()
	for _, tool := range []string{"carbon-cache", "whisper-fetch"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: apt-get install graphite-carbon python3-whisper", tool)
		}
	}
	free := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	data = filepath.Join(dir, "whisper")
	for _, d := range []string{data, filepath.Join(dir, "log"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lp, pp, qp := free(), free(), free()
	conf := fmt.Sprintf(`[cache]
STORAGE_DIR = %[1]s/
LOCAL_DATA_DIR = %[2]s/
WHISPER_DIR = %[2]s/
CONF_DIR = %[1]s/
LOG_DIR = %[1]s/log/
PID_DIR = %[1]s/run/
USER =
DATABASE = whisper
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = %[3]d
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = %[4]d
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = %[5]d
CARBON_METRIC_INTERVAL = 0
`, dir, data, lp, pp, qp)
	files := map[string]string{
		"carbon.conf":              conf,
		"storage-schemas.conf":     "[default]\npattern = .*\nretentions = 60s:1d\n",
		"storage-aggregation.conf": "[default]\npattern = .*\nxFilesFactor = 0\naggregationMethod = average\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := os.Create(filepath.Join(dir, "carbon.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("carbon-cache", "--config="+filepath.Join(dir, "carbon.conf"),
		"--pidfile="+filepath.Join(dir, "run", "carbon.pid"), "--logdir="+filepath.Join(dir, "log"), "--nodaemon", "start")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = out.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	line, pickle = fmt.Sprintf("127.0.0.1:%d", lp), fmt.Sprintf("127.0.0.1:%d", pp)
	deadline := time.Now().Add(60 * time.Second)
	for _, addr := range []string{line, pickle} {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				_ = c.Close()
				break
			}
			select {
			case <-exited:
				b, _ := os.ReadFile(filepath.Join(dir, "carbon.out"))
				t.Fatalf("carbon-cache exited:\n%s", b)
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(dir, "carbon.out"))
				t.Fatalf("carbon-cache did not listen on %s: %v\n%s", addr, err, b)
			}
		}
	}
	return line, pickle, data
}

// TestPeerCarbonCache relays points to Debian's carbon-cache over both
// protocols and reads them back from the whisper files it writes with
// whisper-fetch.
func TestPeerCarbonCache(t *testing.T) {
	dir := t.TempDir()
	line, pickle, data := carbonCache(t, dir)
	ts := time.Now().Unix() - 600
	ts -= ts % 60
	values := []float64{1e6, 0.25, -3.5, 123456789012, 1.0 / 3}
	var lp, pp []carbon.Point
	for i, v := range values {
		lp = append(lp, carbon.Point{Name: fmt.Sprintf("relaypeer.line.m%d", i), Value: v, Time: ts})
		pp = append(pp, carbon.Point{Name: fmt.Sprintf("relaypeer.pickle.m%d", i), Value: v, Time: ts})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		addr, proto string
		points      []carbon.Point
	}{{line, "line", lp}, {pickle, "pickle", pp}} {
		r, err := New(Options{Destinations: []string{c.addr}, Protocol: c.proto, FlushInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		defer func() { cancel(); <-done }()
		r.Write(c.points)
	}
	for _, p := range append(lp, pp...) {
		path := filepath.Join(data, strings.ReplaceAll(p.Name, ".", "/")+".wsp")
		deadline := time.Now().Add(60 * time.Second)
		got, ok := whisperValue(path, p.Time)
		for ; !ok; got, ok = whisperValue(path, p.Time) {
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(dir, "carbon.out"))
				t.Fatalf("carbon-cache did not write %s at %d\n%s", p.Name, p.Time, b)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got != p.Value {
			t.Errorf("%s: carbon-cache stored %v, want %v", p.Name, got, p.Value)
		}
	}
}

// whisperValue reads the value at ts from a whisper file with
// whisper-fetch; false while the file or the value is not there.
func whisperValue(path string, ts int64) (float64, bool) {
	if _, err := os.Stat(path); err != nil {
		return 0, false
	}
	out, err := exec.Command("whisper-fetch", "--json", "--from", fmt.Sprint(ts-1), "--until", fmt.Sprint(ts+60), path).Output()
	if err != nil {
		return 0, false
	}
	var res struct {
		Start, Step int64
		Values      []*float64
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Step == 0 {
		return 0, false
	}
	i := (ts - res.Start) / res.Step
	if i < 0 || int(i) >= len(res.Values) || res.Values[i] == nil {
		return 0, false
	}
	return *res.Values[i], true
}
