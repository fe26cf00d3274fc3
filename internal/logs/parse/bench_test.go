//go:build unix

package parse

import (
	"bufio"
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
)

// cpuTime is the process's user+system CPU time; under a shared, loaded
// machine lines per CPU second is the number that means something.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRate reports n items per wall second and per CPU second since cpu0.
func reportRate(b *testing.B, n float64, unit string, cpu0 time.Duration) {
	b.ReportMetric(n/b.Elapsed().Seconds(), unit+"/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(n/cpu.Seconds(), unit+"/cpu-s")
	}
}

// benchParser parses line b.N times into a reused entry and reports lines/s
// on one core.
func benchParser(b *testing.B, p Parser, line string) {
	raw := []byte(line)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var e api.LogEntry
	cpu0 := cpuTime()
	for b.Loop() {
		e = api.LogEntry{}
		if err := p.Parse(raw, &e); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, float64(b.N), "lines", cpu0)
}

func BenchmarkCombined(b *testing.B) {
	benchParser(b, Combined{}, `203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /api/v1/apps/web/tasks?limit=50 HTTP/1.1" 200 6120 "https://corral.example.com/ui/apps" "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0" rt=0.012`)
}

func BenchmarkJSON(b *testing.B) {
	benchParser(b, JSON{Location: time.UTC}, `{"@timestamp":"2019-11-03T10:15:30.123+01:00","@version":"1","message":"Completed 200 OK in 12ms","logger_name":"com.example.web.RequestLogger","thread_name":"http-nio-8080-exec-3","level":"INFO","level_value":20000,"http":{"method":"GET","status":200,"path":"/api/orders"}}`)
}

func BenchmarkLogfmt(b *testing.B) {
	benchParser(b, Logfmt{Location: time.UTC}, `at=info method=GET path="/orders/42" host=shop.example.com request_id=c1f5d9f3-1b0b-4b8c-9d1e-4e2e1c3d2b1a fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=1548 protocol=https`)
}

func BenchmarkSyslog5424(b *testing.B) {
	benchParser(b, Syslog{Location: time.UTC}, `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 4242 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry that is about this long`)
}

func BenchmarkSyslog3164(b *testing.B) {
	benchParser(b, Syslog{Location: time.UTC}, `<34>Oct 11 22:14:15 mymachine sshd[12345]: Accepted publickey for deploy from 192.0.2.10 port 50514 ssh2: ED25519 SHA256:abc`)
}

func BenchmarkSplitSyslog(b *testing.B) {
	var stream bytes.Buffer
	msg := `<165>1 2003-10-11T22:14:15.003Z host app 1 - - a message of some length for the benchmark`
	for i := 0; i < 10000; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&stream, "%d %s", len(msg), msg)
		} else {
			stream.WriteString(msg + "\n")
		}
	}
	b.SetBytes(int64(stream.Len()))
	cpu0 := cpuTime()
	for b.Loop() {
		sc := bufio.NewScanner(bytes.NewReader(stream.Bytes()))
		sc.Split(SplitSyslog(0))
		sc.Buffer(make([]byte, 64<<10), DefaultMaxFrame+16)
		n := 0
		for sc.Scan() {
			n++
		}
		if n != 10000 {
			b.Fatalf("%d frames", n)
		}
	}
	reportRate(b, float64(b.N)*10000, "frames", cpu0)
}
