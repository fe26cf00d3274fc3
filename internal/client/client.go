// Package client is the typed Go client of Corral's HTTP API. The CLI and the
// integration tests use it; the agent does not (it speaks the agent channel).
//
// Every non-2xx answer becomes an *api.Error carrying the HTTP status, so
// callers can use api.StatusOf and api.AsFields on any error it returns.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"corral/internal/api"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Client talks to one Corral server's HTTP API with one token.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// settings collects what the Options ask for.
type settings struct {
	caPEM    []byte
	caSource string
	insecure bool
	hc       *http.Client
}

// Option changes how a Client connects.
type Option func(*settings) error

// WithCAFile trusts only the CA certificate(s) in the PEM file at path for
// https (the cluster CA, which issues the server's certificate).
func WithCAFile(path string) Option {
	return func(s *settings) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read CA file: %w", err)
		}
		s.caPEM, s.caSource = b, path
		return nil
	}
}

// WithCAPEM trusts only the CA certificate(s) in pem for https.
func WithCAPEM(pem []byte) Option {
	return func(s *settings) error {
		s.caPEM, s.caSource = pem, "CA PEM"
		return nil
	}
}

// WithInsecure skips the verification of the server's certificate. Only for
// tests and first contact on a trusted network.
func WithInsecure() Option {
	return func(s *settings) error {
		s.insecure = true
		return nil
	}
}

// WithHTTPClient uses hc as it is; the TLS options are then ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		s.hc = hc
		return nil
	}
}

// New returns a Client of the server at addr ("http://127.0.0.1:7700",
// "https://host:7700", or "host:7700", for which https is assumed), sending
// token as a bearer token (none when empty).
func New(addr string, token string, opts ...Option) (*Client, error) {
	base, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	var s settings
	for _, o := range opts {
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	hc := s.hc
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.caPEM != nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(s.caPEM) {
				return nil, fmt.Errorf("%s: no PEM certificate found", s.caSource)
			}
			tc.RootCAs = pool
		}
		tc.InsecureSkipVerify = s.insecure
		tr.TLSClientConfig = tc
		hc = &http.Client{Transport: tr}
	}
	return &Client{base: base, token: token, hc: hc}, nil
}

// ParseAddr turns a server address into its base URL: a scheme of http or
// https (https when none is given) and a host, with an optional path prefix.
func ParseAddr(addr string) (*url.URL, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return nil, errors.New("server address is empty")
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server address %q: scheme must be http or https", addr)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server address %q: no host", addr)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("server address %q: want scheme://host:port", addr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Addr returns the base URL the client talks to.
func (c *Client) Addr() string { return c.base.String() }

// do sends a request to path (already escaped) with the JSON of in as body
// (none when in is nil) and decodes a 2xx answer into out (ignored when nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, query, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send sends a request to path (already escaped) with the token, a JSON
// body when body is not nil, and Accept: accept. It returns a 2xx answer,
// whose body the caller closes, or the answer's error.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body io.Reader, accept string) (*http.Response, error) {
	target := c.base.String() + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// decodeError turns a non-2xx answer into an *api.Error: from its JSON body
// `{"error": "...", "fields": {...}}` when it has one, else from its text.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e api.Error
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		e.Status = resp.StatusCode
		return &e
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if msg == "" {
		msg = status
	} else {
		msg = status + ": " + msg
	}
	return &api.Error{Status: resp.StatusCode, Message: msg}
}

func esc(s string) string { return url.PathEscape(s) }

// Whoami describes the caller's token.
func (c *Client) Whoami(ctx context.Context) (api.Whoami, error) {
	var w api.Whoami
	err := c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, nil, &w)
	return w, err
}

// Nodes lists the nodes.
func (c *Client) Nodes(ctx context.Context) ([]api.Node, error) {
	var ns []api.Node
	err := c.do(ctx, http.MethodGet, "/api/v1/nodes", nil, nil, &ns)
	return ns, err
}

// Node returns one node.
func (c *Client) Node(ctx context.Context, name string) (api.Node, error) {
	var n api.Node
	err := c.do(ctx, http.MethodGet, "/api/v1/nodes/"+esc(name), nil, nil, &n)
	return n, err
}

// LabelNode sets and removes labels of a node and returns the node.
func (c *Client) LabelNode(ctx context.Context, name string, req api.LabelRequest) (api.Node, error) {
	var n api.Node
	err := c.do(ctx, http.MethodPatch, "/api/v1/nodes/"+esc(name)+"/labels", nil, req, &n)
	return n, err
}

