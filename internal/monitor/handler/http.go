package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"corral/internal/api"
)

// DefaultRetries is how often webhook, slack and pagerduty retry a failed
// POST when the spec says nothing.
const DefaultRetries = 3

// postJSON POSTs body to url, retrying network errors, 429 and 5xx with
// exponential backoff (env.Backoff doubled per retry), at most retries times.
// Other statuses fail at once.
func postJSON(ctx context.Context, env Env, url string, headers map[string]string, body []byte, retries int) error {
	delay := env.Backoff
	var last error
	for attempt := 0; ; attempt++ {
		retry, err := postOnce(ctx, env, url, headers, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt >= retries || ctx.Err() != nil {
			break
		}
		if err := env.Sleep(ctx, delay); err != nil {
			break
		}
		delay *= 2
	}
	return last
}

func postOnce(ctx context.Context, env Env, url string, headers map[string]string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("post: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "corral")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := env.HTTP.Do(req)
	if err != nil {
		return true, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("post: %s: %s", resp.Status, bytes.TrimSpace(msg))
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, err
}

func retries(spec api.HandlerSpec) int {
	if spec.Retries > 0 {
		return spec.Retries
	}
	return DefaultRetries
}

// url is the spec's URL, or the value of its url_secret.
func (e Env) url(spec api.HandlerSpec) (string, error) {
	if spec.URL != "" {
		return spec.URL, nil
	}
	u, err := e.Secret(spec.URLSecret)
	if err != nil {
		return "", fmt.Errorf("url_secret %s: %w", spec.URLSecret, err)
	}
	return u, nil
}

// Webhook POSTs the event as Sensu JSON to the spec's URL with its headers.
type Webhook struct{ env Env }

var _ Handler = (*Webhook)(nil)

// Handle posts the event.
func (w *Webhook) Handle(ctx context.Context, spec api.HandlerSpec, ev api.Event) error {
	u, err := w.env.url(spec)
	if err != nil {
		return err
	}
	body, err := SensuJSON(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return postJSON(ctx, w.env, u, spec.Headers, body, retries(spec))
}

// Slack posts to a Slack incoming webhook: a line of text and an attachment
// coloured by status (good, warning, danger, grey for unknown).
type Slack struct{ env Env }

var _ Handler = (*Slack)(nil)

type slackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username"`
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Fallback string       `json:"fallback"`
	Color    string       `json:"color"`
	Title    string       `json:"title"`
	Text     string       `json:"text"`
	Fields   []slackField `json:"fields"`
	Ts       int64        `json:"ts"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// SlackColor is the attachment colour for an event.
func SlackColor(ev api.Event) string {
	switch ev.Status {
	case api.StatusOK:
		return "good"
	case api.StatusWarning:
		return "warning"
	case api.StatusCritical:
		return "danger"
	}
	return "#808080"
}

// Handle posts the message.
func (s *Slack) Handle(ctx context.Context, spec api.HandlerSpec, ev api.Event) error {
	u, err := s.env.url(spec)
	if err != nil {
		return err
	}
	sum := summary(ev)
	body, err := json.Marshal(slackMessage{
		Channel:  spec.Channel,
		Username: "corral",
		Text:     sum,
		Attachments: []slackAttachment{{
			Fallback: sum + ": " + clip(ev.Output),
			Color:    SlackColor(ev),
			Title:    sum,
			Text:     clip(ev.Output),
			Fields: []slackField{
				{Title: "Status", Value: api.StatusName(ev.Status), Short: true},
				{Title: "Occurrences", Value: fmt.Sprint(ev.Occurrences), Short: true},
			},
			Ts: ev.Timestamp,
		}},
	})
	if err != nil {
		return fmt.Errorf("encode slack message: %w", err)
	}
	return postJSON(ctx, s.env, u, nil, body, retries(spec))
}

// PagerDuty sends Events API v2 trigger and resolve events, deduplicated by
// "entity/check", with the routing key from the spec's secret.
type PagerDuty struct{ env Env }

var _ Handler = (*PagerDuty)(nil)

type pdEvent struct {
	RoutingKey  string    `json:"routing_key"`
	EventAction string    `json:"event_action"`
	DedupKey    string    `json:"dedup_key"`
	Payload     *pdDetail `json:"payload,omitempty"`
}

type pdDetail struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Component     string         `json:"component"`
	Timestamp     string         `json:"timestamp,omitempty"`
	CustomDetails map[string]any `json:"custom_details"`
}

// PagerDutySeverity maps a status to Events API v2 severity.
func PagerDutySeverity(status int) string {
	switch status {
	case api.StatusOK:
		return "info"
	case api.StatusWarning:
		return "warning"
	case api.StatusCritical:
		return "critical"
	}
	return "error"
}

// Handle triggers (non-ok) or resolves (ok) the incident.
func (p *PagerDuty) Handle(ctx context.Context, spec api.HandlerSpec, ev api.Event) error {
	key, err := p.env.Secret(spec.RoutingKeySecret)
	if err != nil {
		return fmt.Errorf("routing_key_secret %s: %w", spec.RoutingKeySecret, err)
	}
	u := spec.URL
	if u == "" {
		u = p.env.PagerDutyURL
	}
	e := pdEvent{RoutingKey: key, EventAction: "trigger", DedupKey: ev.Key()}
	if ev.Status == api.StatusOK {
		e.EventAction = "resolve"
	} else {
		sum := summary(ev) + ": " + ev.Output
		if len(sum) > 1024 { // the API's limit
			sum = sum[:1024]
		}
		e.Payload = &pdDetail{
			Summary: sum, Source: ev.Entity, Component: ev.Check,
			Severity: PagerDutySeverity(ev.Status),
			CustomDetails: map[string]any{
				"output": ev.Output, "occurrences": ev.Occurrences, "state": ev.State, "history": ev.History,
			},
		}
		if ev.Executed > 0 {
			e.Payload.Timestamp = unixRFC3339(ev.Executed)
		}
	}
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode pagerduty event: %w", err)
	}
	return postJSON(ctx, p.env, u, nil, body, retries(spec))
}
