package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// carbonSink is a carbon plaintext destination on loopback that records
// the lines it receives, across connections.
type carbonSink struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
}

func newCarbonSink(t *testing.T) *carbonSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := &carbonSink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					cs.mu.Lock()
					cs.lines = append(cs.lines, sc.Text())
					cs.mu.Unlock()
				}
			}()
		}
	}()
	return cs
}

// names returns the distinct metric names received, sorted.
func (cs *carbonSink) names() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, l := range cs.lines {
		if f := strings.Fields(l); len(f) == 3 && !seen[f[0]] {
			seen[f[0]] = true
			out = append(out, f[0])
		}
	}
	sort.Strings(out)
	return out
}

func (cs *carbonSink) has(line string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, l := range cs.lines {
		if l == line {
			return true
		}
	}
	return false
}

// TestMetricsRelay runs a server relaying every point to one destination
// (--metrics-relay) and, by carbon relay rules, points under relay.a. to a
// second one; both receive exactly their points as carbon plaintext, and
// the server stores them too.
func TestMetricsRelay(t *testing.T) {
	all, onlyA := newCarbonSink(t), newCarbonSink(t)
	rules := filepath.Join(t.TempDir(), "relay-rules.conf")
	err := os.WriteFile(rules, []byte(fmt.Sprintf(`[a]
pattern = ^relay\.a\.
destinations = %s

[rest]
default = true
destinations = %s
`, onlyA.ln.Addr(), all.ln.Addr())), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	srv := StartServer(t, ServerOptions{Args: []string{"--metrics-relay", all.ln.Addr().String(), "--metrics-relay-rules", rules}})
	ts := time.Now().Unix() - 60
	conn, err := net.Dial("tcp", srv.CarbonAddr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "relay.a.x 1 %d\nrelay.b.y 2.5 %d\n", ts, ts)
	conn.Close()

	eventually(t, 10*time.Second, func() error {
		if got := strings.Join(all.names(), ","); !strings.Contains(got, "relay.a.x") || !strings.Contains(got, "relay.b.y") {
			return fmt.Errorf("all-points destination got %q", got)
		}
		if got := strings.Join(onlyA.names(), ","); got != "relay.a.x" {
			return fmt.Errorf("relay.a destination got %q, want relay.a.x only", got)
		}
		return nil
	})
	for _, line := range []string{fmt.Sprintf("relay.a.x 1 %d", ts), fmt.Sprintf("relay.b.y 2.5 %d", ts)} {
		if !all.has(line) {
			t.Errorf("all-points destination lacks line %q", line)
		}
	}
	checkFind(t, srv, "relay.*.*", []string{"relay.a.x", "relay.b.y"})
}
