package integration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// nodeEvents returns the events of node by check name, from the events list.
func nodeEvents(c *client.Client, node string) (map[string]api.Event, error) {
	evs, err := c.Events(context.Background(), client.EventQuery{Node: node})
	if err != nil {
		return nil, err
	}
	out := map[string]api.Event{}
	for _, ev := range evs {
		if ev.Entity != node {
			return nil, fmt.Errorf("events?node=%s lists %s", node, ev.Key())
		}
		out[ev.Check] = ev
	}
	return out, nil
}

// runAndWait asks node to run check now and waits until its event has one
// more result than before.
func runAndWait(t *testing.T, c *client.Client, node, check string) api.Event {
	t.Helper()
	before, err := c.Event(context.Background(), node, check)
	if err != nil {
		t.Fatalf("event %s/%s: %v", node, check, err)
	}
	asked := time.Now()
	if _, err := c.RunCheck(testCtx(t), check, node); err != nil {
		t.Fatalf("run %s on %s: %v", check, node, err)
	}
	ev := waitEvent(t, c, node, check, 20*time.Second, func(ev api.Event) error {
		if len(ev.History) <= len(before.History) {
			return fmt.Errorf("%s: %d results, no new one yet", ev.Key(), len(ev.History))
		}
		return nil
	})
	t.Logf("run %s now on %s: event updated %s after the request", check, node, time.Since(asked).Round(time.Millisecond))
	return ev
}

// TestAgentChecks covers the agent's side of monitoring: a new node runs
// the default checks with nothing applied, an applied Check replaces the
// default of its name (and its perfdata becomes series), a run asked for
// is done once and not again after the agent restarts, and an agent with
// --checks=false runs none.
func TestAgentChecks(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	ag := StartAgent(t, srv, AgentOptions{Name: "chk-1"})
	off := StartAgent(t, srv, AgentOptions{Name: "chk-off", Args: []string{"--checks=false"}})
	offStarted := time.Now()
	ag.WaitReady()
	off.WaitReady()

	defaults := []string{"cpu", "disk", "load", "memory", "swap"}
	eventually(t, 45*time.Second, func() error {
		evs, err := nodeEvents(admin, "chk-1")
		if err != nil {
			return err
		}
		for _, name := range defaults {
			ev, ok := evs[name]
			if !ok || ev.Executed == 0 {
				return fmt.Errorf("no result of default check %s yet (have %v)", name, slices.Sorted(maps.Keys(evs)))
			}
		}
		return nil
	})

	// An applied Check named like a default replaces it; hourly, it runs
	// when asked to, with its perfdata stored as series.
	apply(t, admin, map[string]any{"kind": "Check", "name": "load", "command": "echo 'LOAD CUSTOM | jobs=7;5;9'; exit 1",
		"interval": "1h", "output_metric_format": api.MetricFormatNagios})
	var ev api.Event
	eventually(t, 30*time.Second, func() error {
		ev = runAndWait(t, admin, "chk-1", "load")
		if ev.Output != "LOAD CUSTOM | jobs=7;5;9\n" {
			return fmt.Errorf("load output %q: still the default (the assignment may not have reached the agent)", ev.Output)
		}
		return nil
	})
	if ev.Status != api.StatusWarning {
		t.Errorf("load status %d, want 1 (warning)", ev.Status)
	}
	eventually(t, 30*time.Second, func() error {
		ms, err := admin.FindMetrics(context.Background(), "corral.chk-1.checks.load.*")
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Path == "corral.chk-1.checks.load.jobs" && m.Leaf {
				return nil
			}
		}
		return fmt.Errorf("no series corral.chk-1.checks.load.jobs; find gives %v", ms)
	})

	// The request stays assigned; a restarted agent does not run it again.
	loadRuns := len(ev.History)
	ag.Kill()
	ag.Restart()
	runAndWait(t, admin, "chk-1", "swap") // the restarted agent has read its assignments
	runAndWait(t, admin, "chk-1", "swap")
	if ev, err := admin.Event(testCtx(t), "chk-1", "load"); err != nil {
		t.Fatal(err)
	} else if len(ev.History) != loadRuns {
		t.Errorf("load has %d results after the restart, want %d: the requested run ran again", len(ev.History), loadRuns)
	}

	// The node without checks has its keepalive and nothing else, once its
	// default checks would all have run.
	if wait := 35*time.Second - time.Since(offStarted); wait > 0 {
		time.Sleep(wait)
	}
	evs, err := nodeEvents(admin, "chk-off")
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(evs)); !slices.Equal(got, []string{"keepalive"}) {
		t.Errorf("events of the node with --checks=false: %v, want only keepalive", got)
	}
}