// DrainNode turns draining of a node on or off and returns the node.
func (c *Client) DrainNode(ctx context.Context, name string, drain bool) (api.Node, error) {
	var n api.Node
	err := c.do(ctx, http.MethodPut, "/api/v1/nodes/"+esc(name)+"/drain", nil, api.DrainRequest{Drain: drain}, &n)
	return n, err
}

// RemoveNode forgets a node.
func (c *Client) RemoveNode(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/nodes/"+esc(name), nil, nil, nil)
}

// CreateToken creates an API or join token; its secret is only in this answer.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.NewToken, error) {
	var t api.NewToken
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, req, &t)
	return t, err
}

// Tokens lists the tokens.
func (c *Client) Tokens(ctx context.Context) ([]api.Token, error) {
	var ts []api.Token
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, nil, &ts)
	return ts, err
}

// RevokeToken revokes the token with the given ID.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+esc(id), nil, nil, nil)
}

// AddUser creates or replaces a user.
func (c *Client) AddUser(ctx context.Context, req api.UserRequest) (api.User, error) {
	var u api.User
	err := c.do(ctx, http.MethodPost, "/api/v1/users", nil, req, &u)
	return u, err
}

// Users lists the users.
func (c *Client) Users(ctx context.Context) ([]api.User, error) {
	var us []api.User
	err := c.do(ctx, http.MethodGet, "/api/v1/users", nil, nil, &us)
	return us, err
}

// RemoveUser deletes a user.
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/users/"+esc(name), nil, nil, nil)
}

// Login exchanges a user's password for a token; it needs no token itself.
func (c *Client) Login(ctx context.Context, req api.LoginRequest) (api.NewToken, error) {
	var t api.NewToken
	err := c.do(ctx, http.MethodPost, "/api/v1/login", nil, req, &t)
	return t, err
}

// Apply creates or changes resources (or, with DryRun, says what it would do).
func (c *Client) Apply(ctx context.Context, req api.ApplyRequest) (api.ApplyResponse, error) {
	var r api.ApplyResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/apply", nil, req, &r)
	return r, err
}

// Kinds lists the resource kinds the server knows.
func (c *Client) Kinds(ctx context.Context) ([]api.KindInfo, error) {
	var ks []api.KindInfo
	err := c.do(ctx, http.MethodGet, "/api/v1/kinds", nil, nil, &ks)
	return ks, err
}

// Resources lists the resources of a kind.
func (c *Client) Resources(ctx context.Context, kind string) ([]api.Resource, error) {
	var rs []api.Resource
	err := c.do(ctx, http.MethodGet, "/api/v1/resources/"+esc(kind), nil, nil, &rs)
	return rs, err
}

// Resource returns one resource; reveal asks for secret values (admin only).
func (c *Client) Resource(ctx context.Context, kind, name string, reveal bool) (api.Resource, error) {
	var q url.Values
	if reveal {
		q = url.Values{"reveal": {"true"}}
	}
	var r api.Resource
	err := c.do(ctx, http.MethodGet, "/api/v1/resources/"+esc(kind)+"/"+esc(name), q, nil, &r)
	return r, err
}

// DeleteResource deletes one resource.
func (c *Client) DeleteResource(ctx context.Context, kind, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/resources/"+esc(kind)+"/"+esc(name), nil, nil, nil)
}

// AuditQuery filters the audit log. Zero fields do not filter; BeforeID pages
// back from an entry ID.
type AuditQuery struct {
	Actor    string
	Action   string
	Limit    int
	BeforeID int64
}

// Audit lists audit log entries, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]api.AuditEntry, error) {
	v := url.Values{}
	if q.Actor != "" {
		v.Set("actor", q.Actor)
	}
	if q.Action != "" {
		v.Set("action", q.Action)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.BeforeID > 0 {
		v.Set("before", strconv.FormatInt(q.BeforeID, 10))
	}
	var es []api.AuditEntry
	err := c.do(ctx, http.MethodGet, "/api/v1/audit", v, nil, &es)
	return es, err
}

// Healthz reports whether the server process is up.
func (c *Client) Healthz(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Readyz reports whether the server is ready to serve the API.
func (c *Client) Readyz(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}

// WaitReady polls Readyz every interval until it succeeds or ctx ends.
func (c *Client) WaitReady(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := c.Readyz(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be ready: %w (last: %v)", c.Addr(), ctx.Err(), err)
		case <-t.C:
		}
	}
}
