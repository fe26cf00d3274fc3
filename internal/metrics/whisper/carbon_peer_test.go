package whisper

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback TCP port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startCarbon runs Debian's carbon-cache in the foreground with its own
// configuration under dir and returns its plaintext address and data dir.
func startCarbon(t *testing.T, dir, schemas, aggregation string) (addr, data string) {
	t.Helper()
	if _, err := exec.LookPath("carbon-cache"); err != nil {
		t.Skip("carbon-cache not found: apt-get install graphite-carbon")
	}
	data = filepath.Join(dir, "whisper")
	for _, d := range []string{data, filepath.Join(dir, "log"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	line, pickle, query := freePort(t), freePort(t), freePort(t)
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
CARBON_METRIC_PREFIX = carbon
CARBON_METRIC_INTERVAL = 0
WHISPER_FALLOCATE_CREATE = True
`, dir, data, line, pickle, query)
	files := map[string]string{"carbon.conf": conf, "storage-schemas.conf": schemas, "storage-aggregation.conf": aggregation}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("carbon-cache", "--config="+filepath.Join(dir, "carbon.conf"),
		"--pidfile="+filepath.Join(dir, "run", "carbon.pid"), "--logdir="+filepath.Join(dir, "log"), "--nodaemon", "start")
	out, err := os.Create(filepath.Join(dir, "carbon.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	addr = fmt.Sprintf("127.0.0.1:%d", line)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr, data
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

// TestPeerCarbonCacheFiles sends points to Debian's carbon-cache, waits
// for its whisper files, and checks that a Store over carbon's data
// directory reads exactly what whisper-fetch reads (and what was sent, in
// the 10 s archive), in both archives; then the Store keeps writing into
// carbon's files and whisper-fetch still agrees: the migration path.
func TestPeerCarbonCacheFiles(t *testing.T) {
	needPeer(t)
	dir := t.TempDir()
	schemas := "[peer]\npattern = ^peer\\.\nretentions = 10s:3h,1m:1d\n[default]\npattern = .*\nretentions = 60s:1d\n"
	aggregation := "[max]\npattern = \\.max$\nxFilesFactor = 0\naggregationMethod = max\n" +
		"[sum]\npattern = \\.count$\nxFilesFactor = 0\naggregationMethod = sum\n" +
		"[default]\npattern = .*\nxFilesFactor = 0.5\naggregationMethod = average\n"
	addr, data := startCarbon(t, dir, schemas, aggregation)

	end := time.Now().Unix() - 60
	end -= end % 10
	names := []string{"peer.carbon.latency", "peer.carbon.latency.max", "peer.carbon.hits.count"}
	sent := map[string][]Point{}
	var msg strings.Builder
	for k, name := range names {
		pts := series10s(end, func(i int) float64 { return float64((i*7+k)%23)*0.5 - 3 })
		if k == 0 { // gaps: the xFilesFactor of 0.5 holds back some minutes
			var thin []Point
			for i, p := range pts {
				if i%6 < 2 || (p.Time/60)%3 == 0 {
					thin = append(thin, p)
				}
			}
			pts = thin
		}
		sent[name] = pts
		for _, p := range pts {
			fmt.Fprintf(&msg, "%s %g %d\n", name, p.Value, p.Time)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(msg.String())); err != nil {
		t.Fatal(err)
	}
	c.Close()

	s := openStore(t, Options{Root: data, Schemas: mustSchemas(t, schemas), Aggregations: mustAggs(t, aggregation)})
	// Wait until carbon has written every point of the 10 s archive.
	deadline := time.Now().Add(90 * time.Second)
	for _, name := range names {
		for {
			got, err := s.Fetch(name, end-7201, end)
			if err == nil && countKnown(got) == len(sent[name]) {
				break
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(dir, "carbon.out"))
				t.Fatalf("%s: carbon wrote %d of %d points (err %v)\n%s", name, countKnown(got), len(sent[name]), err, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	compare := func(what string) {
		t.Helper()
		for _, name := range names {
			rel, _ := s.Path(name)
			path := filepath.Join(data, rel)
			for _, r := range [][2]int64{{end - 7201, end}, {end - 20*3600, end}} {
				got, err := s.Fetch(name, r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				sameSeries(t, fmt.Sprintf("%s: %s %d..%d", what, name, r[0], r[1]), got, pyFetch(t, path, r[0], r[1]))
			}
		}
	}
	compare("carbon's files")
	for _, name := range names {
		raw := map[int64]float64{}
		for _, p := range sent[name] {
			raw[p.Time] = p.Value
		}
		got, err := s.Fetch(name, end-7201, end)
		if err != nil {
			t.Fatal(err)
		}
		checkSeries(t, got, raw, 10)
	}

	// Keep writing carbon's files with the Store, overwriting and adding.
	for k, name := range names {
		var pts []Point
		for i := range 90 {
			pts = append(pts, Point{end - int64(i)*10, float64(k*100 + i)})
		}
		if err := s.Write(name, pts); err != nil {
			t.Fatal(err)
		}
	}
	compare("after Store writes")
}

func countKnown(s Series) int {
	n := 0
	for _, v := range s.Values {
		if v == v {
			n++
		}
	}
	return n
}
