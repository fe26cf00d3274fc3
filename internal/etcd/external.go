package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	statusTimeout = 2 * time.Second
	retryInterval = 200 * time.Millisecond
)

// startExternal connects to an existing cluster and waits until at least one
// endpoint answers.
func startExternal(ctx context.Context, cfg Config, lg *slog.Logger) (*Etcd, error) {
	eps := make([]string, 0, len(cfg.Endpoints))
	for _, ep := range cfg.Endpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, endpointURL(ep))
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("external etcd: no endpoints")
	}
	cli, err := newClient(eps, newZapLogger(newSlogCore(lg, zapLevel(cfg.Debug))))
	if err != nil {
		return nil, err
	}
	started := time.Now()
	ver, err := waitReachable(ctx, cli, eps, cfg.ReadyTimeout)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("external etcd at %s not reachable after %s: %w",
			strings.Join(eps, ","), cfg.ReadyTimeout, err)
	}
	lg.Info("external etcd ready", "endpoints", eps, "version", ver,
		"took", time.Since(started).Round(time.Millisecond))
	return &Etcd{client: cli, stopc: make(chan struct{})}, nil
}

// waitReachable asks every endpoint for its status until one answers or
// timeout passes, and returns the version of the first that answered.
func waitReachable(ctx context.Context, cli *clientv3.Client, eps []string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ver, err := anyStatus(ctx, cli, eps)
		if err == nil {
			return ver, nil
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(retryInterval):
		}
	}
}

// anyStatus asks all endpoints at once and returns the version of the first
// that answers, or all their errors.
func anyStatus(ctx context.Context, cli *clientv3.Client, eps []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	type result struct {
		ver string
		err error
	}
	results := make(chan result, len(eps))
	for _, ep := range eps {
		go func() {
			if err := dialable(ctx, ep); err != nil {
				results <- result{err: err}
				return
			}
			resp, err := cli.Status(ctx, ep)
			if err != nil {
				results <- result{err: fmt.Errorf("%s: %w", ep, err)}
				return
			}
			results <- result{ver: resp.Version}
		}()
	}
	var errs []error
	for range eps {
		r := <-results
		if r.err == nil {
			return r.ver, nil
		}
		errs = append(errs, r.err)
	}
	return "", joinErrors(errs)
}

// dialable reports whether a TCP connection to the endpoint's host opens, so
// that an unreachable endpoint fails fast and with the reason.
func dialable(ctx context.Context, ep string) error {
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", ep, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	return conn.Close()
}

// joinErrors joins errs on one line, unlike errors.Join.
func joinErrors(errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}
