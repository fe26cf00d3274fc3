package forward

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
)

// benchEntries are access-log-like entries with a few parsed fields.
func benchEntries(n int) []api.LogEntry {
	out := make([]api.LogEntry, n)
	for i := range out {
		out[i] = api.LogEntry{Time: t0.Add(time.Duration(i) * time.Millisecond), Node: "web" + strconv.Itoa(i%8), Source: "file:/var/log/nginx/access.log",
			App: "shop/web", Level: "info",
			Message: `10.0.0.` + strconv.Itoa(i%250) + ` - - [25/Nov/2026:18:00:00 +0000] "GET /product/` + strconv.Itoa(i) + ` HTTP/1.1" 200 5123 "-" "Mozilla/5.0"`,
			Fields:  map[string]string{"client": "10.0.0.1", "method": "GET", "path": "/product/" + strconv.Itoa(i), "status": "200", "bytes": "5123"}}
	}
	return out
}

// discardES answers every _bulk request with errors:false.
func discardES() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"took":0,"errors":false,"items":[]}`)
	}))
}

func reportRate(b *testing.B, entries int) {
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkEncode(b *testing.B) {
	in := benchEntries(500)
	for _, tt := range []struct {
		name   string
		encode func([]byte, []api.LogEntry) []byte
	}{
		{"elasticsearch", (&bulkEncoder{pattern: api.DefaultLogOutputIndex}).encode},
		{"loki", newLokiEncoder(nil).encode},
		{"logstash", (&jsonLinesEncoder{}).encode},
		{"syslog", (&syslogEncoder{facility: 1}).encode},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var buf []byte
			for b.Loop() {
				buf = tt.encode(buf[:0], in)
			}
			b.SetBytes(int64(len(buf)))
			reportRate(b, b.N*len(in))
		})
	}
}

// BenchmarkSendElasticsearch encodes and posts batches of 500 entries to a
// local Elasticsearch stand-in that discards them.
func BenchmarkSendElasticsearch(b *testing.B) {
	srv := discardES()
	defer srv.Close()
	s, err := newElastic(esSpec(srv.URL), Options{Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	in := benchEntries(500)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.send(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N*len(in))
}

// BenchmarkForwardElasticsearch is the whole path: Offer (match, spool with
// fsync) in calls of 500 entries from 1 or 4 goroutines (concurrent Offers
// share fsyncs), and Run (read, decode, encode, post, ack) to a local
// Elasticsearch stand-in that discards them. The time includes sending
// everything offered.
func BenchmarkForwardElasticsearch(b *testing.B) {
	for _, offerers := range []int{1, 4} {
		b.Run("offerers="+strconv.Itoa(offerers), func(b *testing.B) {
			srv := discardES()
			defer srv.Close()
			spec := esSpec(srv.URL)
			spec.Match = "app:shop/*"
			f, err := New(spec, b.TempDir(), Options{Timeout: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx) }()
			in := benchEntries(500)
			n := b.N * len(in)
			b.ResetTimer()
			var wg sync.WaitGroup
			for g := range offerers {
				wg.Go(func() {
					for i := g; i < b.N; i += offerers {
						f.Offer(in)
					}
				})
			}
			wg.Wait()
			for f.Stats().Sent < uint64(n) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			reportRate(b, n)
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			f.Close()
		})
	}
}

// BenchmarkOffer is Offer alone (match, encode, spool with fsync) in calls
// of 500 entries.
func BenchmarkOffer(b *testing.B) {
	spec := esSpec("http://127.0.0.1:1")
	spec.Match = "app:shop/*"
	f, err := New(spec, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	in := benchEntries(500)
	for b.Loop() {
		f.Offer(in)
	}
	reportRate(b, b.N*len(in))
}
