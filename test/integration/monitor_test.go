package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// recordingHandler writes a pipe handler script that stores every event it
// gets on stdin in its own file under dir, and returns the Handler document.
func recordingHandler(t *testing.T, name, dir string) map[string]any {
	t.Helper()
	script := filepath.Join(dir, name+".sh")
	body := fmt.Sprintf("#!/bin/sh\nf=$(mktemp %s/event.XXXXXX)\ncat > \"$f.tmp\" && mv \"$f.tmp\" \"$f.json\" && rm -f \"$f\"\n", dir)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kind": "Handler", "name": name, "type": "pipe", "command": script}
}

// handled returns the Sensu events the recording handler stored in dir.
func handled(t *testing.T, dir string) []sensuEvent {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "event.*.json"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var out []sensuEvent
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev sensuEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("handler got no Sensu event JSON in %s: %v\n%s", f, err, b)
		}
		out = append(out, ev)
	}
	return out
}

// sensuEvent is the part of a Sensu Go event the tests read.
type sensuEvent struct {
	Entity struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	} `json:"entity"`
	Check struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Status int    `json:"status"`
		Output string `json:"output"`
	} `json:"check"`
}

func (e sensuEvent) key() string { return e.Entity.Metadata.Name + "/" + e.Check.Metadata.Name }

func countHandled(evs []sensuEvent, key string, status int) int {
	n := 0
	for _, e := range evs {
		if e.key() == key && e.Check.Status == status {
			n++
		}
	}
	return n
}

