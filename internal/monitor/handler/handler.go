// Package handler runs monitoring handlers: pipe (a command reading the
// event as Sensu JSON on stdin), webhook, slack, email, pagerduty, and sets
// of handlers. The server's composition root builds a Registry with
// Builtins, wraps it in a Runner kept in step with the Handler specs in etcd,
// and gives the Runner to the event Processor as its Notifier.
package handler

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"corral/internal/api"
)

// Handler runs one handler type.
type Handler interface {
	Handle(ctx context.Context, spec api.HandlerSpec, ev api.Event) error
}

// Registry maps handler types to implementations.
type Registry map[string]Handler

// Env is what handlers need from the server.
type Env struct {
	// Secret resolves a secret's name to its value (url_secret,
	// password_secret, routing_key_secret).
	Secret func(name string) (string, error)
	// HTTP posts webhooks; default a client without timeout (the handler's
	// context bounds each run).
	HTTP *http.Client
	// Backoff is the first retry delay, doubled on every retry (default 1s);
	// Sleep waits it (default: a timer honouring ctx).
	Backoff time.Duration
	Sleep   func(ctx context.Context, d time.Duration) error
	// TLS configures STARTTLS for email (RootCAs for a private mail
	// server); ServerName is filled in per connection.
	TLS *tls.Config
	// Hostname is said in SMTP HELO (default "localhost").
	Hostname string
	// PagerDutyURL is the Events API v2 endpoint (default
	// https://events.pagerduty.com/v2/enqueue); a spec's url overrides it.
	PagerDutyURL string
	Logger       *slog.Logger
	Now          func() time.Time
}

// Builtins returns the built-in handler types. "set" is not among them: a
// Runner expands sets to their members.
func Builtins(env Env) Registry {
	env = env.withDefaults()
	return Registry{
		api.HandlerPipe:      &Pipe{},
		api.HandlerWebhook:   &Webhook{env: env},
		api.HandlerSlack:     &Slack{env: env},
		api.HandlerEmail:     &Email{env: env},
		api.HandlerPagerDuty: &PagerDuty{env: env},
	}
}

func (e Env) withDefaults() Env {
	if e.Secret == nil {
		e.Secret = func(name string) (string, error) { return "", fmt.Errorf("secret %q: no secret store", name) }
	}
	if e.HTTP == nil {
		e.HTTP = &http.Client{}
	}
	if e.Backoff <= 0 {
		e.Backoff = time.Second
	}
	if e.Sleep == nil {
		e.Sleep = sleep
	}
	if e.Hostname == "" {
		e.Hostname = "localhost"
	}
	if e.PagerDutyURL == "" {
		e.PagerDutyURL = "https://events.pagerduty.com/v2/enqueue"
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	return e
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Runner holds the current handler specs and runs them through a Registry.
// It is the event Processor's Notifier and is safe for concurrent use.
type Runner struct {
	reg   Registry
	mu    sync.RWMutex
	specs map[string]api.HandlerSpec
}

// NewRunner returns a Runner over reg with no specs.
func NewRunner(reg Registry) *Runner {
	return &Runner{reg: reg, specs: map[string]api.HandlerSpec{}}
}

// Replace makes the Runner hold exactly specs.
func (r *Runner) Replace(specs []api.HandlerSpec) {
	m := make(map[string]api.HandlerSpec, len(specs))
	for _, s := range specs {
		m[s.Name] = s
	}
	r.mu.Lock()
	r.specs = m
	r.mu.Unlock()
}

// Put adds or replaces one spec.
func (r *Runner) Put(spec api.HandlerSpec) {
	r.mu.Lock()
	r.specs[spec.Name] = spec
	r.mu.Unlock()
}

// Remove drops a spec by name.
func (r *Runner) Remove(name string) {
	r.mu.Lock()
	delete(r.specs, name)
	r.mu.Unlock()
}

// Expand resolves names to the handlers to run: sets are replaced by their
// members, recursively, each handler once, in first-seen order; unknown
// names and loops are skipped.
func (r *Runner) Expand(names []string) []api.HandlerSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return expand(names, r.specs)
}

func expand(names []string, specs map[string]api.HandlerSpec) []api.HandlerSpec {
	var out []api.HandlerSpec
	seen := map[string]bool{}
	var walk func(names []string)
	walk = func(names []string) {
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			s, ok := specs[n]
			switch {
			case !ok:
			case s.Type == api.HandlerSet:
				walk(s.Handlers)
			default:
				out = append(out, s)
			}
		}
	}
	walk(names)
	return out
}

// Notify runs h for ev with the Registry's implementation of h.Type.
func (r *Runner) Notify(ctx context.Context, h api.HandlerSpec, ev api.Event) error {
	impl, ok := r.reg[h.Type]
	if !ok {
		return fmt.Errorf("handler %s: no implementation of type %q", h.Name, h.Type)
	}
	if err := impl.Handle(ctx, h, ev); err != nil {
		return fmt.Errorf("handler %s: %w", h.Name, err)
	}
	return nil
}

// ErrLoop is returned by CheckSets when sets contain each other.
var ErrLoop = errors.New("handler sets form a loop")

// CheckSets finds loops among sets (a set reaching itself through member
// sets). The server calls it with all specs before accepting a new or
// changed Handler; members that do not exist yet are allowed.
func CheckSets(specs []api.HandlerSpec) error {
	m := make(map[string]api.HandlerSpec, len(specs))
	for _, s := range specs {
		m[s.Name] = s
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[string]int{}
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		s, ok := m[n]
		if !ok || s.Type != api.HandlerSet {
			return nil
		}
		switch state[n] {
		case onPath:
			return fmt.Errorf("%w: %v", ErrLoop, append(path, n))
		case done:
			return nil
		}
		state[n] = onPath
		for _, c := range s.Handlers {
			if err := visit(c, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = done
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return err
		}
	}
	return nil
}
