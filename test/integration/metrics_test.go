package integration

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/metrics/whisper"
)

// TestCarbonIngest sends carbon plaintext over TCP and UDP and a pickle
// batch to a server, stops it (which flushes the cache) and reads the
// whisper files it wrote.
func TestCarbonIngest(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	now := time.Now().Unix()
	ts := now - now%10 - 20 // two 10 s steps back, well inside the 6 h archive

	tcp, err := net.Dial("tcp", srv.CarbonAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	// A bad line between good ones is skipped; the connection goes on.
	fmt.Fprintf(tcp, "corral.it.tcp 42 %d\nnot a metric line\ncorral.it.tcp 43 %d\n", ts, ts+10)

	udp, err := net.Dial("udp", srv.CarbonAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	fmt.Fprintf(udp, "corral.it.udp 3 %d\ncorral.it.udp2 4 %d\n", ts, ts)

	// A protocol 0 pickle of [("corral.it.pickle", (ts, 5.5))], as carbon
	// clients send it: a 4-byte big-endian length and the pickle.
	pk := fmt.Sprintf("(lp0\n(S'corral.it.pickle'\np1\n(I%d\nF5.5\ntp2\ntp3\na.", ts)
	pconn, err := net.Dial("tcp", srv.PickleAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer pconn.Close()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(pk)))
	pconn.Write(append(hdr[:], pk...))

	// The receivers hand points to the cache within ~100 ms; new series are
	// in the name index at once.
	time.Sleep(time.Second)
	checkFind(t, srv, "corral.it.*", []string{"corral.it.pickle", "corral.it.tcp", "corral.it.udp", "corral.it.udp2"})
	// A clean stop writes the cache to the files.
	srv.Stop()

	st, err := whisper.Open(whisper.Options{Root: filepath.Join(srv.Dir, "whisper")})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		at   int64
		val  float64
	}{
		{"corral.it.tcp", ts, 42},
		{"corral.it.tcp", ts + 10, 43},
		{"corral.it.udp", ts, 3},
		{"corral.it.udp2", ts, 4},
		{"corral.it.pickle", ts, 5.5},
	}
	defer func() {
		// After a restart the index is loaded from the whisper files.
		srv.Restart()
		deadline := time.Now().Add(10 * time.Second)
		for !t.Failed() {
			if findPaths(t, srv, "corral.it.u*") == "corral.it.udp,corral.it.udp2" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		checkFind(t, srv, "corral.it.u*", []string{"corral.it.udp", "corral.it.udp2"})
	}()
	for _, w := range want {
		series, err := st.Fetch(w.name, ts-10, ts+20)
		if err != nil {
			t.Errorf("fetch %s: %v", w.name, err)
			continue
		}
		i := int((w.at - series.Start) / series.Step)
		if i < 0 || i >= len(series.Values) || math.IsNaN(series.Values[i]) || series.Values[i] != w.val {
			t.Errorf("%s at %d: got %v (series start %d step %d), want %v", w.name, w.at, series.Values, series.Start, series.Step, w.val)
		}
	}
}

// TestHostMetricsSurviveServerOutage runs an agent whose host collector
// samples every second, takes the server away for a while, and checks that
// the samples taken while it was away reach the whisper files once it is
// back: the agent spools them and resends.
func TestHostMetricsSurviveServerOutage(t *testing.T) {
	schemas := filepath.Join(t.TempDir(), "storage-schemas.conf")
	if err := os.WriteFile(schemas, []byte("[all]\npattern = .*\nretentions = 1s:1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := StartServer(t, ServerOptions{LeaseTTL: 15 * time.Second, Args: []string{"--storage-schemas", schemas}})
	StartAgent(t, srv, AgentOptions{Name: "hm1", Args: []string{"--host-metrics-interval", "1s"}})
	srv.WaitNodeStatus(t, "hm1", api.NodeReady, 10*time.Second)
	time.Sleep(2 * time.Second)

	srv.Kill()
	down := time.Now().Unix()
	time.Sleep(4 * time.Second)
	up := time.Now().Unix()
	srv.Restart()
	// Give the agent time to reconnect and send its spool, then stop cleanly
	// so the cache is flushed to the files. The shipper's retry backoff is
	// at most a few seconds at this point.
	time.Sleep(6 * time.Second)
	srv.Stop()

	st, err := whisper.Open(whisper.Options{Root: filepath.Join(srv.Dir, "whisper")})
	if err != nil {
		t.Fatal(err)
	}
	series, err := st.Fetch("corral.hm1.memory.total", down-1, up+1)
	if err != nil {
		t.Fatalf("fetch corral.hm1.memory.total: %v", err)
	}
	var during int
	for i, v := range series.Values {
		at := series.Start + int64(i)*series.Step
		if at > down && at < up && !math.IsNaN(v) && v > 0 {
			during++
		}
	}
	// One sample a second for about 4 s while the server was away.
	if during < 2 {
		t.Fatalf("%d samples from the outage (%d..%d) reached the store, want at least 2: %v", during, down, up, series.Values)
	}
	if _, err := st.Fetch("corral.hm1.cpu.user", down-1, up+1); err != nil {
		t.Errorf("fetch corral.hm1.cpu.user: %v", err)
	}
}

// TestStatsdOnAgent sends StatsD packets to an agent and finds etsy's series
// in the server's whisper files.
func TestStatsdOnAgent(t *testing.T) {
	schemas := filepath.Join(t.TempDir(), "storage-schemas.conf")
	if err := os.WriteFile(schemas, []byte("[all]\npattern = .*\nretentions = 1s:1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := StartServer(t, ServerOptions{Args: []string{"--storage-schemas", schemas}})
	statsdAddr := loopback(freePorts(t, 1)[0])
	StartAgent(t, srv, AgentOptions{Name: "sd1", Args: []string{"--statsd-addr", statsdAddr,
		"--statsd-flush-interval", "1s", "--host-metrics-interval", "0"}})
	srv.WaitNodeStatus(t, "sd1", api.NodeReady, 10*time.Second)

	conn, err := net.Dial("udp", statsdAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now().Unix()
	// Several metrics in one packet, as clients batch them.
	fmt.Fprint(conn, "it.hits:3|c\nit.lat:10|ms\nit.lat:30|ms\nit.temp:21|g")
	time.Sleep(3 * time.Second)
	end := time.Now().Unix()
	srv.Stop()

	st, err := whisper.Open(whisper.Options{Root: filepath.Join(srv.Dir, "whisper")})
	if err != nil {
		t.Fatal(err)
	}
	// found reports whether series holds want at some second of the run.
	found := func(name string, want float64) bool {
		s, err := st.Fetch(name, start-1, end+1)
		if err != nil {
			t.Errorf("fetch %s: %v", name, err)
			return false
		}
		for _, v := range s.Values {
			if v == want {
				return true
			}
		}
		t.Errorf("%s: no value %v in %v", name, want, s.Values)
		return false
	}
	found("stats.counters.it.hits.count", 3)
	found("stats.counters.it.hits.rate", 3) // 3 in a 1 s flush interval
	found("stats.timers.it.lat.mean", 20)
	found("stats.timers.it.lat.upper", 30)
	found("stats.timers.it.lat.count", 2)
	found("stats.gauges.it.temp", 21)
}

// findPaths asks /metrics/find (Graphite's treejson) and returns the ids,
// comma separated.
func findPaths(t *testing.T, srv *Server, query string) string {
	t.Helper()
	status, body := srv.HTTP(t, "GET", "/metrics/find?query="+url.QueryEscape(query), srv.AdminToken(), nil)
	if status != 200 {
		t.Fatalf("find %s: %d %s", query, status, body)
	}
	var nodes []struct {
		ID   string `json:"id"`
		Leaf int    `json:"leaf"`
	}
	if err := json.Unmarshal(body, &nodes); err != nil {
		t.Fatalf("find %s: %v: %s", query, err, body)
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return strings.Join(ids, ",")
}

func checkFind(t *testing.T, srv *Server, query string, want []string) {
	t.Helper()
	if got := findPaths(t, srv, query); got != strings.Join(want, ",") {
		t.Errorf("find %s = %s, want %s", query, got, strings.Join(want, ","))
	}
}
