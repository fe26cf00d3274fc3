package handler_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/monitor/event"
	"corral/internal/monitor/handler"
)

var _ event.Notifier = (*handler.Runner)(nil)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func critical() api.Event {
	return api.Event{
		Entity: "db-1", Check: "root-disk", Status: 2, Output: "DISK CRITICAL - / 97% used\n",
		Executed: t0.Unix() - 1, Issued: t0.Unix(), Timestamp: t0.Unix(), Duration: 0.5,
		History:     []api.EventHistory{{Status: 0, Executed: t0.Unix() - 61}, {Status: 2, Executed: t0.Unix() - 1}},
		Occurrences: 1, OccurrencesWatermark: 1, State: api.EventFailing, LastOK: t0.Unix() - 61,
		Interval: api.Duration(time.Minute), Subscriptions: []string{"linux"}, Handlers: []string{"ops"},
	}
}

func resolved() api.Event {
	ev := critical()
	ev.Status, ev.Output, ev.State = 0, "DISK OK", api.EventPassing
	ev.History = append(ev.History, api.EventHistory{Status: 0, Executed: t0.Unix() + 59})
	return ev
}

// sleeps records backoff waits instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return nil
}

func secrets(m map[string]string) func(string) (string, error) {
	return func(name string) (string, error) {
		if v, ok := m[name]; ok {
			return v, nil
		}
		return "", fmt.Errorf("secret %s not found", name)
	}
}

func TestSensuJSON(t *testing.T) {
	b, err := handler.SensuJSON(critical())
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Entity    struct {
			EntityClass string `json:"entity_class"`
			Metadata    struct{ Name, Namespace string }
			System      struct{ Hostname string }
		}
		Check struct {
			Metadata             struct{ Name string }
			Status               int
			Output               string
			History              []struct{ Status, Executed int64 }
			Occurrences          int
			OccurrencesWatermark int `json:"occurrences_watermark"`
			State                string
			LastOK               int64 `json:"last_ok"`
			Interval             int
			Handlers             []string
			Issued, Executed     int64
			TotalStateChange     *int  `json:"total_state_change"`
			IsSilenced           *bool `json:"is_silenced"`
		}
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	c := ev.Check
	if ev.Entity.Metadata.Name != "db-1" || ev.Entity.Metadata.Namespace != "default" || ev.Entity.EntityClass != "agent" || ev.Entity.System.Hostname != "db-1" {
		t.Errorf("entity = %+v", ev.Entity)
	}
	if c.Metadata.Name != "root-disk" || c.Status != 2 || c.Output != "DISK CRITICAL - / 97% used\n" || c.State != "failing" ||
		c.Occurrences != 1 || c.OccurrencesWatermark != 1 || c.LastOK != t0.Unix()-61 || c.Interval != 60 ||
		len(c.History) != 2 || c.History[1].Status != 2 || c.Issued != t0.Unix() || !slices.Equal(c.Handlers, []string{"ops"}) ||
		c.TotalStateChange == nil || c.IsSilenced == nil {
		t.Errorf("check = %+v", c)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(ev.ID) || ev.Timestamp != t0.Unix() {
		t.Errorf("id %q timestamp %d", ev.ID, ev.Timestamp)
	}
}

func TestPipe(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "event.json")
	p := handler.Builtins(handler.Env{})[api.HandlerPipe]
	spec := api.HandlerSpec{Name: "save", Type: "pipe", Command: `cat > "$OUT"`, Env: []string{"OUT=" + out}}
	if err := p.Handle(context.Background(), spec, critical()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := handler.SensuJSON(critical())
	if string(b) != string(want) {
		t.Errorf("stdin = %s, want %s", b, want)
	}

	spec.Command = `echo "cannot page: $(head -c 9)"; exit 3`
	err = p.Handle(context.Background(), spec, critical())
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), `cannot page: {"timesta`) {
		t.Errorf("failing command: %v", err)
	}

	spec.Command = `sleep 30 & sleep 30; wait`
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Handle(ctx, spec, critical()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v, want DeadlineExceeded", err)
	}
}

// recorder is an HTTP peer answering with codes in turn (200 after them).
type recorder struct {
	mu     sync.Mutex
	codes  []int
	bodies [][]byte
	hdrs   []http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, b)
	r.hdrs = append(r.hdrs, req.Header.Clone())
	code := http.StatusOK
	if len(r.codes) > 0 {
		code, r.codes = r.codes[0], r.codes[1:]
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, "status %d", code)
}

