package input

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"

	"corral/internal/api"
	"corral/internal/logs/parse"
)

// filebeatEvent is an event as Filebeat 8 sends it for a line of a log file.
func filebeatEvent(i int) map[string]any {
	return map[string]any{
		"@timestamp": fmt.Sprintf("2024-05-06T07:08:%02d.%03dZ", i%60, i%1000),
		"@metadata":  map[string]any{"beat": "filebeat", "type": "_doc", "version": "8.13.0"},
		"message":    fmt.Sprintf("line %d of the app log", i),
		"log":        map[string]any{"offset": i * 100, "file": map[string]any{"path": "/var/log/app.log"}},
		"host":       map[string]any{"name": "web1"},
		"fields":     map[string]any{"env": "prod"},
		"agent":      map[string]any{"type": "filebeat", "version": "8.13.0"},
		"input":      map[string]any{"type": "filestream"},
	}
}

// wantBeats is what filebeatEvent(i) becomes.
func wantBeats(i int) want {
	return want{
		Time:    time.Date(2024, 5, 6, 7, 8, i%60, (i%1000)*1e6, time.UTC),
		Message: fmt.Sprintf("line %d of the app log", i),
		Fields: map[string]string{"log.file.path": "/var/log/app.log", "log.offset": fmt.Sprint(i * 100),
			"host.name": "web1", "fields.env": "prod", "agent.type": "filebeat", "input.type": "filestream",
			"peer": "127.0.0.1", "@metadata.beat": "<absent>", "@metadata.type": "<absent>", "message": "<absent>", "@timestamp": "<absent>"},
	}
}

func events(from, n int) []any {
	var es []any
	for i := from; i < from+n; i++ {
		es = append(es, filebeatEvent(i))
	}
	return es
}

func newBeats(c *collector) *Beats {
	return &Beats{Addr: "127.0.0.1:0", Node: "n1", Sink: c.sink, Now: clock, Location: time.UTC}
}

func checkBeats(t *testing.T, got []api.LogEntry) {
	t.Helper()
	for i, e := range got {
		checkEntry(t, i, e, wantBeats(i), "n1", "beats")
	}
}

