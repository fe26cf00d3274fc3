package tail

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestLogrotate rotates a file that is being written with Debian's
// logrotate, by rename ("create", the writer reopening afterwards as nginx
// does on USR1) and by copytruncate, and checks every line arrives.
func TestLogrotate(t *testing.T) {
	logrotate, err := exec.LookPath("logrotate")
	if err != nil {
		if logrotate, err = exec.LookPath("/usr/sbin/logrotate"); err != nil {
			t.Skip("logrotate not found: install Debian's logrotate to run this test")
		}
	}
	for _, mode := range []string{"create", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			conf := filepath.Join(dir, "logrotate.conf")
			if err := os.WriteFile(conf, []byte(fmt.Sprintf("%s {\n  rotate 20\n  %s\n  nocompress\n  missingok\n}\n", path, mode)), 0o644); err != nil {
				t.Fatal(err)
			}
			c := newCollector()
			runTailer(t, New(Options{Patterns: []string{path}, StatePath: filepath.Join(dir, "state.json"),
				Poll: 5 * time.Millisecond, CloseRotated: 100 * time.Millisecond, FromBeginning: true, BatchLines: 100}), c)

			const rotations, perRotation = 4, 2000
			var mu sync.Mutex // held by the writer while it writes a line
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { f.Close() }()
			written := 0
			write := func(n int) {
				for range n {
					mu.Lock()
					fmt.Fprintf(f, "line %06d\n", written)
					written++
					mu.Unlock()
				}
			}
			for r := range rotations {
				write(perRotation / 2)
				waitFor(t, "the tailer to catch up", func() bool { return c.has(fmt.Sprintf("line %06d", written-1)) })
				write(perRotation / 4) // not read yet when the rotation comes
				var wg sync.WaitGroup
				if mode == "create" {
					// The writer keeps writing to the renamed file while
					// logrotate runs, as a daemon does until it reopens.
					wg.Add(1)
					go func() { defer wg.Done(); write(perRotation / 4) }()
				} else {
					// Between copying and truncating, logrotate itself loses
					// what is written (its documented copytruncate window):
					// the writer pauses so that only the tailer is tested.
					mu.Lock()
				}
				cmd := exec.Command(logrotate, "-f", "-s", filepath.Join(dir, "logrotate.state"), conf)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("logrotate (rotation %d): %v\n%s", r, err, out)
				}
				if mode == "create" {
					wg.Wait()
					f.Close()
					if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
						t.Fatal(err)
					}
				} else {
					mu.Unlock()
					write(perRotation / 4)
				}
			}
			write(10)
			waitFor(t, "every line", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return len(c.count) == written
			})
			c.mu.Lock()
			defer c.mu.Unlock()
			dups := 0
			for i := range written {
				n := c.count[fmt.Sprintf("line %06d", i)]
				if n == 0 {
					t.Errorf("line %06d lost", i)
				}
				dups += max(n-1, 0)
			}
			if mode == "create" && dups > 0 {
				t.Errorf("%d duplicates with rename rotation", dups)
			}
			rotated, _ := filepath.Glob(path + ".*")
			t.Logf("%s: %d lines written, %d delivered, %d duplicates, %d rotated files", mode, written, len(c.lines), dups, len(rotated))
		})
	}
}
