package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
)

// seqWriter appends numbered lines ("<prefix> seq=000042 ...") to a file
// at a steady pace until stopped, reopening the file for every line, as a
// logger that follows its path does (a rename rotation takes effect at
// once). Rotations run under its lock, so that no line is written between
// a copytruncate's copy and its truncate.
type seqWriter struct {
	path, prefix string
	mu           sync.Mutex
	n            int
	stop         chan struct{}
	done         chan struct{}
	err          error
}

func startSeqWriter(path, prefix string, every time.Duration) *seqWriter {
	w := &seqWriter{path: path, prefix: prefix, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			w.mu.Lock()
			err := w.write()
			w.mu.Unlock()
			if err != nil {
				w.err = err
				return
			}
		}
	}()
	return w
}

func (w *seqWriter) write() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	w.n++
	_, err = fmt.Fprintf(f, "%s seq=%06d some payload to make the line longer\n", w.prefix, w.n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Stop stops the writer and returns how many lines it wrote.
func (w *seqWriter) Stop(t *testing.T) int {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatalf("writer of %s: %v", w.path, w.err)
	}
	return w.n
}

// locked runs fn between two lines.
func (w *seqWriter) locked(fn func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fn()
}

// countSeq counts the distinct sequence numbers of entries (seq=N in the
// message) and the entries beyond the first of each, and returns the
// numbers from 1 to n that are missing.
func countSeq(t *testing.T, es []api.LogEntry, n int) (distinct, dups int, missing []int, dupRanges string) {
	t.Helper()
	seen := map[int]int{}
	for _, e := range es {
		_, rest, ok := strings.Cut(e.Message, "seq=")
		if !ok || len(rest) < 6 {
			t.Errorf("entry without a sequence number: %q", e.Message)
			continue
		}
		k, err := strconv.Atoi(rest[:6])
		if err != nil {
			t.Errorf("entry with a bad sequence number: %q", e.Message)
			continue
		}
		seen[k]++
	}
	for k, c := range seen {
		if k < 1 || k > n {
			t.Errorf("sequence number %d was never written (1..%d)", k, n)
		}
		dups += c - 1
	}

	for k := 1; k <= n; k++ {
		if seen[k] == 0 {
			missing = append(missing, k)
		}
	}
	return len(seen), dups, missing, seqRanges(seen)
}

