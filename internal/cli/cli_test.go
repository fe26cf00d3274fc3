package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
)

var testNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// result is what one CLI run printed.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line with the given environment variables only.
func runCLI(t *testing.T, stdin string, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return vars[k] },
		now:    func() time.Time { return testNow },
	})
	return result{code, out.String(), errb.String()}
}

// fakeAPI serves canned answers by "METHOD /path" and records requests.
type fakeAPI struct {
	t       *testing.T
	answers map[string]func(w http.ResponseWriter, r *http.Request, body []byte)
	seen    []string
	bodies  map[string][]byte
	auth    []string
}

func newFakeAPI(t *testing.T) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, answers: map[string]func(http.ResponseWriter, *http.Request, []byte){}, bodies: map[string][]byte{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	body, _ := io.ReadAll(r.Body)
	f.seen = append(f.seen, key)
	f.bodies[key] = body
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	h, ok := f.answers[key]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "no route " + key})
		return
	}
	h(w, r, body)
}

// json answers with v.
func (f *fakeAPI) json(key string, status int, v any) {
	f.answers[key] = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
}

// answerSeq answers key with vs in turn, the last one from then on.
func answerSeq(f *fakeAPI, key string, vs ...any) {
	n := 0
	f.answers[key] = func(w http.ResponseWriter, r *http.Request, body []byte) {
		v := vs[min(n, len(vs)-1)]
		n++
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

// answerQuery answers key with v and records the query of each request.
func answerQuery(f *fakeAPI, key string, v any, queries *[]url.Values) {
	f.answers[key] = func(w http.ResponseWriter, r *http.Request, body []byte) {
		*queries = append(*queries, r.URL.Query())
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

// squash collapses runs of spaces, so table padding does not matter.
func squash(s string) string {
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, " ")
}

// lines splits output into lines of whitespace-separated fields.
func lines(s string) [][]string {
	var out [][]string
	for l := range strings.Lines(s) {
		out = append(out, strings.Fields(l))
	}
	return out
}

// checkAPIError answers key with an API error of status saying msg, runs
// the command line with args against srv, and checks that it exits 1
// printing nothing but "Error: msg".
func checkAPIError(t *testing.T, f *fakeAPI, srv *httptest.Server, key string, status int, msg string, args ...string) {
	t.Helper()
	f.json(key, status, api.Error{Message: msg})
	r := runCLI(t, "", nil, append(args, "--addr", srv.URL)...)
	if want := "Error: " + msg + "\n"; r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1, stderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, want)
	}
}

var cannedNodes = []api.Node{
	{
		Name: "web-1", Status: api.NodeReady, Labels: map[string]string{"role": "web", "zone": "a"},
		Facts:     api.Facts{Hostname: "web-1", PrivateIP: "10.0.0.5", CPUs: 4, MemoryBytes: 8 << 30},
		Resources: api.NodeResources{CPUs: 3.5, MemMB: 6144, PortFrom: 31000, PortTo: 32000},
		JoinedAt:  testNow.Add(-72 * time.Hour),
	},
	{
		Name: "db-1", Status: api.NodeDraining, Drain: true,
		Facts:     api.Facts{IPv4: []string{"192.0.2.7"}},
		Resources: api.NodeResources{CPUs: 2, MemMB: 512},
		JoinedAt:  testNow.Add(-90 * time.Minute),
	},
}

func TestNodeLs(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/nodes", 200, cannedNodes)

	r := runCLI(t, "", nil, "node", "ls", "--addr", srv.URL, "--token", "x")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"NAME", "STATUS", "LABELS", "JOINED",
		"web-1", "ready", "10.0.0.5", "3.5", "6.0 GiB", "role=web,zone=a", "3d",
		"db-1", "draining", "192.0.2.7", "512.0 MiB", "1h",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if f.auth[0] != "Bearer x" {
		t.Errorf("Authorization %q", f.auth[0])
	}

	r = runCLI(t, "", nil, "node", "ls", "--addr", srv.URL, "--token", "x", "-o", "json")
	var got []api.Node
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 || got[0].Name != "web-1" {
		t.Errorf("-o json: %v %v\n%s", got, err, r.stdout)
	}

	r = runCLI(t, "", nil, "node", "ls", "--addr", srv.URL, "-o", "yaml")
	for _, want := range []string{"- name: web-1", "private_ip: 10.0.0.5", "mem_mb: 6144", "port_from: 31000"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-o yaml lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestNodeShowAndLabel(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/nodes/web-1", 200, cannedNodes[0])
	f.json("PATCH /api/v1/nodes/web-1/labels", 200, cannedNodes[0])

	r := runCLI(t, "", nil, "node", "show", "web-1", "--addr", srv.URL)
	for _, want := range []string{"Name:", "web-1", "Labels:", "role=web,zone=a", "Resources (schedulable):", "31000-32000", "Memory:", "8.0 GiB"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runCLI(t, "", nil, "node", "label", "web-1", "role=web", "zone-", "--addr", srv.URL)
	if r.code != 0 {
		t.Fatalf("label: %s", r.stderr)
	}
	var req api.LabelRequest
	if err := json.Unmarshal(f.bodies["PATCH /api/v1/nodes/web-1/labels"], &req); err != nil {
		t.Fatal(err)
	}
	if req.Set["role"] != "web" || len(req.Remove) != 1 || req.Remove[0] != "zone" {
		t.Errorf("label request %+v", req)
	}

	r = runCLI(t, "", nil, "node", "label", "web-1", "=bad", "--addr", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "Error: label") {
		t.Errorf("bad label: exit %d, %s", r.code, r.stderr)
	}
}

func TestErrors(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("POST /api/v1/apply", 400, api.Error{
		Message: "invalid documents",
		Fields: map[string]string{
			"documents[1] (s.yaml#2): value": "is required (or value_file)",
			"documents[0] (s.yaml#1): name":  "must be " + api.NameRule,
		},
	})
	f.json("GET /api/v1/whoami", 401, api.Error{Message: "invalid token"})
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(file, []byte("kind: Secret\nname: -x\nvalue: a\n---\nkind: Secret\nname: b\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{
			name: "field errors one per line, sorted",
			args: []string{"apply", "-f", file, "--addr", srv.URL},
			wantStderr: "Error: invalid documents\n" +
				"  documents[0] (s.yaml#1): name: must be " + api.NameRule + "\n" +
				"  documents[1] (s.yaml#2): value: is required (or value_file)\n",
		},
		{
			name:       "401 with a hint",
			args:       []string{"whoami", "--addr", srv.URL},
			wantStderr: "Error: invalid token\n  hint: the token is missing",
		},
		{
			name:       "unknown command is a usage error",
			args:       []string{"frobnicate"},
			wantStderr: "Run 'corral --help' for usage.",
		},
		{
			name:       "missing argument is a usage error",
			args:       []string{"node", "show", "--addr", srv.URL},
			wantStderr: "Error: accepts 1 arg(s), received 0\nRun 'corral node show --help' for usage.\n",
		},
		{
			name:       "missing required flag",
			args:       []string{"token", "create", "--addr", srv.URL},
			wantStderr: `Error: required flag(s) "role" not set`,
		},
		{
			name:       "bad output format",
			args:       []string{"node", "ls", "-o", "xml", "--addr", srv.URL},
			wantStderr: `Error: --output "xml": want table, yaml or json`,
		},
		{
			name:       "no server configured",
			args:       []string{"node", "ls"},
			wantStderr: "Error: no server configured: run `corral dev`",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", nil, tt.args...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr\n%s\nwant it to contain\n%s", r.stderr, tt.wantStderr)
			}
		})
	}
}

func TestApplyAndDiff(t *testing.T) {
	f, srv := newFakeAPI(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("hunter22"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(file, []byte("kind: Secret\nname: db-password\nvalue_file: pw.txt\n---\nkind: Secret\nname: b\nvalue: x\n---\nkind: Secret\nname: c\nvalue: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.answers["POST /api/v1/apply"] = func(w http.ResponseWriter, r *http.Request, body []byte) {
		var req api.ApplyRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("apply body: %v", err)
		}
		resp := api.ApplyResponse{DryRun: req.DryRun, Results: []api.ApplyResult{
			{Kind: "Secret", Name: "db-password", Action: api.ActionCreated, Version: 1},
			{Kind: "Secret", Name: "b", Action: api.ActionChanged, Version: 3, Diff: "-value: (redacted)\n+value: (redacted)\n"},
			{Kind: "Secret", Name: "c", Action: api.ActionUnchanged, Version: 2},
		}}
		json.NewEncoder(w).Encode(resp)
	}

	r := runCLI(t, "", nil, "apply", "-f", file, "--addr", srv.URL)
	want := "secret/db-password created (version 1)\nsecret/b changed (version 3)\nsecret/c unchanged\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("apply: exit %d\n%s\nwant\n%s\nstderr %s", r.code, r.stdout, want, r.stderr)
	}
	var req api.ApplyRequest
	if err := json.Unmarshal(f.bodies["POST /api/v1/apply"], &req); err != nil {
		t.Fatal(err)
	}
	if req.DryRun || len(req.Documents) != 3 || req.Documents[0].Body["value"] != "hunter22" || req.Documents[0].Source != file+"#1" {
		t.Errorf("apply request %+v", req)
	}
	if _, ok := req.Documents[0].Body["value_file"]; ok {
		t.Error("value_file was sent")
	}

	r = runCLI(t, "", nil, "diff", "-f", file, "--addr", srv.URL)
	want = "secret/db-password would be created\nsecret/b would change (version 3)\n  -value: (redacted)\n  +value: (redacted)\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("diff: exit %d\n%s\nwant\n%s\nstderr %s", r.code, r.stdout, want, r.stderr)
	}
	if err := json.Unmarshal(f.bodies["POST /api/v1/apply"], &req); err != nil || !req.DryRun {
		t.Errorf("diff did not ask for a dry run: %s", f.bodies["POST /api/v1/apply"])
	}

	f.json("POST /api/v1/apply", 200, api.ApplyResponse{DryRun: true, Results: []api.ApplyResult{{Kind: "Secret", Name: "c", Action: api.ActionUnchanged, Version: 2}}})
	r = runCLI(t, "kind: Secret\nname: c\nvalue: y\n", nil, "diff", "-f", "-", "--addr", srv.URL)
	if r.code != 0 || r.stdout != "no changes\n" {
		t.Errorf("diff unchanged: exit %d %q %s", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, "", nil, "apply", "-f", "-", "--addr", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "no documents found") {
		t.Errorf("empty apply: exit %d %s", r.code, r.stderr)
	}
}

func TestGet(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/kinds", 200, []api.KindInfo{{Kind: "Secret", Key: "name", WriteRole: api.RoleAdmin, Secret: true, About: "a value"}})
	res := api.Resource{
		Kind: "Secret", Name: "db-password", Version: 3,
		Spec:      json.RawMessage(`{"value":"(redacted)","name":"db-password","size":12}`),
		UpdatedAt: testNow, UpdatedBy: "alice",
	}
	f.json("GET /api/v1/resources/Secret", 200, []api.Resource{res})
	f.json("GET /api/v1/resources/Secret/db-password", 200, res)

	r := runCLI(t, "", nil, "get", "secrets", "--addr", srv.URL)
	for _, want := range []string{"NAME", "VERSION", "UPDATED-BY", "db-password", "3", "alice"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get lacks %q:\n%s (stderr %s)", want, r.stdout, r.stderr)
		}
	}

	r = runCLI(t, "", nil, "get", "SECRET", "db-password", "-o", "yaml", "--addr", srv.URL)
	want := "# version 3, updated 2026-03-10T12:00:00Z by alice\nkind: Secret\nname: db-password\nvalue: (redacted)\nsize: 12\n"
	if r.stdout != want {
		t.Errorf("get -o yaml:\n%s\nwant\n%s\nstderr %s", r.stdout, want, r.stderr)
	}

	f.json("GET /api/v1/resources/Secret/db-password", 200, res)
	r = runCLI(t, "", nil, "get", "secret", "db-password", "--reveal", "--addr", srv.URL)
	if !strings.Contains(r.stdout, "kind: Secret\n") || f.seen[len(f.seen)-1] != "GET /api/v1/resources/Secret/db-password" {
		t.Errorf("get --reveal: %s %v", r.stdout, f.seen)
	}

	r = runCLI(t, "", nil, "get", "widgets", "--addr", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown kind "widgets" (known: Secret)`) {
		t.Errorf("unknown kind: %s", r.stderr)
	}
}

func TestTokenCreate(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("POST /api/v1/tokens", 201, api.NewToken{Token: api.Token{ID: "t1", Role: api.RoleAgent}, Secret: "K10abc"})
	r := runCLI(t, "", nil, "token", "create", "--role", "agent", "--ttl", "1h", "--addr", srv.URL)
	for _, want := range []string{"K10abc", "not shown again", "corral agent --server 127.0.0.1:7701 --join-token K10abc"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("token create lacks %q:\n%s (stderr %s)", want, r.stdout, r.stderr)
		}
	}
	var req api.TokenRequest
	if err := json.Unmarshal(f.bodies["POST /api/v1/tokens"], &req); err != nil || req.TTL != api.Duration(time.Hour) || req.Role != api.RoleAgent {
		t.Errorf("token request %+v %v", req, err)
	}
}

func TestLogin(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/whoami", 200, api.Whoami{Subject: "alice", Role: api.RoleAdmin})
	f.json("POST /api/v1/login", 200, api.NewToken{Token: api.Token{ID: "t2", Role: api.RoleAdmin}, Secret: "fromlogin"})
	home := t.TempDir()
	vars := map[string]string{"HOME": home}

	r := runCLI(t, "", vars, "login", "--addr", srv.URL, "--token", "tok1")
	if r.code != 0 || r.stdout != "Logged in to "+srv.URL+" as alice (admin)\n" {
		t.Fatalf("login: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	path := filepath.Join(home, ".config", "corral", "config.yaml")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config.yaml: %v %v", fi, err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode %v", di.Mode())
	}
	saved, _, err := readTarget(path)
	if err != nil || saved.Addr != srv.URL || saved.Token != "tok1" {
		t.Errorf("saved %+v %v", saved, err)
	}

	// Later commands use the saved login.
	f.json("GET /api/v1/nodes", 200, cannedNodes)
	if r := runCLI(t, "", vars, "node", "ls"); r.code != 0 || f.auth[len(f.auth)-1] != "Bearer tok1" {
		t.Errorf("node ls after login: %d %s %v", r.code, r.stderr, f.auth)
	}

	// A password login from stdin; the address is the saved one.
	r = runCLI(t, "s3cret-pass\n", vars, "login", "--user", "alice")
	if r.code != 0 {
		t.Fatalf("login --user: %s", r.stderr)
	}
	var lr api.LoginRequest
	if err := json.Unmarshal(f.bodies["POST /api/v1/login"], &lr); err != nil || lr.Name != "alice" || lr.Password != "s3cret-pass" {
		t.Errorf("login request %+v %v", lr, err)
	}
	if saved, _, _ := readTarget(path); saved.Token != "fromlogin" {
		t.Errorf("saved token %q", saved.Token)
	}
}

func TestTarget(t *testing.T) {
	cfgHome := t.TempDir()
	dir := filepath.Join(cfgHome, "corral")
	write := func(name string, tg target) {
		t.Helper()
		if err := writeTarget(filepath.Join(dir, name), tg); err != nil {
			t.Fatal(err)
		}
	}
	write(devFile, target{Addr: "http://127.0.0.1:7700", Token: "devtok"})

	tests := []struct {
		name  string
		login *target
		flags [3]string // addr, token, ca-file
		vars  map[string]string
		want  target
	}{
		{name: "dev file", want: target{Addr: "http://127.0.0.1:7700", Token: "devtok"}},
		{
			name:  "login file before dev file",
			login: &target{Addr: "https://corral.example.com:7700", Token: "logintok", CAFile: "/etc/ca.pem"},
			want:  target{Addr: "https://corral.example.com:7700", Token: "logintok", CAFile: "/etc/ca.pem"},
		},
		{
			name:  "env before files",
			login: &target{Addr: "https://corral.example.com:7700", Token: "logintok"},
			vars:  map[string]string{"CORRAL_ADDR": "https://other:7700", "CORRAL_TOKEN": "envtok"},
			want:  target{Addr: "https://other:7700", Token: "envtok"},
		},
		{
			name:  "flags before env",
			vars:  map[string]string{"CORRAL_ADDR": "https://other:7700", "CORRAL_TOKEN": "envtok", "CORRAL_CA_FILE": "/env/ca"},
			flags: [3]string{"https://flag:7700", "flagtok", ""},
			want:  target{Addr: "https://flag:7700", Token: "flagtok", CAFile: "/env/ca"},
		},
		{
			name:  "a file's token only for its address",
			login: &target{Addr: "https://corral.example.com:7700", Token: "logintok"},
			flags: [3]string{"https://elsewhere:7700", "", ""},
			want:  target{Addr: "https://elsewhere:7700"},
		},
		{
			name:  "a file's token for the same address written differently",
			login: &target{Addr: "https://corral.example.com:7700", Token: "logintok"},
			flags: [3]string{"corral.example.com:7700/", "", ""},
			want:  target{Addr: "corral.example.com:7700/", Token: "logintok"},
		},
		{
			name:  "the dev token for the dev address",
			login: &target{Addr: "https://corral.example.com:7700", Token: "logintok"},
			vars:  map[string]string{"CORRAL_ADDR": "http://127.0.0.1:7700"},
			want:  target{Addr: "http://127.0.0.1:7700", Token: "devtok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, loginFile))
			if tt.login != nil {
				write(loginFile, *tt.login)
			}
			vars := map[string]string{"XDG_CONFIG_HOME": cfgHome}
			for k, v := range tt.vars {
				vars[k] = v
			}
			a := &app{env: env{getenv: func(k string) string { return vars[k] }}}
			a.addr, a.token, a.caFile = tt.flags[0], tt.flags[1], tt.flags[2]
			got, err := a.target()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("target = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestHelp checks that every command has an example, and that the listeners
// of features not built yet say so.
func TestHelp(t *testing.T) {
	a := &app{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" && c.Name() != "help" && c.Name() != "completion" && c.Parent() != nil && c.Parent().Name() != "completion" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(a.rootCmd())

	r := runCLI(t, "", nil, "dev", "--help")
	for _, want := range []string{
		"--carbon-addr string", "--statsd-prefix string", "--host-metrics-interval duration",
		"--syslog-addr string", "syslog listener, UDP and TCP",
		"--dns-addr string", "(reserved: served once the discovery feature lands)",
		`address of the HTTP API (and the web UI, once it lands) (default "127.0.0.1:7700")`,
		`--data-dir string`, `(default "./corral-data")`,
		"--agent-cert-ttl duration", "(default 30d)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dev --help lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "--join-token string") || strings.Contains(r.stdout, "--server strings") {
		t.Error("dev --help offers --join-token")
	}
}