func (r *recorder) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func peer(t *testing.T, codes ...int) (*recorder, string) {
	r := &recorder{codes: codes}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func TestWebhook(t *testing.T) {
	tests := []struct {
		name     string
		codes    []int
		retries  int
		requests int
		waits    []time.Duration
		err      string
	}{
		{name: "first try", requests: 1},
		{name: "retries 5xx and 429", codes: []int{503, 429}, requests: 3, waits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "gives up", codes: []int{500, 502, 503}, retries: 2, requests: 3, waits: []time.Duration{time.Second, 2 * time.Second}, err: "503 Service Unavailable: status 503"},
		{name: "4xx is final", codes: []int{400}, requests: 1, err: "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, url := peer(t, tt.codes...)
			sl := &sleeps{}
			wh := handler.Builtins(handler.Env{Sleep: sl.Sleep})[api.HandlerWebhook]
			spec := api.HandlerSpec{Name: "hook", Type: "webhook", URL: url + "/hook", Retries: tt.retries, Headers: map[string]string{"X-Token": "t1"}}
			err := wh.Handle(context.Background(), spec, critical())
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
			if rec.requests() != tt.requests || !slices.Equal(sl.d, tt.waits) {
				t.Errorf("%d requests, waits %v; want %d, %v", rec.requests(), sl.d, tt.requests, tt.waits)
			}
			want, _ := handler.SensuJSON(critical())
			if string(rec.bodies[0]) != string(want) || rec.hdrs[0].Get("X-Token") != "t1" || rec.hdrs[0].Get("Content-Type") != "application/json" {
				t.Errorf("request %s %v", rec.bodies[0], rec.hdrs[0])
			}
		})
	}
	t.Run("network error retried", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		sl := &sleeps{}
		wh := handler.Builtins(handler.Env{Sleep: sl.Sleep})[api.HandlerWebhook]
		err := wh.Handle(context.Background(), api.HandlerSpec{Name: "hook", Type: "webhook", URL: url, Retries: 1}, critical())
		if err == nil || len(sl.d) != 1 {
			t.Errorf("err %v after %d waits, want an error after 1", err, len(sl.d))
		}
	})
}

func TestSlack(t *testing.T) {
	rec, url := peer(t, 500)
	sl := &sleeps{}
	reg := handler.Builtins(handler.Env{Sleep: sl.Sleep, Secret: secrets(map[string]string{"slack-webhook": url + "/services/T/B/X"})})
	spec := api.HandlerSpec{Name: "slack", Type: "slack", URLSecret: "slack-webhook", Channel: "#ops"}
	for _, ev := range []api.Event{critical(), resolved()} {
		if err := reg[api.HandlerSlack].Handle(context.Background(), spec, ev); err != nil {
			t.Fatal(err)
		}
	}
	if rec.requests() != 3 {
		t.Fatalf("%d requests, want 3 (one retried)", rec.requests())
	}
	for i, want := range []struct{ text, color string }{
		{"db-1/root-disk is critical", "danger"}, {"db-1/root-disk is resolved", "good"},
	} {
		var m struct {
			Channel     string
			Text        string
			Attachments []struct{ Color, Text string }
		}
		if err := json.Unmarshal(rec.bodies[i+1], &m); err != nil {
			t.Fatal(err)
		}
		if m.Channel != "#ops" || m.Text != want.text || len(m.Attachments) != 1 || m.Attachments[0].Color != want.color {
			t.Errorf("message %d = %+v, want %q in %s", i, m, want.text, want.color)
		}
	}
	spec.URLSecret = "missing"
	if err := reg[api.HandlerSlack].Handle(context.Background(), spec, critical()); err == nil || !strings.Contains(err.Error(), "secret missing not found") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestPagerDuty(t *testing.T) {
	rec, url := peer(t, 502)
	sl := &sleeps{}
	reg := handler.Builtins(handler.Env{Sleep: sl.Sleep, PagerDutyURL: url + "/v2/enqueue", Secret: secrets(map[string]string{"pd-key": "R0UT1NG"})})
	spec := api.HandlerSpec{Name: "page", Type: "pagerduty", RoutingKeySecret: "pd-key"}
	for _, ev := range []api.Event{critical(), resolved()} {
		if err := reg[api.HandlerPagerDuty].Handle(context.Background(), spec, ev); err != nil {
			t.Fatal(err)
		}
	}
	type pd struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			Summary, Source, Severity, Component string
		}
	}
	var trig, res pd
	if rec.requests() != 3 {
		t.Fatalf("%d requests, want 3", rec.requests())
	}
	json.Unmarshal(rec.bodies[1], &trig)
	json.Unmarshal(rec.bodies[2], &res)
	if trig.RoutingKey != "R0UT1NG" || trig.EventAction != "trigger" || trig.DedupKey != "db-1/root-disk" || trig.Payload == nil ||
		trig.Payload.Severity != "critical" || trig.Payload.Source != "db-1" || trig.Payload.Component != "root-disk" ||
		!strings.HasPrefix(trig.Payload.Summary, "db-1/root-disk is critical: DISK CRITICAL") {
		t.Errorf("trigger = %s", rec.bodies[1])
	}
	if res.EventAction != "resolve" || res.DedupKey != "db-1/root-disk" || res.RoutingKey != "R0UT1NG" || res.Payload != nil {
		t.Errorf("resolve = %s", rec.bodies[2])
	}
}

