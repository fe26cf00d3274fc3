package tail

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// collector records delivered lines.
type collector struct {
	mu    sync.Mutex
	lines []string
	count map[string]int
	fail  int // refuse this many batches first
}

func newCollector() *collector { return &collector{count: map[string]int{}} }

func (c *collector) out(batch []Line) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return fmt.Errorf("spool full")
	}
	for _, l := range batch {
		s := string(l.Data)
		c.lines = append(c.lines, s)
		c.count[s]++
	}
	return nil
}

func (c *collector) has(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count[s] > 0
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// waitFor polls cond until it holds; the deadline only bounds a failing
// test, nothing is asserted about time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runTailer runs tl in the background; the returned stop cancels it and
// waits for Run to return.
func runTailer(t *testing.T, tl *Tailer, c *collector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx, c.out) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// fakeClock is a settable Now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func stepN(t *testing.T, tl *Tailer, c *collector) {
	t.Helper()
	if _, err := tl.step(context.Background(), c.out); err != nil {
		t.Fatal(err)
	}
}

func TestAppendAndPartialLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "a\r\nb\n\npar")
	clk := newFakeClock()
	tl := New(Options{Patterns: []string{path}, FromBeginning: true, Now: clk.now})
	t.Cleanup(tl.closeAll)
	c := newCollector()
	tl.start()
	stepN(t, tl, c)
	if got := c.snapshot(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("lines %q, want a, b (the partial line held back, the empty one dropped)", got)
	}
	stepN(t, tl, c)
	if got := c.snapshot(); len(got) != 2 {
		t.Fatalf("a partial line was emitted: %q", got)
	}
	appendFile(t, path, "tial\nnext")
	stepN(t, tl, c)
	if got := c.snapshot(); !slices.Equal(got, []string{"a", "b", "partial"}) {
		t.Fatalf("lines %q, want a, b, partial", got)
	}
	if s := tl.Stats(); s.Lines != 3 || s.Files != 1 {
		t.Errorf("stats %+v, want 3 lines and 1 file", s)
	}
}

func TestStartAtEndOfNeverFollowedPattern(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.log")
	appendFile(t, old, "history 1\nhistory 2\nbeing writ")
	clk := newFakeClock()
	state := filepath.Join(dir, "state", "tail.json")
	tl := New(Options{Patterns: []string{filepath.Join(dir, "*.log")}, StatePath: state, Poll: time.Second, Now: clk.now})
	t.Cleanup(tl.closeAll)
	c := newCollector()
	tl.start()
	stepN(t, tl, c)
	appendFile(t, old, "ten\nnew line\n")
	// A file created after the start is read from its beginning.
	appendFile(t, filepath.Join(dir, "new.log"), "first of new\n")
	clk.add(time.Second)
	stepN(t, tl, c)
	stepN(t, tl, c)
	got := c.snapshot()
	slices.Sort(got)
	if want := []string{"being written", "first of new", "new line"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}

	// The pattern is known now: after a restart a file found for the
	// first time is read from its start, even one older than the restart.
	tl.maybeSave(true)
	tl.closeAll()
	appendFile(t, filepath.Join(dir, "while-stopped.log"), "x1\nx2\n")
	tl2 := New(Options{Patterns: []string{filepath.Join(dir, "*.log")}, StatePath: state, Now: clk.now})
	t.Cleanup(tl2.closeAll)
	c2 := newCollector()
	tl2.start()
	stepN(t, tl2, c2)
	if got := c2.snapshot(); !slices.Equal(got, []string{"x1", "x2"}) {
		t.Fatalf("after restart: lines %q, want x1, x2", got)
	}
}

func TestRestartFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "tail.json")
	var sb strings.Builder
	for i := range 100 {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	appendFile(t, path, sb.String())
	opts := Options{Patterns: []string{path}, StatePath: state, Poll: 5 * time.Millisecond, FromBeginning: true, BatchLines: 7}
	c := newCollector()
	c.fail = 3 // the spool refuses the first batches: they are offered again
	stop := runTailer(t, New(opts), c)
	waitFor(t, "100 lines", func() bool { return c.has("line 99") })
	stop()
	if got := c.snapshot(); len(got) != 100 {
		t.Fatalf("%d lines delivered, want 100", len(got))
	}

	sb.Reset()
	for i := 100; i < 150; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	appendFile(t, path, sb.String())
	c2 := newCollector()
	stop = runTailer(t, New(opts), c2)
	waitFor(t, "line 149", func() bool { return c2.has("line 149") })
	stop()
	got := c2.snapshot()
	if len(got) != 50 || got[0] != "line 100" || got[49] != "line 149" {
		t.Fatalf("after restart %d lines (%q ... %q), want exactly lines 100..149", len(got), got[0], got[len(got)-1])
	}

	// A third start with nothing new sends nothing.
	c3 := newCollector()
	tl := New(opts)
	tl.start()
	stepN(t, tl, c3)
	tl.closeAll()
	if got := c3.snapshot(); len(got) != 0 {
		t.Fatalf("restart without new lines re-sent %d lines", len(got))
	}
}