// TestBeatsSyncClient sends windows with go-lumber's synchronous client,
// plain and compressed, and one window larger than a batch.
func TestBeatsSyncClient(t *testing.T) {
	for _, level := range []int{0, 3} {
		t.Run(fmt.Sprintf("compression %d", level), func(t *testing.T) {
			var c collector
			b := newBeats(&c)
			b.MaxBatch = 64
			addr := start(t, b)
			cl, err := lumber.SyncDial(addr, lumber.CompressionLevel(level), lumber.Timeout(30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			sent := 0
			for _, n := range []int{1, 10, 1000, 3} {
				got, err := cl.Send(events(sent, n))
				if err != nil || got != n {
					t.Fatalf("Send(%d events): acked %d, %v", n, got, err)
				}
				sent += n
				if len(c.snapshot()) != sent {
					t.Fatalf("acked %d events but the sink has %d", sent, len(c.snapshot()))
				}
			}
			checkBeats(t, c.wait(t, sent))
			if st := b.Stats(); st.Received != uint64(sent) || st.Malformed != 0 || st.Truncated != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestBeatsAsyncClient pipelines windows with go-lumber's asynchronous
// client, several in flight, compressed.
func TestBeatsAsyncClient(t *testing.T) {
	var c collector
	b := newBeats(&c)
	addr := start(t, b)
	cl, err := lumber.AsyncDial(addr, 4, lumber.CompressionLevel(6), lumber.Timeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const windows, size = 20, 50
	var mu sync.Mutex
	var acked []uint32
	var wg sync.WaitGroup
	for w := range windows {
		wg.Add(1)
		err := cl.Send(func(seq uint32, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("window %d: %v", w, err)
			}
			acked = append(acked, seq)
		}, events(w*size, size))
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	cl.Close()
	for i, seq := range acked {
		if seq != size {
			t.Errorf("window %d acknowledged %d of %d", i, seq, size)
		}
	}
	checkBeats(t, c.wait(t, windows*size))
}

// rawFrame is one 'J' frame with seq and the JSON of v.
func rawFrame(seq uint32, v any) []byte {
	js, _ := json.Marshal(v)
	return rawPayload(seq, js)
}

func rawPayload(seq uint32, js []byte) []byte {
	b := []byte{'2', 'J', 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], seq)
	binary.BigEndian.PutUint32(b[6:], uint32(len(js)))
	return append(b, js...)
}

func rawWindow(n uint32) []byte {
	b := []byte{'2', 'W', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], n)
	return b
}

// readAcks reads acknowledgements until want or the connection's end and
// returns them.
func readAcks(t *testing.T, c net.Conn, until uint32) []uint32 {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var acks []uint32
	for {
		var m [6]byte
		if _, err := io.ReadFull(c, m[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("no ack %d: got %v", until, acks)
			}
			return acks
		}
		if m[0] != '2' || m[1] != 'A' {
			t.Fatalf("not an ack: %q", m)
		}
		acks = append(acks, binary.BigEndian.Uint32(m[2:]))
		if acks[len(acks)-1] == until {
			return acks
		}
	}
}

// TestBeatsDisconnectMidWindow: a sender that sends half a window and goes
// away is acknowledged exactly the events that arrived whole.
func TestBeatsDisconnectMidWindow(t *testing.T) {
	var c collector
	b := newBeats(&c)
	addr := start(t, b)
	conn := dial(t, addr)
	var msg []byte
	msg = append(msg, rawWindow(10)...)
	for i := range 5 {
		msg = append(msg, rawFrame(uint32(i+1), filebeatEvent(i))...)
	}
	sixth := rawFrame(6, filebeatEvent(5))
	msg = append(msg, sixth[:len(sixth)/2]...)
	conn.Write(msg)
	// The input acknowledges the five before it waits for the rest.
	acks := readAcks(t, conn, 5)
	if got := c.snapshot(); len(got) != 5 {
		t.Fatalf("acknowledged 5 (%v) but the sink has %d", acks, len(got))
	}
	conn.(*net.TCPConn).CloseWrite()
	if more := readAcks(t, conn, 1<<31); len(more) != 0 {
		t.Errorf("acks after the disconnect: %v", more)
	}
	eventually(t, "the connection's end", func() bool { return b.Stats().Open == 0 })
	checkBeats(t, c.wait(t, 5))
	if st := b.Stats(); st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestBeatsBadInput sends what breaks the protocol or the limits.
func TestBeatsBadInput(t *testing.T) {
	t.Run("not lumberjack", func(t *testing.T) {
		var c collector
		b := newBeats(&c)
		addr := start(t, b)
		conn := dial(t, addr)
		conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		waitClosed(t, conn)
		eventually(t, "counted", func() bool { return b.Stats().Malformed == 1 })
	})
	t.Run("event over MaxMessage, broken JSON, announced 4 GB", func(t *testing.T) {
		var c collector
		b := newBeats(&c)
		b.MaxMessage = 1024
		addr := start(t, b)
		conn := dial(t, addr)
		big := filebeatEvent(0)
		big["message"] = repeat("m", 5000)
		bigJSON, _ := json.Marshal(big)
		var msg []byte
		msg = append(msg, rawWindow(4)...)
		msg = append(msg, rawPayload(1, bigJSON)...)
		msg = append(msg, rawPayload(2, []byte(`{"message": "broken`))...)
		msg = append(msg, rawPayload(3, []byte("{\"message\":\"caf\xe9\"}"))...)
		hdr := rawPayload(4, nil)
		binary.BigEndian.PutUint32(hdr[6:], 0xFFFFFFFF)
		msg = append(msg, hdr...)
		msg = append(msg, repeat("z", 4096)...)
		conn.Write(msg)
		if acks := readAcks(t, conn, 3); acks[len(acks)-1] != 3 {
			t.Fatalf("acks %v", acks)
		}
		got := c.wait(t, 3)
		wantBig := string(bigJSON[:1024]) + string(parse.AppendMarker(nil, int64(len(bigJSON)-1024)))
		if got[0].Message != wantBig {
			t.Errorf("big event: message %d bytes, want %d", len(got[0].Message), len(wantBig))
		}
		if got[1].Message != `{"message": "broken` || got[2].Message != "caf\uFFFD" {
			t.Errorf("messages %q, %q", got[1].Message, got[2].Message)
		}
		conn.Close()
		eventually(t, "the connection's end", func() bool { return b.Stats().Open == 0 })
		if st := b.Stats(); st.Truncated != 1 || st.Malformed != 1 || st.Received != 3 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		var c collector
		b := newBeats(&c)
		b.IdleTimeout = 50 * time.Millisecond
		addr := start(t, b)
		conn := dial(t, addr)
		conn.Write(rawWindow(1)[:3])
		waitClosed(t, conn)
	})
}

// TestBeatsTLS ships over TLS with go-lumber's client, as Filebeat with
// ssl settings does.
func TestBeatsTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	var c collector
	b := newBeats(&c)
	b.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	addr := start(t, b)
	dialTLS := func(network, address string) (net.Conn, error) {
		return tls.Dial(network, address, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	}
	cl, err := lumber.SyncDialWith(dialTLS, addr, lumber.CompressionLevel(3))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if n, err := cl.Send(events(0, 20)); n != 20 || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	checkBeats(t, c.wait(t, 20))
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "corral test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestBeatsServe checks the protocol core without sockets: a compressed
// frame holding part of a window, then plain frames, and one frame more
// than the window announced in a compressed frame (ignored).
func TestBeatsServe(t *testing.T) {
	var c collector
	b := &Beats{Sink: c.sink, Now: clock, Location: time.UTC}
	var in bytes.Buffer
	in.Write(rawWindow(3))
	in.Write(compressedFrame(t, rawFrame(1, filebeatEvent(0)), rawFrame(2, filebeatEvent(1))))
	in.Write(rawFrame(3, filebeatEvent(2)))
	in.Write(rawWindow(1))
	in.Write(compressedFrame(t, rawFrame(1, filebeatEvent(3)), rawFrame(2, filebeatEvent(99))))
	var out bytes.Buffer
	if err := b.serve(&in, &out, "", 100); err != nil {
		t.Fatal(err)
	}
	got := c.snapshot()
	if len(got) != 4 {
		t.Fatalf("%d entries, want 4", len(got))
	}
	for i, e := range got {
		w := wantBeats(i)
		w.Fields["peer"] = "<absent>"
		checkEntry(t, i, e, w, "", "beats")
	}
	// The bytes.Buffer never blocks, so acks come at each window's end.
	wantAcks := []byte{'2', 'A', 0, 0, 0, 3, '2', 'A', 0, 0, 0, 1}
	if !bytes.Equal(out.Bytes(), wantAcks) {
		t.Errorf("acks %q, want %q", out.Bytes(), wantAcks)
	}
}

func compressedFrame(t testing.TB, frames ...[]byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	for _, f := range frames {
		zw.Write(f)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b := []byte{'2', 'C', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], uint32(z.Len()))
	return append(b, z.Bytes()...)
}

// TestBeatsKeepalive: while the Sink runs, the sender is sent keepalive
// acknowledgements of what was acknowledged before (0 at a window's
// start), and the real acknowledgement once the Sink has returned.
func TestBeatsKeepalive(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []api.LogEntry
	b := &Beats{Addr: "127.0.0.1:0", Keepalive: 5 * time.Millisecond, Now: clock,
		Sink: func(es []api.LogEntry) {
			<-release
			mu.Lock()
			got = append(got, es...)
			mu.Unlock()
		}}
	addr := start(t, b)
	conn := dial(t, addr)
	conn.Write(append(rawWindow(1), rawFrame(1, filebeatEvent(0))...))
	for range 3 {
		if acks := readAcks(t, conn, 0); len(acks) != 1 || acks[0] != 0 {
			t.Fatalf("keepalive acks %v, want [0]", acks)
		}
	}
	close(release)
	acks := readAcks(t, conn, 1)
	if acks[len(acks)-1] != 1 {
		t.Fatalf("acks %v", acks)
	}
	for _, a := range acks[:len(acks)-1] {
		if a != 0 {
			t.Errorf("acks %v: only keepalives of 0 before the ack of 1", acks)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Message != wantBeats(0).Message {
		t.Errorf("sink got %v", got)
	}
}
