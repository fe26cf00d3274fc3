package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

func TestTaskLogs(t *testing.T) {
	n := newTestNode(t)
	n.cleanupTasks(t)
	r, _ := n.runner(t)
	// 1200 numbered lines on stdout, 3 on stderr, a 100 KiB line, and a
	// last line without a newline.
	cmd := `i=1; while [ $i -le 1200 ]; do echo "out $i"; i=$((i+1)); done
echo "err 1" >&2; echo "err 2" >&2; echo "err 3" >&2
head -c 102400 /dev/zero | tr '\0' x; echo
printf "no newline"`
	as := execTask("batch_job.logs", cmd)
	r.apply(assigned(as), true)
	n.rep.waitState(t, as.ID, api.TaskFinished)
	es, sizes := n.rep.logs(t)
	var out, errs []string
	for _, e := range es {
		if e.Source != "task" || e.App != "/batch/job" || e.Task != as.ID || e.Node != "node-1" || e.Time.IsZero() {
			t.Fatalf("entry %+v lacks its source, app, task, node or time", e)
		}
		switch e.Stream {
		case "stdout":
			out = append(out, e.Message)
		case "stderr":
			errs = append(errs, e.Message)
		default:
			t.Fatalf("entry %+v: stream %q", e, e.Stream)
		}
	}
	var want []string
	for i := 1; i <= 1200; i++ {
		want = append(want, fmt.Sprintf("out %d", i))
	}
	long := strings.Repeat("x", maxLogLine) + " …[truncated: line of 102400 bytes]"
	want = append(want, long, "no newline")
	if !slices.Equal(out, want) {
		t.Errorf("stdout: %d lines, want %d; first difference at %d", len(out), len(want), firstDiff(out, want))
	}
	if w := []string{"err 1", "err 2", "err 3"}; !slices.Equal(errs, w) {
		t.Errorf("stderr %q, want %q", errs, w)
	}
	for _, s := range sizes {
		if s > logBatchMax {
			t.Errorf("a log report of %d lines, want at most %d", s, logBatchMax)
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestLineSplitter(t *testing.T) {
	tests := []struct {
		name    string
		chunks  []string
		want    []string
		flushed []string
		commit  int64 // before the flush
	}{
		{"lines in one chunk", []string{"a\nbb\n"}, []string{"a", "bb"}, nil, 5},
		{"a line over chunks", []string{"he", "llo\nwor", "ld\n"}, []string{"hello", "world"}, nil, 12},
		{"crlf", []string{"a\r\n\r\n"}, []string{"a", ""}, nil, 5},
		{"partial at the end", []string{"a\nrest"}, []string{"a"}, []string{"rest"}, 2},
		{"long line", []string{strings.Repeat("é", maxLogLine) + "\nz\n"}, []string{strings.Repeat("é", maxLogLine/2) + " …[truncated: line of 131072 bytes]", "z"}, nil, 2*maxLogLine + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s lineSplitter
			var got []string
			for _, c := range tt.chunks {
				s.feed([]byte(c), func(l string) { got = append(got, l) })
			}
			if !slices.Equal(got, tt.want) || s.committed != tt.commit {
				t.Errorf("lines %q committed %d, want %q %d", got, s.committed, tt.want, tt.commit)
			}
			got = nil
			s.flush(func(l string) { got = append(got, l) })
			if !slices.Equal(got, tt.flushed) {
				t.Errorf("flushed %q, want %q", got, tt.flushed)
			}
		})
	}
}

// tailFiles runs a logTail over sandbox until ended is closed and returns
// the messages reported.
func tailFiles(t testing.TB, dir, sandbox string, during func(got func() []string)) []string {
	t.Helper()
	rep := &reports{}
	b := newLogBatcher(rep.add, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bdone := make(chan struct{})
	go func() { b.run(ctx); close(bdone) }()
	tail := &logTail{task: "t.1", app: "/a", node: "n", dir: dir, batcher: b, now: time.Now, log: slog.New(slog.DiscardHandler)}
	ended := make(chan struct{})
	tdone := make(chan struct{})
	go func() { tail.followFiles(ctx, sandbox, ended); close(tdone) }()
	got := func() []string {
		es, _ := rep.logs(t)
		var out []string
		for _, e := range es {
			out = append(out, e.Stream+":"+e.Message)
		}
		return out
	}
	during(got)
	close(ended)
	<-tdone
	cancel()
	<-bdone
	return got()
}

func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestLogTailRotation follows exec output files through their rotation to
// <file>.1, and across restarts of the tail (the agent's).
func TestLogTailRotation(t *testing.T) {
	dir := t.TempDir()
	sb := filepath.Join(dir, "sandbox")
	os.Mkdir(sb, 0o755)
	out := filepath.Join(sb, "stdout")
	rotate := func(rest string) {
		// As the supervisor's rotatingFile: the old file is complete when
		// renamed; the new one starts empty.
		os.Rename(out, out+".1")
		appendFile(t, out, rest)
	}
	appendFile(t, out, "a\nb\n")
	appendFile(t, filepath.Join(sb, "stderr"), "oops\n")
	got := tailFiles(t, dir, sb, func(got func() []string) {
		eventually(t, "a and b", func() bool { return len(got()) == 3 })
		appendFile(t, out, "c\n") // not read before the rotation
		rotate("d\n")
		eventually(t, "c and d", func() bool { return len(got()) == 5 })
		appendFile(t, out, "a line cut ") // the rotation cuts a line
		rotate("by the rotation\n")
		eventually(t, "the cut line", func() bool { return len(got()) == 6 })
	})
	if want := []string{"stdout:a", "stdout:b", "stderr:oops", "stdout:c", "stdout:d", "stdout:a line cut by the rotation"}; !slices.Equal(got, want) {
		t.Errorf("first tail: %q, want %q", got, want)
	}

	// The agent restarts: a new tail goes on where the old one stopped,
	// also when the file was rotated meanwhile.
	appendFile(t, out, "e\n")
	rotate("f\n")
	got = tailFiles(t, dir, sb, func(got func() []string) {
		eventually(t, "e and f", func() bool { return len(got()) == 2 })
	})
	if want := []string{"stdout:e", "stdout:f"}; !slices.Equal(got, want) {
		t.Errorf("after a restart: %q, want %q", got, want)
	}
	appendFile(t, out, "g\n")
	got = tailFiles(t, dir, sb, func(got func() []string) {
		eventually(t, "g", func() bool { return len(got()) == 1 })
	})
	if want := []string{"stdout:g"}; !slices.Equal(got, want) {
		t.Errorf("after a second restart: %q, want %q", got, want)
	}
}