func TestEmail(t *testing.T) {
	srv := startSMTP(t, "alerts", "s3cret")
	env := handler.Env{
		TLS:    &tls.Config{RootCAs: srv.roots},
		Secret: secrets(map[string]string{"smtp-pw": "s3cret", "wrong-pw": "nope"}),
		Now:    func() time.Time { return t0 },
	}
	mailer := handler.Builtins(env)[api.HandlerEmail]
	spec := api.HandlerSpec{Name: "mail", Type: "email", SMTPAddress: srv.addr, Username: "alerts", PasswordSecret: "smtp-pw",
		From: "corral@example.com", To: []string{"ops@example.com", "dba@example.com"}}
	ev := critical()
	ev.Output = "line one\n.\nline three"
	if err := mailer.Handle(context.Background(), spec, ev); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !m.tls || m.authUser != "alerts" || m.from != "corral@example.com" || !slices.Equal(m.to, []string{"ops@example.com", "dba@example.com"}) {
		t.Errorf("envelope = %+v", m)
	}
	for _, want := range []string{"Subject: [corral] db-1/root-disk is critical\n", "To: ops@example.com, dba@example.com\n", "Status:      critical (2)\n", "line one\n.\nline three\n"} {
		if !strings.Contains(m.data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.data)
		}
	}

	spec.PasswordSecret = "wrong-pw"
	if err := mailer.Handle(context.Background(), spec, ev); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: %v", err)
	}
	// Without our CA the server's certificate is refused.
	strict := handler.Builtins(handler.Env{Secret: env.Secret})[api.HandlerEmail]
	spec.PasswordSecret = "smtp-pw"
	if err := strict.Handle(context.Background(), spec, ev); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestRunnerExpand(t *testing.T) {
	r := handler.NewRunner(handler.Registry{})
	r.Replace([]api.HandlerSpec{
		{Name: "ops", Type: "set", Handlers: []string{"slack", "mail", "page", "oncall"}},
		{Name: "oncall", Type: "set", Handlers: []string{"page", "sms", "ops"}},
		{Name: "slack", Type: "slack", URL: "http://x"},
		{Name: "mail", Type: "email"},
		{Name: "page", Type: "pagerduty"},
	})
	names := func(hs []api.HandlerSpec) []string {
		var n []string
		for _, h := range hs {
			n = append(n, h.Name)
		}
		return n
	}
	if got := names(r.Expand([]string{"ops"})); !slices.Equal(got, []string{"slack", "mail", "page"}) {
		t.Errorf("Expand(ops) = %v", got)
	}
	if got := names(r.Expand([]string{"page", "slack", "page", "nope"})); !slices.Equal(got, []string{"page", "slack"}) {
		t.Errorf("Expand = %v", got)
	}
	r.Remove("slack")
	r.Put(api.HandlerSpec{Name: "sms", Type: "webhook"})
	if got := names(r.Expand([]string{"ops"})); !slices.Equal(got, []string{"mail", "page", "sms"}) {
		t.Errorf("after Remove/Put: %v", got)
	}
	err := r.Notify(context.Background(), api.HandlerSpec{Name: "x", Type: "irc"}, critical())
	if err == nil || !strings.Contains(err.Error(), `no implementation of type "irc"`) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestCheckSets(t *testing.T) {
	tests := []struct {
		name  string
		specs []api.HandlerSpec
		loop  bool
	}{
		{"flat", []api.HandlerSpec{{Name: "ops", Type: "set", Handlers: []string{"a", "b"}}, {Name: "a", Type: "pipe"}}, false},
		{"nested", []api.HandlerSpec{{Name: "ops", Type: "set", Handlers: []string{"x"}}, {Name: "x", Type: "set", Handlers: []string{"a"}}}, false},
		{"diamond", []api.HandlerSpec{{Name: "s", Type: "set", Handlers: []string{"x", "y"}}, {Name: "x", Type: "set", Handlers: []string{"z"}}, {Name: "y", Type: "set", Handlers: []string{"z"}}, {Name: "z", Type: "set", Handlers: []string{"a"}}}, false},
		{"two sets", []api.HandlerSpec{{Name: "a", Type: "set", Handlers: []string{"b"}}, {Name: "b", Type: "set", Handlers: []string{"a"}}}, true},
		{"three sets", []api.HandlerSpec{{Name: "a", Type: "set", Handlers: []string{"x", "b"}}, {Name: "b", Type: "set", Handlers: []string{"c"}}, {Name: "c", Type: "set", Handlers: []string{"a"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := handler.CheckSets(tt.specs)
			if errors.Is(err, handler.ErrLoop) != tt.loop {
				t.Errorf("CheckSets = %v, want loop=%v", err, tt.loop)
			}
		})
	}
}
