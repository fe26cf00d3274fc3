package integration

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"testing"
	"time"

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

	// The receivers hand points to the cache within ~100 ms; then a clean
	// stop writes the cache to the files.
	time.Sleep(time.Second)
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
