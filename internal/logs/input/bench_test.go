package input

import (
	"bufio"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"

	"corral/internal/api"
)

// counter is a Sink that counts.
type counter struct{ n atomic.Int64 }

func (c *counter) sink(es []api.LogEntry) { c.n.Add(int64(len(es))) }

func (c *counter) waitFor(b *testing.B, n int) {
	for c.n.Load() < int64(n) {
		time.Sleep(100 * time.Microsecond)
	}
}

// benchLines writes b.N lines made by line over one TCP connection and
// waits until the input has handed them all on.
func benchLines(b *testing.B, in runner, c *counter, line func(i int) string) {
	addr := start(b, in)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	const distinct = 1000
	var chunk []byte
	for i := range distinct {
		chunk = append(chunk, line(i)...)
	}
	b.SetBytes(int64(len(chunk) / distinct))
	b.ResetTimer()
	w := bufio.NewWriterSize(conn, 64<<10)
	for sent := 0; sent < b.N; sent += distinct {
		n := min(distinct, b.N-sent)
		if n == distinct {
			w.Write(chunk)
		} else {
			for i := range n {
				w.WriteString(line(i))
			}
		}
	}
	w.Flush()
	c.waitFor(b, b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func syslogLine(i int) string {
	return fmt.Sprintf(`<134>1 2024-05-06T07:08:09.%06dZ web%d.example.com nginx %d - [req@32473 id="%d"] GET /api/v1/items/%d 200 %d bytes in %d ms`,
		i, i%10, 1000+i%50, i, i, 100+i, i%300)
}

func BenchmarkSyslogTCPNewline(b *testing.B) {
	var c counter
	benchLines(b, &Syslog{Addr: "127.0.0.1:0", Sink: c.sink, Location: time.UTC}, &c,
		func(i int) string { return syslogLine(i) + "\n" })
}

func BenchmarkSyslogTCPOctetCounted(b *testing.B) {
	var c counter
	benchLines(b, &Syslog{Addr: "127.0.0.1:0", Sink: c.sink, Location: time.UTC}, &c,
		func(i int) string { return octet(syslogLine(i)) })
}

func BenchmarkSyslogTCP3164(b *testing.B) {
	var c counter
	benchLines(b, &Syslog{Addr: "127.0.0.1:0", Sink: c.sink, Location: time.UTC, Now: clock}, &c,
		func(i int) string {
			return fmt.Sprintf("<86>May  6 07:08:09 web%d sshd[%d]: Accepted publickey for deploy from 10.0.%d.%d port %d ssh2\n",
				i%10, 1000+i%50, i%256, (i*7)%256, 40000+i)
		})
}

func BenchmarkJSONLinesTCP(b *testing.B) {
	var c counter
	benchLines(b, &JSONLines{Addr: "127.0.0.1:0", Sink: c.sink, Location: time.UTC}, &c,
		func(i int) string {
			return fmt.Sprintf(`{"@timestamp":"2024-05-06T07:08:09.%03dZ","@version":"1","message":"GET /api/v1/items/%d 200","host":{"name":"web%d"},"level":"info","http":{"status":200,"bytes":%d},"duration_ms":%d}`+"\n",
				i%1000, i, i%10, 100+i, i%300)
		})
}

// BenchmarkBeats ships Filebeat-like events with go-lumber's synchronous
// client in windows of 2048 (Filebeat's bulk_max_size), compressed at
// Filebeat's default level 3.
func BenchmarkBeats(b *testing.B) {
	var c counter
	in := &Beats{Addr: "127.0.0.1:0", Sink: c.sink, Location: time.UTC}
	addr := start(b, in)
	cl, err := lumber.SyncDial(addr, lumber.CompressionLevel(3))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	const window = 2048
	evs := events(0, window)
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += window {
		n := min(window, b.N-sent)
		if _, err := cl.Send(evs[:n]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := c.n.Load(); got != int64(b.N) {
		b.Fatalf("acknowledged %d, sink has %d", b.N, got)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
