package selflog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"corral/internal/api"
)

func TestCollector(t *testing.T) {
	var text bytes.Buffer
	c := New("node-1", slog.LevelInfo, 100)
	log := slog.New(c.Handler(slog.NewTextHandler(&text, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.With("component", "agent").WithGroup("task").Info("task started", "id", "t1", "app", "shop/api")
	log.Debug("not collected")
	log.Warn("disk", slog.Group("fs", "mount", "/"))

	var mu sync.Mutex
	var got []api.LogEntry
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Run(ctx, func(es []api.LogEntry) error {
		mu.Lock()
		got = append(got, es...)
		mu.Unlock()
		return nil
	})
	if len(got) != 2 {
		t.Fatalf("collected %d entries, want 2: %+v", len(got), got)
	}
	e := got[0]
	if e.Node != "node-1" || e.Source != "corral" || e.Level != "info" || e.Message != "task started" ||
		e.Fields["component"] != "agent" || e.Fields["task.id"] != "t1" || e.Fields["task.app"] != "shop/api" {
		t.Errorf("first entry %+v", e)
	}
	if got[1].Level != "warn" || got[1].Fields["fs.mount"] != "/" {
		t.Errorf("second entry %+v", got[1])
	}
	if !strings.Contains(text.String(), "not collected") || !strings.Contains(text.String(), "task started") {
		t.Errorf("the wrapped handler did not get every record:\n%s", text.String())
	}
}

func TestCollectorDropsWhenFullAndSkipsSinkRecords(t *testing.T) {
	c := New("n", slog.LevelInfo, 2)
	log := slog.New(c.Handler(slog.DiscardHandler))
	for range 5 {
		log.Info("x")
	}
	if c.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", c.Dropped())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	c.Run(ctx, func(es []api.LogEntry) error {
		calls++
		log.Warn("sink failed") // logged from inside the sink: not collected again
		return errors.New("down")
	})
	if calls != 1 || len(c.queue) != 0 {
		t.Errorf("sink called %d times, %d queued after; want 1 and 0", calls, len(c.queue))
	}
}