func TestGlobPicksUpNewFiles(t *testing.T) {
	dir := t.TempDir()
	c := newCollector()
	state := filepath.Join(dir, "state.json")
	runTailer(t, New(Options{Patterns: []string{filepath.Join(dir, "*.log"), filepath.Join(dir, "sub", "*.txt")},
		StatePath: state, Poll: 5 * time.Millisecond}), c)
	// Files that exist at the first start begin at their end; these are
	// created after it (the state file is written once it has started).
	waitFor(t, "the tailer to start", func() bool { _, err := os.Stat(state); return err == nil })
	for i := range 5 {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("f%d.log", i)), fmt.Sprintf("from f%d\n", i))
	}
	appendFile(t, filepath.Join(dir, "ignored.txt"), "no\n")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "sub", "x.txt"), "from sub\n")
	defer func() { t.Logf("got %q", c.snapshot()) }()
	waitFor(t, "six files", func() bool {
		return c.has("from f0") && c.has("from f4") && c.has("from sub") && len(c.snapshot()) >= 6
	})
	got := c.snapshot()
	slices.Sort(got)
	if want := []string{"from f0", "from f1", "from f2", "from f3", "from f4", "from sub"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

func TestHugeLineTruncated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte("x"), 10<<20)
	f.Write([]byte("before\n"))
	f.Write(huge)
	f.Write([]byte("\nafter\n"))
	f.Close()
	tl := New(Options{Patterns: []string{path}, FromBeginning: true, MaxLine: 1024})
	t.Cleanup(tl.closeAll)
	var lines []Line
	tl.start()
	for range 100 {
		if _, err := tl.step(context.Background(), func(b []Line) error {
			for _, l := range b {
				l.Data = bytes.Clone(l.Data)
				lines = append(lines, l)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	want := strings.Repeat("x", 1024) + " …[truncated 10484736 bytes]" // 10 MiB - 1024
	if string(lines[1].Data) != want || !lines[1].Truncated {
		t.Errorf("huge line: %d bytes ending %q, truncated %v; want %d bytes", len(lines[1].Data),
			lines[1].Data[max(len(lines[1].Data)-40, 0):], lines[1].Truncated, len(want))
	}
	if string(lines[0].Data) != "before" || string(lines[2].Data) != "after" || lines[2].Truncated {
		t.Errorf("neighbours %q, %q", lines[0].Data, lines[2].Data)
	}
	if wantOff := int64(7 + 10<<20 + 1); lines[1].Offset != wantOff {
		t.Errorf("huge line ends at %d, want %d", lines[1].Offset, wantOff)
	}
}

func TestRotatedFileFinishedWithPartialLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "a\nno newline")
	clk := newFakeClock()
	tl := New(Options{Patterns: []string{path}, FromBeginning: true, Poll: time.Second, CloseRotated: 5 * time.Second, Now: clk.now})
	t.Cleanup(tl.closeAll)
	c := newCollector()
	tl.start()
	stepN(t, tl, c)
	appendFile(t, path, " yet")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "b\n")
	clk.add(time.Second)
	stepN(t, tl, c) // notices the rename, reads the new file
	appendFile(t, path+".1", ", late writer\n")
	clk.add(2 * time.Second)
	stepN(t, tl, c) // the old file still grows: its line completes
	appendFile(t, path+".1", "tail without newline")
	stepN(t, tl, c)
	if got := tl.Stats().Files; got != 2 {
		t.Fatalf("%d files open before the grace period ends, want 2", got)
	}
	clk.add(5 * time.Second)
	stepN(t, tl, c) // idle for CloseRotated: its partial line goes out, it closes
	got := c.snapshot()
	if want := []string{"a", "b", "no newline yet, late writer", "tail without newline"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	if s := tl.Stats(); s.Files != 1 || s.Rotations != 1 {
		t.Errorf("stats %+v, want 1 file open and 1 rotation", s)
	}
}

// writeLines writes lines "gen G line I" to the file at path, opened with
// O_APPEND like a logger's; at the middle of each generation it waits for
// the tailer to have read one of them, so every generation is followed.
func lineName(gen, i int) string { return fmt.Sprintf("gen %d line %04d", gen, i) }

func TestRenameRotationWhileWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	const gens, perGen = 5, 1000
	c := newCollector()
	runTailer(t, New(Options{Patterns: []string{path}, StatePath: filepath.Join(dir, "st.json"),
		Poll: 5 * time.Millisecond, CloseRotated: 50 * time.Millisecond, FromBeginning: true, BatchLines: 64}), c)
	for g := range gens {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := range perGen {
			fmt.Fprintf(f, "%s\n", lineName(g, i))
			if i == perGen/2 {
				waitFor(t, "the tailer to follow generation "+fmt.Sprint(g), func() bool { return c.has(lineName(g, 0)) })
			}
		}
		f.Close()
		// logrotate's rename: the old file moves away, the next is created.
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every line", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.count) == gens*perGen
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for g := range gens {
		for i := range perGen {
			if n := c.count[lineName(g, i)]; n != 1 {
				t.Errorf("%s delivered %d times", lineName(g, i), n)
			}
		}
	}
	if len(c.lines) != gens*perGen {
		t.Errorf("%d lines delivered, want %d", len(c.lines), gens*perGen)
	}
}

func TestCopytruncateWhileWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	const rounds, perRound = 5, 1000
	c := newCollector()
	runTailer(t, New(Options{Patterns: []string{path}, Poll: 5 * time.Millisecond, FromBeginning: true, BatchLines: 64}), c)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for r := range rounds {
		for i := range perRound {
			fmt.Fprintf(f, "%s\n", lineName(r, i))
			if i == perRound/2 {
				waitFor(t, "the tailer to read round "+fmt.Sprint(r), func() bool { return c.has(lineName(r, 0)) })
			}
		}
		// logrotate's copytruncate: copy the file, then truncate it in
		// place while the writer keeps its descriptor.
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fmt.Sprintf("%s.%d", path, r+1), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every line", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.count) == rounds*perRound
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	dups := 0
	for r := range rounds {
		for i := range perRound {
			if n := c.count[lineName(r, i)]; n == 0 {
				t.Errorf("%s lost", lineName(r, i))
			} else {
				dups += n - 1
			}
		}
	}
	for l := range c.count {
		if !strings.HasPrefix(l, "gen ") || len(l) != len(lineName(0, 0)) {
			t.Errorf("delivered a line that was never written: %q", l)
		}
	}
	t.Logf("%d lines delivered, %d duplicates", len(c.lines), dups)
}

func TestRotationWhileStopped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "st.json")
	appendFile(t, path, "one\ntwo\n")
	opts := Options{Patterns: []string{path}, StatePath: state, Poll: 5 * time.Millisecond, FromBeginning: true}
	c := newCollector()
	stop := runTailer(t, New(opts), c)
	waitFor(t, "two", func() bool { return c.has("two") })
	stop()
	// While stopped: more lines, then a rename rotation, then a new file.
	appendFile(t, path, "three\nfour\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "five\n")
	stop = runTailer(t, New(opts), c)
	waitFor(t, "four and five", func() bool { return c.has("four") && c.has("five") })
	stop()
	got := c.snapshot()
	slices.Sort(got)
	if want := []string{"five", "four", "one", "three", "two"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want each of %q once", got, want)
	}
}

