package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"corral/internal/api"
)

// EventQuery filters Events. Status is failing (not ok), ok, warning,
// critical, unknown, passing or flapping; empty fields do not filter.
type EventQuery struct {
	Status string
	Node   string
	Check  string
}

func (q EventQuery) values() url.Values {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Node != "" {
		v.Set("node", q.Node)
	}
	if q.Check != "" {
		v.Set("check", q.Check)
	}
	return v
}

// Events lists the monitoring events, sorted by entity and check.
func (c *Client) Events(ctx context.Context, q EventQuery) ([]api.Event, error) {
	var evs []api.Event
	err := c.do(ctx, http.MethodGet, "/api/v1/events", q.values(), nil, &evs)
	return evs, err
}

func eventPath(entity, check string) string {
	return "/api/v1/events/" + esc(entity) + "/" + esc(check)
}

// Event returns the event of (entity, check).
func (c *Client) Event(ctx context.Context, entity, check string) (api.Event, error) {
	var ev api.Event
	err := c.do(ctx, http.MethodGet, eventPath(entity, check), nil, nil, &ev)
	return ev, err
}

// DeleteEvent removes the event of (entity, check).
func (c *Client) DeleteEvent(ctx context.Context, entity, check string) error {
	return c.do(ctx, http.MethodDelete, eventPath(entity, check), nil, nil, nil)
}

// ResolveEvent resolves the event by hand (an ok result) and returns it.
func (c *Client) ResolveEvent(ctx context.Context, entity, check string) (api.Event, error) {
	var ev api.Event
	err := c.do(ctx, http.MethodPost, eventPath(entity, check)+"/resolve", nil, nil, &ev)
	return ev, err
}

// CheckinResponse is what the server took from a check-in.
type CheckinResponse struct {
	Check    string `json:"check"`
	Entity   string `json:"entity"`
	Status   int    `json:"status"`
	Executed int64  `json:"executed"`
	// Metrics is how many metric points were read from the output.
	Metrics int `json:"metrics"`
}

// Checkin reports one result of a check (a ttl check fed by a cron job,
// say). Executed zero means now.
func (c *Client) Checkin(ctx context.Context, res api.CheckResult) (CheckinResponse, error) {
	var r CheckinResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/checkins", nil, res, &r)
	return r, err
}

// RunCheckResponse says which nodes were asked to run a check now.
type RunCheckResponse struct {
	Check string   `json:"check"`
	Nodes []string `json:"nodes"`
}

// RunCheck asks for a check to run now on node, or on every node that runs
// it when node is empty; results come as usual.
func (c *Client) RunCheck(ctx context.Context, name, node string) (RunCheckResponse, error) {
	var q url.Values
	if node != "" {
		q = url.Values{"node": {node}}
	}
	var r RunCheckResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/checks/"+esc(name)+"/run", q, nil, &r)
	return r, err
}

// HandlerTest is what testing a handler did: one run per handler (the
// members of a set).
type HandlerTest struct {
	Handler string           `json:"handler"`
	Runs    []HandlerTestRun `json:"runs"`
}

// HandlerTestRun is one handler's run in a test.
type HandlerTestRun struct {
	Handler string  `json:"handler"`
	Type    string  `json:"type"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// TestHandler gives a handler a synthetic critical event. A failed run is
// an error (status 502) saying why.
func (c *Client) TestHandler(ctx context.Context, name string) (HandlerTest, error) {
	var r HandlerTest
	err := c.do(ctx, http.MethodPost, "/api/v1/handlers/"+esc(name)+"/test", nil, nil, &r)
	return r, err
}

// EventChange is one message of the event stream: Type "event" with Event
// set, or "deleted" with Event's Entity and Check set.
type EventChange struct {
	Type  string
	Event api.Event
}

// StreamEvents follows the event stream (server-sent events) and calls fn
// for every change, the current events first, until ctx ends, fn returns an
// error or the stream breaks.
func (c *Client) StreamEvents(ctx context.Context, q EventQuery, fn func(EventChange) error) error {
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/events/stream", q.values(), nil, "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var typ, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				ch := EventChange{Type: typ}
				if ch.Type == "" {
					ch.Type = "message"
				}
				if err := json.Unmarshal([]byte(data), &ch.Event); err != nil {
					return fmt.Errorf("event stream: %w", err)
				}
				if err := fn(ch); err != nil {
					return err
				}
			}
			typ, data = "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			typ = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return nil
}

// ApplySilence applies a Silence (named by its ID when it has no name) and
// returns its name.
func (c *Client) ApplySilence(ctx context.Context, s api.SilenceSpec) (string, error) {
	if s.Name == "" {
		s.Name = s.ID()
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		return "", err
	}
	body["kind"] = "Silence"
	_, err = c.Apply(ctx, api.ApplyRequest{Documents: []api.Document{{Source: "silence add", Body: body}}})
	return s.Name, err
}
