package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/spool"
)

// inputAgent is an Agent with only what the file inputs use: a data dir,
// a spool and assignments.
func inputAgent(t *testing.T) *Agent {
	t.Helper()
	dir := t.TempDir()
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "spool"), MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return &Agent{cfg: Config{DataDir: dir, Now: time.Now}, log: slog.New(slog.DiscardHandler),
		spool: sp, assignments: map[string]json.RawMessage{}}
}

// spooledLogs reads every "log" entry spooled so far.
func spooledLogs(t *testing.T, a *Agent) []api.LogEntry {
	t.Helper()
	var out []api.LogEntry
	rs, err := a.spool.Read(1<<20, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Type != "log" {
			continue
		}
		var es []api.LogEntry
		if err := json.Unmarshal(r.Data, &es); err != nil {
			t.Fatal(err)
		}
		out = append(out, es...)
	}
	return out
}

// waitLogs waits until n entries are spooled and returns them.
func waitLogs(t *testing.T, a *Agent, n int) []api.LogEntry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		es := spooledLogs(t, a)
		if len(es) >= n || time.Now().After(deadline) {
			return es
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

func TestFileInputCombinedRotationRestart(t *testing.T) {
	a := inputAgent(t)
	logDir := t.TempDir()
	path := filepath.Join(logDir, "access.log")
	line := func(i int) string {
		return fmt.Sprintf(`10.0.0.%d - - [25/Nov/2026:10:00:00 +0000] "GET /p/%d HTTP/1.1" 200 %d "-" "curl/8"`, i%250, i, i)
	}
	var first []string
	for i := 0; i < 100; i++ {
		first = append(first, line(i))
	}
	appendLines(t, path, first...)
	spec := api.LogInputSpec{Name: "web", Type: "file", Paths: []string{filepath.Join(logDir, "*.log")},
		Parser: "combined", FromBeginning: true, Fields: map[string]string{"service": "nginx"}}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.runLogInput(ctx, spec) }()
	waitLogs(t, a, 100)
	// Rotation by rename while writing, then lines in the new file.
	if err := os.Rename(path, filepath.Join(logDir, "access.log.1")); err != nil {
		t.Fatal(err)
	}
	var second []string
	for i := 100; i < 200; i++ {
		second = append(second, line(i))
	}
	appendLines(t, path, second...)
	waitLogs(t, a, 200)
	cancel()
	<-done
	// Lines written while the input is down arrive after its restart, once.
	var third []string
	for i := 200; i < 300; i++ {
		third = append(third, line(i))
	}
	appendLines(t, path, third...)
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { defer close(done); a.runLogInput(ctx, spec) }()
	es := waitLogs(t, a, 300)
	cancel()
	<-done

	seen := map[string]int{}
	for _, e := range es {
		if e.Fields["status"] != "200" || e.Fields["service"] != "nginx" || e.Fields["method"] != "GET" || !strings.HasPrefix(e.Source, "file:"+logDir) {
			t.Fatalf("entry not parsed as combined with the input's fields: %+v", e)
		}
		seen[e.Fields["path"]]++
	}
	for i := 0; i < 300; i++ {
		if n := seen[fmt.Sprintf("/p/%d", i)]; n != 1 {
			t.Errorf("line %d arrived %d times", i, n)
		}
	}
}

func TestFileInputMultiline(t *testing.T) {
	a := inputAgent(t)
	path := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, path,
		`{"level":"error","msg":"boom"}`,
		"  at main.go:10",
		"  at main.go:20",
		`{"level":"info","msg":"ok"}`)
	spec := api.LogInputSpec{Name: "app", Type: "file", Paths: []string{path}, FromBeginning: true,
		Multiline: &api.MultilineSpec{Start: `^\S`, Timeout: api.Duration(1500 * time.Millisecond)}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.runLogInput(ctx, spec)
	es := waitLogs(t, a, 2)
	if len(es) != 2 {
		t.Fatalf("%d entries, want 2: %+v", len(es), es)
	}
	if want := "{\"level\":\"error\",\"msg\":\"boom\"}\n  at main.go:10\n  at main.go:20"; es[0].Message != want {
		t.Errorf("first event %q, want %q", es[0].Message, want)
	}
	if es[1].Message != `{"level":"info","msg":"ok"}` {
		t.Errorf("second event %q (sent after the timeout)", es[1].Message)
	}
}

func TestWantedLogInputsReplaceDefaults(t *testing.T) {
	a := inputAgent(t)
	if w := a.wantedLogInputs(); len(w) != 1 || w["nginx-access"].spec.Parser != "combined" {
		t.Fatalf("defaults: %+v", w)
	}
	mine, _ := json.Marshal(api.LogInputSpec{Name: "nginx-access", Type: "file", Paths: []string{"/srv/nginx/access.log"}, Parser: "combined"})
	a.assignments["loginput/nginx-access"] = mine
	a.assignments["loginput/bad"] = json.RawMessage(`{"name":"bad","type":"file"}`)
	w := a.wantedLogInputs()
	if len(w) != 1 || w["nginx-access"].spec.Paths[0] != "/srv/nginx/access.log" {
		t.Fatalf("an assigned input of the same name replaces the default; a bad one is ignored: %+v", w)
	}
}