// seqRanges writes the sequence numbers seen more than once as ranges
// ("120-180 x2, 990 x3").
func seqRanges(seen map[int]int) string {
	var keys []int
	for k, c := range seen {
		if c > 1 {
			keys = append(keys, k)
		}
	}
	sort.Ints(keys)
	var parts []string
	for i := 0; i < len(keys); {
		j := i
		for j+1 < len(keys) && keys[j+1] == keys[j]+1 && seen[keys[j+1]] == seen[keys[i]] {
			j++
		}
		r := strconv.Itoa(keys[i])
		if j > i {
			r += "-" + strconv.Itoa(keys[j])
		}
		parts = append(parts, fmt.Sprintf("%s x%d", r, seen[keys[i]]))
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// waitSeq waits until every line 1..n matching q arrived, and reports the
// duplicates.
func (e *logsEnv) waitSeq(t *testing.T, q string, n int) (dups int) {
	t.Helper()
	var distinct int
	var missing []int
	var ranges string
	deadline := time.Now().Add(90 * time.Second)
	for {
		es := e.all(t, q)
		distinct, dups, missing, ranges = countSeq(t, es, n)
		if distinct == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if distinct != n {
		if len(missing) > 20 {
			missing = missing[:20]
		}
		t.Errorf("%s: %d distinct lines of %d arrived; missing (first 20) %v", q, distinct, n, missing)
	}
	t.Logf("%s: %d lines written, %d distinct arrived, %d duplicates (%s)", q, n, distinct, dups, ranges)
	return dups
}

// waitFirstLine waits until one line of q arrived: the input follows its
// file.
func (e *logsEnv) waitFirstLine(t *testing.T, q string) {
	t.Helper()
	eventually(t, logsWait, func() error {
		if len(e.page(t, q, 1)) == 0 {
			return fmt.Errorf("no entry matches %q yet", q)
		}
		return nil
	})
}

// TestLogsRotation rotates two files while a writer writes steadily: one
// by rename (app.log → app.log.N, a new app.log), one by copytruncate
// (copied to app.log.N, then truncated). Every line arrives.
func TestLogsRotation(t *testing.T) {
	env := startLogsEnv(t, "logs-rotate")
	renameDir, copyDir := t.TempDir(), t.TempDir()
	renamed := filepath.Join(renameDir, "app.log")
	copied := filepath.Join(copyDir, "app.log")
	env.applyLogInput(t, "rot-rename", renamed, "none", map[string]string{"rot": "rename"})
	env.applyLogInput(t, "rot-copy", copied, "none", map[string]string{"rot": "copy"})
	wr := startSeqWriter(renamed, "rename", 3*time.Millisecond)
	wc := startSeqWriter(copied, "copy", 3*time.Millisecond)
	defer func() {
		select {
		case <-wr.stop:
		default:
			close(wr.stop)
		}
		select {
		case <-wc.stop:
		default:
			close(wc.stop)
		}
	}()
	env.waitFirstLine(t, "rot:rename")
	env.waitFirstLine(t, "rot:copy")
	for i := 1; i <= 4; i++ {
		time.Sleep(700 * time.Millisecond)
		if err := wr.locked(func() error {
			return os.Rename(renamed, fmt.Sprintf("%s.%d", renamed, i))
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		if err := wc.locked(func() error { return copyTruncate(copied, fmt.Sprintf("%s.%d", copied, i)) }); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(700 * time.Millisecond)
	nr, nc := wr.Stop(t), wc.Stop(t)
	env.waitSeq(t, "rot:rename", nr)
	env.waitSeq(t, "rot:copy", nc)
}

// copyTruncate does what logrotate's copytruncate does: copy the file,
// then truncate it to zero.
func copyTruncate(path, copyPath string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(copyPath, b, 0o644); err != nil {
		return err
	}
	return os.Truncate(path, 0)
}

// TestLogsRestarts writes steadily while the agent is killed (SIGKILL)
// and started again, and while the server is killed and started again:
// every line arrives at least once; the duplicates are reported.
func TestLogsRestarts(t *testing.T) {
	env := startLogsEnv(t, "logs-restart")
	path := filepath.Join(t.TempDir(), "app.log")
	env.applyLogInput(t, "restarts", path, "none", map[string]string{"it": "restart"})
	w := startSeqWriter(path, "restart", 5*time.Millisecond)
	defer func() {
		select {
		case <-w.stop:
		default:
			close(w.stop)
		}
	}()
	env.waitFirstLine(t, "it:restart")

	mark := func(what string) {
		w.mu.Lock()
		t.Logf("%s after line %d", what, w.n)
		w.mu.Unlock()
	}
	time.Sleep(time.Second)
	mark("agent killed")
	env.agent.Kill()
	time.Sleep(time.Second)
	env.agent.Restart()
	env.agent.WaitReady()
	time.Sleep(2 * time.Second)

	mark("server killed")
	env.srv.Kill()
	time.Sleep(2 * time.Second)
	env.srv.Restart()
	env.agent.WaitReady()
	time.Sleep(time.Second)

	// Both at once: the agent comes back while the server is away.
	mark("agent and server killed")
	env.agent.Kill()
	env.srv.Kill()
	env.agent.Restart()
	time.Sleep(2 * time.Second)
	env.srv.Restart()
	env.agent.WaitReady()
	time.Sleep(time.Second)

	n := w.Stop(t)
	dups := env.waitSeq(t, "it:restart", n)
	t.Logf("restarts: %d lines written, %d duplicates (at least once)", n, dups)
}
