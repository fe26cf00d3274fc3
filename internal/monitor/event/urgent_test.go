package event

import (
	"context"
	"testing"
	"time"

	"corral/internal/api"
)

type nopNotifier struct{}

func (nopNotifier) Expand([]string) []api.HandlerSpec                        { return nil }
func (nopNotifier) Notify(context.Context, api.HandlerSpec, api.Event) error { return nil }

// TestUrgentLane: a non-ok result skips ahead of queued results of other
// checks, but never ahead of a queued result of its own check.
func TestUrgentLane(t *testing.T) {
	p, err := New(Config{Store: NewMemStore(), Notifier: nopNotifier{}, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	submit := func(entity, check string, status int) {
		t.Helper()
		if err := p.Submit(ctx, api.CheckResult{Entity: entity, Check: check, Status: status, Executed: 1}); err != nil {
			t.Fatal(err)
		}
	}
	submit("a", "disk", 0) // ok: queue in
	submit("b", "disk", 2) // failing, nothing of b/disk queued: urgent
	submit("a", "disk", 2) // failing, but a/disk has a queued result: in, after it
	submit("b", "disk", 0) // ok: in
	if len(p.urgent) != 1 || len(p.in) != 3 {
		t.Fatalf("urgent %d, in %d; want 1 and 3", len(p.urgent), len(p.in))
	}
	if got := p.pending["a/disk"]; got != 2 {
		t.Errorf("pending a/disk = %d, want 2", got)
	}

	run, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(run) }()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Per check, the last submitted result wins: order was kept.
	for _, c := range []struct {
		entity string
		status int
	}{{"a", 2}, {"b", 0}} {
		ev, ok := p.Get(c.entity, "disk")
		if !ok || ev.Status != c.status || len(ev.History) != 2 {
			t.Errorf("%s/disk: %+v, want status %d after 2 results", c.entity, ev, c.status)
		}
	}
	if len(p.pending) != 0 {
		t.Errorf("pending left: %v", p.pending)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