func TestTruncatedWhileStopped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	opts := Options{Patterns: []string{path}, StatePath: filepath.Join(dir, "st.json"), Poll: 5 * time.Millisecond, FromBeginning: true}
	appendFile(t, path, "one\ntwo\n")
	c := newCollector()
	stop := runTailer(t, New(opts), c)
	waitFor(t, "two", func() bool { return c.has("two") })
	stop()
	appendFile(t, path, "three\n")
	b, _ := os.ReadFile(path)
	os.WriteFile(path+".1", b, 0o644)
	os.Truncate(path, 0)
	appendFile(t, path, "four\n")
	stop = runTailer(t, New(opts), c)
	waitFor(t, "three and four", func() bool { return c.has("three") && c.has("four") })
	stop()
	got := c.snapshot()
	slices.Sort(got)
	if want := []string{"four", "one", "three", "two"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want each of %q once", got, want)
	}
}

func TestBadPattern(t *testing.T) {
	if err := New(Options{Patterns: []string{"[x"}}).Run(context.Background(), newCollector().out); err == nil {
		t.Fatal("Run with a bad pattern succeeded")
	}
}

func TestReplacedFileReadFromStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	opts := Options{Patterns: []string{path}, StatePath: filepath.Join(dir, "st.json"), Poll: 5 * time.Millisecond, FromBeginning: true}
	appendFile(t, path, "old one\nold two\nold three\n")
	c := newCollector()
	stop := runTailer(t, New(opts), c)
	waitFor(t, "old three", func() bool { return c.has("old three") })
	stop()
	// Replaced while stopped: the new file may get the old inode back, but
	// not the old first bytes, so the checkpoint's offset does not apply.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "new line 1\nnew line 2\nnew line 3\nnew line 4\n") // longer than the old offset
	c2 := newCollector()
	stop = runTailer(t, New(opts), c2)
	waitFor(t, "new line 4", func() bool { return c2.has("new line 4") })
	stop()
	if got, want := c2.snapshot(), []string{"new line 1", "new line 2", "new line 3", "new line 4"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

func TestCheckpointOfAnotherFileWithTheSameInode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "first line of the new file\nsecond\n")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint of an earlier file that had this inode: same key,
	// other first bytes, an offset inside the new file.
	k := keyOf(fi)
	statePath := filepath.Join(dir, "st.json")
	if err := saveState(statePath, state{Patterns: []string{path},
		Files: []stateEntry{{Path: path, Dev: k.Dev, Ino: k.Ino, FPLen: 5, FP: 12345, Offset: 10}}}); err != nil {
		t.Fatal(err)
	}
	tl := New(Options{Patterns: []string{path}, StatePath: statePath})
	t.Cleanup(tl.closeAll)
	c := newCollector()
	tl.start()
	stepN(t, tl, c)
	if got, want := c.snapshot(), []string{"first line of the new file", "second"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

func TestPendingLinesHoldTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	other := filepath.Join(dir, "other.log")
	statePath := filepath.Join(dir, "st.json")
	appendFile(t, path, "a\nERROR start\n  at x\n")
	appendFile(t, other, "o1\no2\n")
	opts := Options{Patterns: []string{filepath.Join(dir, "*.log")}, StatePath: statePath, FromBeginning: true}
	// run starts a tailer from the checkpoint, delivers one step with out
	// marking the lines pending that pend says, and returns what it got.
	run := func(pend func(Line) bool) []string {
		tl := New(opts)
		defer tl.closeAll()
		tl.start()
		var got []string
		if _, err := tl.step(context.Background(), func(b []Line) error {
			for i := range b {
				got = append(got, string(b[i].Data))
				b[i].Pending = pend(b[i])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		tl.maybeSave(true)
		slices.Sort(got)
		return got
	}
	// The stack trace is an open multiline event: its lines are pending.
	got := run(func(l Line) bool { d := string(l.Data); return d == "ERROR start" || d == "  at x" })
	if want := []string{"  at x", "ERROR start", "a", "o1", "o2"}; !slices.Equal(got, want) {
		t.Fatalf("first run %q, want %q", got, want)
	}
	// After a restart the open event is read again, the rest is not.
	appendFile(t, path, "next\n")
	got = run(func(Line) bool { return false })
	if want := []string{"  at x", "ERROR start", "next"}; !slices.Equal(got, want) {
		t.Fatalf("after restart %q, want %q", got, want)
	}
	if got = run(func(Line) bool { return false }); len(got) != 0 {
		t.Fatalf("third run re-sent %q", got)
	}
}
