package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"corral/internal/metrics/whisper"
)

// BenchmarkStatsdAgent sends StatsD counters to a real `corral agent` at
// 200,000 metrics/s, CORRAL_BENCH_STATSD_PER_PACKET (default 10) metrics per
// UDP packet as buffering clients send them (1 sends one per packet), for
// CORRAL_BENCH_STATSD_SECONDS (default 10), and checks that every
// increment reaches the server's whisper files: the sum of the
// stats.counters.bench.*.count points must equal what was sent. The agent
// runs with the default UDP buffer sizes of the machine. Target: no loss.
func BenchmarkStatsdAgent(b *testing.B) {
	skipUnlessLinux(b)
	const rate, names = 200_000, 100
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("CORRAL_BENCH_STATSD_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	perPacket := 10
	if v, err := strconv.Atoi(os.Getenv("CORRAL_BENCH_STATSD_PER_PACKET")); err == nil && v > 0 {
		perPacket = v
	}
	parent := b.TempDir()
	schemas := filepath.Join(parent, "storage-schemas.conf")
	if err := os.WriteFile(schemas, []byte("[all]\npattern = .*\nretentions = 1s:1h\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	s := newServer(b, filepath.Join(parent, "server"))
	s.Args = []string{"--storage-schemas", schemas}
	s.StartReady(b)
	defer stopServer(b, s)

	udpAddr := freeUDPAddr(b)
	ag := startAgent(b, s, parent, "statsd", s.JoinToken(b), "--statsd-addr", udpAddr,
		"--statsd-flush-interval", "2s", "--host-metrics-interval", "0")
	defer ag.Stop()
	if _, err := waitNodeReady(context.Background(), s.Client(b), "statsd", ag); err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second) // the StatsD socket opens right after hello

	conn, err := net.Dial("udp", udpAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	// Packet i carries perPacket increments of consecutive names from i.
	pkts := make([][]byte, names)
	for i := range pkts {
		lines := make([]string, perPacket)
		for j := range lines {
			lines[j] = fmt.Sprintf("bench.c%02d:1|c", (i+j)%names)
		}
		pkts[i] = []byte(strings.Join(lines, "\n"))
	}
	drops0 := udpRcvbufErrors()
	agentUse := make(chan Usage, 1)
	go func() {
		u, _ := measure(context.Background(), ag.PID(), time.Duration(secs)*time.Second)
		agentUse <- u
	}()
	// Paced: every millisecond, catch up to rate × elapsed.
	start := time.Now()
	end := start.Add(time.Duration(secs) * time.Second)
	sent := 0
	for now := start; now.Before(end); now = time.Now() {
		due := int(float64(rate) * now.Sub(start).Seconds())
		for ; sent < due; sent += perPacket {
			if _, err := conn.Write(pkts[(sent/perPacket)%names]); err != nil {
				b.Fatalf("send: %v", err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	u := <-agentUse
	drops := udpRcvbufErrors() - drops0

	// Two more flushes, shipping, then a clean server stop writes the cache.
	time.Sleep(6 * time.Second)
	ag.Stop()
	stopServer(b, s)
	st, err := whisper.Open(whisper.Options{Root: filepath.Join(s.Dir, "whisper")})
	if err != nil {
		b.Fatal(err)
	}
	got := 0.0
	from, until := start.Unix()-5, time.Now().Unix()+5
	for i := range names {
		name := fmt.Sprintf("stats.counters.bench.c%02d.count", i)
		series, err := st.Fetch(name, from, until)
		if err != nil {
			b.Fatalf("fetch %s: %v", name, err)
		}
		for _, v := range series.Values {
			if !math.IsNaN(v) {
				got += v
			}
		}
	}
	lost := float64(sent) - got
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "sent-metrics/s")
	b.ReportMetric(lost, "lost")
	b.ReportMetric(float64(drops), "udp-rcvbuf-errors")
	b.ReportMetric(u.CPUPercent(), "agent-cpu-%")
	b.ReportMetric(mb(u.RSSMax), "agent-rss-max-MB")
	b.Logf("StatsD: sent %d counter increments, %d per packet, in %s (%.0f/s) to one agent; stored %.0f, lost %.0f (%.3f%%); kernel UDP receive-buffer drops %d; agent CPU %.1f%% of a core, RSS max %.1f MB; machine %.0f%% of a core busy",
		sent, perPacket, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), got, lost, 100*lost/float64(sent), drops, u.CPUPercent(), mb(u.RSSMax), u.MachineBusy)
}

// freeUDPAddr returns a loopback UDP address that was free a moment ago.
func freeUDPAddr(tb testing.TB) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped because a
// socket's receive buffer was full (/proc/net/snmp Udp: RcvbufErrors).
func udpRcvbufErrors() int64 {
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		return -1
	}
	defer f.Close()
	var header []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if header == nil {
			header = fields
			continue
		}
		for i, h := range header {
			if h == "RcvbufErrors" && i < len(fields) {
				n, _ := strconv.ParseInt(fields[i], 10, 64)
				return n
			}
		}
	}
	return -1
}