func apply(t *testing.T, c *client.Client, docs ...map[string]any) {
	t.Helper()
	req := api.ApplyRequest{}
	for _, d := range docs {
		req.Documents = append(req.Documents, api.Document{Body: d})
	}
	if _, err := c.Apply(testCtx(t), req); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func waitEvent(t *testing.T, c *client.Client, entity, check string, timeout time.Duration, ok func(api.Event) error) api.Event {
	t.Helper()
	var ev api.Event
	eventually(t, timeout, func() error {
		var err error
		ev, err = c.Event(context.Background(), entity, check)
		if err != nil {
			return err
		}
		return ok(ev)
	})
	return ev
}

func hasStatus(status int) func(api.Event) error {
	return func(ev api.Event) error {
		if ev.Status != status {
			return fmt.Errorf("event %s is %d (%q), want %d", ev.Key(), ev.Status, ev.Output, status)
		}
		return nil
	}
}

// TestMonitorCheckins covers check-ins end to end: a wrapped command's exit
// code and output, a pipe handler receiving Sensu event JSON, silences,
// perfdata turned into a metric series, the event filters, resolve and
// handler test.
func TestMonitorCheckins(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	apply(t, admin,
		recordingHandler(t, "record", dir),
		map[string]any{"kind": "Check", "name": "backup-ran", "ttl": "1h", "handlers": []string{"record"},
			"output_metric_format": "nagios_perfdata"},
	)
	flags := srv.CLIFlags(srv.AdminToken())

	// A wrapped command: its exit code is corral's, its output the event's.
	_, _, code := RunCLI(t, CLIEnv{}, append([]string{"checkin", "backup-ran", "--entity", "it-host"}, append(flags, "--", "sh", "-c", "echo hi; exit 2")...)...)
	if code != 2 {
		t.Fatalf("checkin exit code = %d, want the command's 2", code)
	}
	ev := waitEvent(t, admin, "it-host", "backup-ran", 10*time.Second, hasStatus(api.StatusCritical))
	if ev.Output != "hi\n" {
		t.Errorf("event output = %q, want %q", ev.Output, "hi\n")
	}
	eventually(t, 10*time.Second, func() error {
		if n := countHandled(handled(t, dir), "it-host/backup-ran", 2); n != 1 {
			return fmt.Errorf("handler got %d critical it-host/backup-ran events, want 1", n)
		}
		return nil
	})
	if got := handled(t, dir)[0].Check.Output; got != "hi\n" {
		t.Errorf("handler event output = %q, want %q", got, "hi\n")
	}

	// A silence on a node keeps its events from the handler.
	out, _, code := RunCLI(t, CLIEnv{}, append([]string{"silence", "add", "--node", "quiet-host", "--check", "backup-ran",
		"--expire", "1h", "--reason", "maintenance"}, flags...)...)
	if code != 0 || !strings.Contains(out, "entity:quiet-host:backup-ran") {
		t.Fatalf("silence add: exit %d, output %q", code, out)
	}
	sil, err := admin.Resource(ctx, "Silence", "entity:quiet-host:backup-ran", false)
	if err != nil {
		t.Fatal(err)
	}
	var spec api.SilenceSpec
	if err := json.Unmarshal(sil.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Author == "" || spec.CreatedAt.IsZero() || spec.Reason != "maintenance" {
		t.Errorf("silence = %+v, want author, created_at and reason set", spec)
	}
	if _, err := admin.Checkin(ctx, api.CheckResult{Check: "backup-ran", Entity: "quiet-host", Status: 2, Output: "silenced failure"}); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, admin, "quiet-host", "backup-ran", 10*time.Second, hasStatus(api.StatusCritical))
	if !ev.IsSilenced || !slices.Contains(ev.Silenced, "entity:quiet-host:backup-ran") {
		t.Errorf("event silenced = %v %v, want silenced by entity:quiet-host:backup-ran", ev.IsSilenced, ev.Silenced)
	}
	// A later unsilenced failure is handled; the silenced one never is.
	if _, err := admin.Checkin(ctx, api.CheckResult{Check: "backup-ran", Entity: "loud-host", Status: 1, Output: "warn"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if n := countHandled(handled(t, dir), "loud-host/backup-ran", 1); n != 1 {
			return fmt.Errorf("handler got %d loud-host events, want 1", n)
		}
		return nil
	})
	ev, err = admin.Event(ctx, "quiet-host", "backup-ran")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range handled(t, dir) {
		if e.Entity.Metadata.Name == "quiet-host" {
			t.Errorf("handler got a silenced event: %+v", e)
		}
	}
	if _, ok := ev.HandlerStatus["record"]; ok {
		t.Errorf("silenced event has handler status %+v", ev.HandlerStatus)
	}

	// Filters.
	failing, err := admin.Events(ctx, client.EventQuery{Status: "failing"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range failing {
		keys = append(keys, e.Key())
	}
	if want := []string{"it-host/backup-ran", "loud-host/backup-ran", "quiet-host/backup-ran"}; !slices.Equal(keys, want) {
		t.Errorf("failing events = %v, want %v", keys, want)
	}
	warn, err := admin.Events(ctx, client.EventQuery{Status: "warning", Check: "backup-ran"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 1 || warn[0].Entity != "loud-host" {
		t.Errorf("warning events = %v, want loud-host only", warn)
	}

	// Perfdata in a check-in's output becomes a series.
	ts := time.Now().Unix()
	resp, err := admin.Checkin(ctx, api.CheckResult{Check: "backup-ran", Entity: "it-host", Status: 0, Output: "OK | time=0.5s;1;2", Executed: ts})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Metrics != 1 {
		t.Errorf("check-in read %d metric points, want 1", resp.Metrics)
	}
	const series = "corral.it-host.checks.backup-ran.time"
	checkFind(t, srv, "corral.it-host.checks.backup-ran.*", []string{series})
	body, _, err := admin.Render(ctx, url.Values{"target": {series}, "format": {"json"}, "from": {"-10min"}})
	if err != nil {
		t.Fatal(err)
	}
	var rendered []struct {
		Target     string        `json:"target"`
		Datapoints [][2]*float64 `json:"datapoints"`
	}
	if err := json.Unmarshal(body, &rendered); err != nil {
		t.Fatalf("render: %v\n%s", err, body)
	}
	found := false
	for _, s := range rendered {
		for _, dp := range s.Datapoints {
			if dp[0] != nil && *dp[0] == 0.5 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("render %s has no 0.5 point: %s", series, body)
	}
	// The ok result resolved it-host's event; the handler saw the resolution.
	waitEvent(t, admin, "it-host", "backup-ran", 10*time.Second, hasStatus(api.StatusOK))
	eventually(t, 10*time.Second, func() error {
		if n := countHandled(handled(t, dir), "it-host/backup-ran", 0); n != 1 {
			return fmt.Errorf("handler got %d resolutions of it-host/backup-ran, want 1", n)
		}
		return nil
	})

	// Resolve by hand, remove.
	out, _, code = RunCLI(t, CLIEnv{}, append([]string{"event", "resolve", "loud-host", "backup-ran"}, flags...)...)
	if code != 0 || !strings.Contains(out, "resolved: ok") {
		t.Errorf("event resolve: exit %d, output %q", code, out)
	}
	if _, _, code = RunCLI(t, CLIEnv{}, append([]string{"event", "rm", "loud-host/backup-ran"}, flags...)...); code != 0 {
		t.Errorf("event rm: exit %d", code)
	}
	if _, err := admin.Event(ctx, "loud-host", "backup-ran"); api.StatusOf(err) != 404 {
		t.Errorf("removed event: err = %v, want 404", err)
	}

	// Handler test: a synthetic event reaches the handler.
	out, _, code = RunCLI(t, CLIEnv{}, append([]string{"handler", "test", "record"}, flags...)...)
	if code != 0 || !strings.Contains(out, "record") {
		t.Errorf("handler test: exit %d, output %q", code, out)
	}
	if n := countHandled(handled(t, dir), "corral-handler-test/handler-test", 2); n != 1 {
		t.Errorf("handler got %d test events, want 1", n)
	}
	// A failing handler's error is the answer.
	apply(t, admin, map[string]any{"kind": "Handler", "name": "broken", "type": "pipe", "command": "echo nope >&2; exit 3"})
	_, errOut, code := RunCLI(t, CLIEnv{}, append([]string{"handler", "test", "broken"}, flags...)...)
	if code == 0 || !strings.Contains(errOut, "broken") {
		t.Errorf("handler test of a failing handler: exit %d, stderr %q", code, errOut)
	}

	// A handler that fails on a real event: event show says so.
	apply(t, admin, map[string]any{"kind": "Check", "name": "uses-broken", "ttl": "1h", "handlers": []string{"broken"}})
	if _, err := admin.Checkin(ctx, api.CheckResult{Check: "uses-broken", Entity: "it-host", Status: 2, Output: "bad"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, admin, "it-host", "uses-broken", 15*time.Second, func(ev api.Event) error {
		hs, ok := ev.HandlerStatus["broken"]
		if !ok || hs.LastError == "" || hs.Failures == 0 {
			return fmt.Errorf("handler status = %+v, want broken's failure", ev.HandlerStatus)
		}
		return nil
	})
	out, _, code = RunCLI(t, CLIEnv{}, append([]string{"event", "show", "it-host", "uses-broken"}, flags...)...)
	if code != 0 || !strings.Contains(out, "FAILED") {
		t.Errorf("event show: exit %d, output %q, want the handler failure", code, out)
	}
}

// TestMonitorTTL lets a ttl check's check-ins stop: its event goes critical.
func TestMonitorTTL(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	apply(t, admin, map[string]any{"kind": "Check", "name": "heartbeat-job", "ttl": "3s"})
	if _, err := admin.Checkin(testCtx(t), api.CheckResult{Check: "heartbeat-job", Entity: "cron-host", Status: 0, Output: "ran"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, admin, "cron-host", "heartbeat-job", 10*time.Second, hasStatus(api.StatusOK))
	ev := waitEvent(t, admin, "cron-host", "heartbeat-job", 15*time.Second, hasStatus(api.StatusCritical))
	t.Logf("expired event output: %q", ev.Output)
	if ev.LastOK == 0 {
		t.Errorf("expired event lost last_ok: %+v", ev)
	}
}

// TestMonitorAgentChecks starts an agent and sees its default checks and
// keepalive as events, an applied Check distributed to it by subscription,
// and a check run on demand.
func TestMonitorAgentChecks(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	ag := StartAgent(t, srv, AgentOptions{Name: "mon-1", Labels: []string{"role=web"}})
	ag.WaitReady()
	for _, name := range []string{"keepalive", "cpu", "disk", "load", "memory", "swap"} {
		waitEvent(t, admin, "mon-1", name, 45*time.Second, func(ev api.Event) error {
			if ev.Executed == 0 {
				return fmt.Errorf("no result yet")
			}
			return nil
		})
	}
	apply(t, admin,
		map[string]any{"kind": "Check", "name": "web-probe", "command": "echo probe-ok", "interval": "1h", "subscriptions": []string{"web"}},
		map[string]any{"kind": "Check", "name": "db-probe", "command": "echo db", "interval": "1h", "subscriptions": []string{"db"}},
	)
	// An hourly check runs when asked to.
	eventually(t, 20*time.Second, func() error {
		_, err := admin.RunCheck(context.Background(), "web-probe", "mon-1")
		return err
	})
	ev := waitEvent(t, admin, "mon-1", "web-probe", 30*time.Second, hasStatus(api.StatusOK))
	if ev.Output != "probe-ok\n" {
		t.Errorf("web-probe output = %q", ev.Output)
	}
	if _, err := admin.RunCheck(testCtx(t), "db-probe", "mon-1"); api.StatusOf(err) != 400 {
		t.Errorf("run db-probe on a web node: err = %v, want 400", err)
	}
	// Only the subscribed check is assigned to the node.
	if _, err := admin.Event(testCtx(t), "mon-1", "db-probe"); api.StatusOf(err) != 404 {
		t.Errorf("db-probe event on a web node: err = %v, want 404", err)
	}

	flags := srv.CLIFlags(srv.AdminToken())
	out, _, code := RunCLI(t, CLIEnv{}, append([]string{"check", "ls"}, flags...)...)
	for _, want := range []string{"web-probe", "every 1h0m0s", "db-probe", "disk", "builtin disk", "default"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("check ls: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	out, _, code = RunCLI(t, CLIEnv{}, append([]string{"check", "show", "disk"}, flags...)...)
	if code != 0 || !strings.Contains(out, "mon-1") || !strings.Contains(out, "default") {
		t.Errorf("check show disk: exit %d, output:\n%s", code, out)
	}
	out, _, code = RunCLI(t, CLIEnv{}, append([]string{"event", "ls", "--node", "mon-1"}, flags...)...)
	for _, want := range []string{"keepalive", "web-probe", "cpu", "swap"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("event ls: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	out, _, code = RunCLI(t, CLIEnv{}, append([]string{"check", "run", "web-probe"}, flags...)...)
	if code != 0 || !strings.Contains(out, "mon-1") {
		t.Errorf("check run: exit %d, output:\n%s", code, out)
	}
}

// TestMonitorKeepalive kills an agent: its keepalive event goes critical
// within the keepalive timeout + 2 s and the keepalive handler runs once; a
// server restart during the incident neither notifies again nor resolves it.
func TestMonitorKeepalive(t *testing.T) {
	const timeout = 5 * time.Second
	srv := StartServer(t, ServerOptions{Args: []string{"--keepalive-timeout", timeout.String(), "--keepalive-handlers", "ka"}})
	admin := srv.Admin(t)
	dir := t.TempDir()
	apply(t, admin, recordingHandler(t, "ka", dir))
	ag := StartAgent(t, srv, AgentOptions{Name: "ka-1"})
	ag.WaitReady()
	waitEvent(t, admin, "ka-1", "keepalive", 20*time.Second, hasStatus(api.StatusOK))

	ag.Kill()
	killed := time.Now()
	var took time.Duration
	for {
		ev, err := admin.Event(context.Background(), "ka-1", "keepalive")
		if err == nil && ev.Status == api.StatusCritical {
			took = time.Since(killed)
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("keepalive not critical 30s after the agent was killed: %+v %v", ev, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("keepalive critical %s after SIGKILL (timeout %s)", took.Round(10*time.Millisecond), timeout)
	if took > timeout+2*time.Second {
		t.Errorf("keepalive critical after %s, want within %s", took, timeout+2*time.Second)
	}
	eventually(t, 10*time.Second, func() error {
		if n := countHandled(handled(t, dir), "ka-1/keepalive", 2); n != 1 {
			return fmt.Errorf("keepalive handler ran %d times, want 1", n)
		}
		return nil
	})

	// Restart during the incident: after two timeouts (the restarted
	// timers spread over one timeout past the timeout) the event is still
	// critical and the handler has not run again.
	srv.Stop()
	srv.Restart()
	time.Sleep(2*timeout + 2*time.Second)
	ev, err := admin.Event(testCtx(t), "ka-1", "keepalive")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Status != api.StatusCritical {
		t.Errorf("after restart keepalive is %d (%q), want still critical", ev.Status, ev.Output)
	}
	evs := handled(t, dir)
	if n := countHandled(evs, "ka-1/keepalive", 2); n != 1 {
		t.Errorf("after restart the keepalive handler ran %d times for critical, want 1", n)
	}
	if n := countHandled(evs, "ka-1/keepalive", 0); n != 0 {
		t.Errorf("after restart the keepalive was resolved %d times, want 0", n)
	}

	// The agent comes back: resolved, and the handler hears it.
	ag.Restart()
	waitEvent(t, admin, "ka-1", "keepalive", 30*time.Second, hasStatus(api.StatusOK))
	eventually(t, 10*time.Second, func() error {
		if n := countHandled(handled(t, dir), "ka-1/keepalive", 0); n != 1 {
			return fmt.Errorf("keepalive resolution handled %d times, want 1", n)
		}
		return nil
	})
}

// TestMonitorEventStream follows the server-sent event stream while a
// check-in changes an event.
func TestMonitorEventStream(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan client.EventChange, 16)
	go admin.StreamEvents(ctx, client.EventQuery{Check: "stream-check"}, func(ch client.EventChange) error {
		got <- ch
		return nil
	})
	for _, status := range []int{0, 2} {
		// Re-sent until the stream shows it (the stream may connect after the first).
		deadline := time.After(15 * time.Second)
		tick := time.NewTicker(time.Second)
	wait:
		for {
			if _, err := admin.Checkin(ctx, api.CheckResult{Check: "stream-check", Entity: "s-host", Status: status, Output: fmt.Sprint("s", status)}); err != nil {
				t.Fatal(err)
			}
			for {
				select {
				case ch := <-got:
					if ch.Type == "event" && ch.Event.Check == "stream-check" && ch.Event.Status == status {
						break wait
					}
					continue
				case <-tick.C:
					continue wait
				case <-deadline:
					t.Fatalf("no stream message for status %d", status)
				}
			}
		}
		tick.Stop()
	}
}

// TestMonitorProxyCheck: a proxy check subscribed by two nodes runs once a
// round, on one of them in turn, and reports for its proxy entity.
func TestMonitorProxyCheck(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	for _, name := range []string{"px-1", "px-2"} {
		StartAgent(t, srv, AgentOptions{Name: name, Labels: []string{"role=web"}}).WaitReady()
	}
	apply(t, admin, map[string]any{"kind": "Check", "name": "shop-api-up", "command": "echo up",
		"interval": "2s", "subscriptions": []string{"web"}, "proxy_entity": "shop-api"})
	first := waitEvent(t, admin, "shop-api", "shop-api-up", 40*time.Second, func(ev api.Event) error {
		if len(ev.History) == 0 {
			return fmt.Errorf("no result yet")
		}
		return nil
	})
	time.Sleep(12 * time.Second) // six rounds
	ev, err := admin.Event(testCtx(t), "shop-api", "shop-api-up")
	if err != nil {
		t.Fatal(err)
	}
	// One result a round: about 6 more; both nodes running every round
	// would give about 12.
	if n := len(ev.History) - len(first.History); n < 4 || n > 8 {
		t.Errorf("%d results in 12 s of 2 s rounds, want about 6 (one node a round); history %+v", n, ev.History)
	}
	if ev.Output != "up\n" {
		t.Errorf("output %q", ev.Output)
	}
}

// TestMonitorCheckHTTPPlugin runs Debian's check_http as a Check on an
// agent against a web server of the test: ok, then the server stops →
// critical (handled), then it is back → resolved (handled); the plugin's
// perfdata becomes metric series.
func TestMonitorCheckHTTPPlugin(t *testing.T) {
	const plugin = "/usr/lib/nagios/plugins/check_http"
	if _, err := os.Stat(plugin); err != nil {
		t.Skip("check_http not installed (Debian package monitoring-plugins-basic; `make test` installs it as root)")
	}
	port := freePorts(t, 1)[0]
	serve := func() *http.Server {
		ln, err := net.Listen("tcp", loopback(port))
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello\n")) })}
		go hs.Serve(ln)
		return hs
	}
	web := serve()
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	StartAgent(t, srv, AgentOptions{Name: "plug-1"}).WaitReady()
	dir := t.TempDir()
	apply(t, admin, recordingHandler(t, "rec", dir),
		map[string]any{"kind": "Check", "name": "web-up", "command": fmt.Sprintf("%s -H 127.0.0.1 -p %d", plugin, port),
			"interval": "2s", "handlers": []string{"rec"}, "output_metric_format": "nagios_perfdata"})
	waitEvent(t, admin, "plug-1", "web-up", 40*time.Second, hasStatus(api.StatusOK))

	web.Close()
	waitEvent(t, admin, "plug-1", "web-up", 20*time.Second, hasStatus(api.StatusCritical))
	web = serve()
	defer web.Close()
	waitEvent(t, admin, "plug-1", "web-up", 20*time.Second, hasStatus(api.StatusOK))
	eventually(t, 10*time.Second, func() error {
		evs := handled(t, dir)
		if countHandled(evs, "plug-1/web-up", api.StatusCritical) != 1 || countHandled(evs, "plug-1/web-up", api.StatusOK) != 1 {
			return fmt.Errorf("handled %d events: want the incident and its resolution once each", len(evs))
		}
		return nil
	})
	// check_http's perfdata (time, size) is stored as series.
	eventually(t, 10*time.Second, func() error {
		got := findPaths(t, srv, "corral.plug-1.checks.web-up.*")
		if !strings.Contains(got, "corral.plug-1.checks.web-up.time") || !strings.Contains(got, "corral.plug-1.checks.web-up.size") {
			return fmt.Errorf("perfdata series: %q", got)
		}
		return nil
	})
}
