package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const issueSpecs = `
kind: App
id: /shop/api
driver: exec
cmd: ./api --port $PORT0
fetch:
  - uri: file:///srv/builds/api.tar.gz
instances: 3
cpus: 0.25
mem: 128
env: {RAILS_ENV: production}
labels: {team: core}
ports: [{name: http}]
constraints: [[hostname, UNIQUE], [role, LIKE, "web|api"]]
health_checks:
  - {protocol: HTTP, path: /health, port_index: 0, grace_period: 30s,
     interval: 5s, timeout: 2s, max_consecutive_failures: 3}
upgrade_strategy: {minimum_health_capacity: 0.5, maximum_over_capacity: 0.2}
backoff: {initial: 1s, factor: 1.15, max: 5m}
kill_grace_period: 10s
depends_on: [/shop/db-proxy]
---
kind: App
id: /shop/worker
driver: docker
image: shop/worker:1.4
args: [sidekiq, -c, "5"]
instances: 2
mem: 256
---
kind: Job
id: /shop/nightly-report
cmd: ./report.sh
schedule: "0 3 * * *"
timezone: Europe/Berlin
concurrency_policy: FORBID
starting_deadline: 5m
retries: 2
`

// yamlDocs converts YAML documents to JSON objects without their kind, as the
// resource registry stores specs.
func yamlDocs(t testing.TB, src string) (kinds []string, docs [][]byte) {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(src))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return kinds, docs
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, m["kind"].(string))
		delete(m, "kind")
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
}

func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func ptr[T any](v T) *T { return &v }

func TestIssueSpecsDecodeAndValidate(t *testing.T) {
	kinds, docs := yamlDocs(t, issueSpecs)
	if !slices.Equal(kinds, []string{"App", "App", "Job"}) {
		t.Fatalf("kinds %v", kinds)
	}
	var api, worker AppSpec
	var job JobSpec
	for i, v := range []any{&api, &worker, &job} {
		if err := strictDecode(docs[i], v); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
	}
	sec := Duration(time.Second)
	wantAPI := AppSpec{
		ID: "/shop/api",
		RunSpec: RunSpec{
			Driver: "exec", Cmd: "./api --port $PORT0",
			Fetch: []FetchSpec{{URI: "file:///srv/builds/api.tar.gz"}},
			CPUs:  0.25, Mem: 128,
			Env:             map[string]string{"RAILS_ENV": "production"},
			Labels:          map[string]string{"team": "core"},
			Ports:           []PortSpec{{Name: "http"}},
			Constraints:     []Constraint{{"hostname", "UNIQUE"}, {"role", "LIKE", "web|api"}},
			KillGracePeriod: 10 * sec,
		},
		Instances: ptr(3),
		HealthChecks: []HealthCheck{{Protocol: "HTTP", Path: "/health", GracePeriod: 30 * sec,
			Interval: 5 * sec, Timeout: 2 * sec, MaxConsecutiveFailures: 3}},
		UpgradeStrategy: UpgradeStrategy{MinimumHealthCapacity: ptr(0.5), MaximumOverCapacity: ptr(0.2)},
		Backoff:         Backoff{Initial: sec, Factor: 1.15, Max: 300 * sec},
		DependsOn:       []string{"/shop/db-proxy"},
	}
	if !reflect.DeepEqual(api, wantAPI) {
		t.Errorf("api decoded\n%+v\nwant\n%+v", api, wantAPI)
	}
	wantWorker := AppSpec{ID: "/shop/worker", RunSpec: RunSpec{Driver: "docker", Image: "shop/worker:1.4",
		Args: []string{"sidekiq", "-c", "5"}, Mem: 256}, Instances: ptr(2)}
	if !reflect.DeepEqual(worker, wantWorker) {
		t.Errorf("worker decoded %+v, want %+v", worker, wantWorker)
	}
	wantJob := JobSpec{ID: "/shop/nightly-report", RunSpec: RunSpec{Cmd: "./report.sh"}, Schedule: "0 3 * * *",
		Timezone: "Europe/Berlin", ConcurrencyPolicy: "FORBID", StartingDeadline: 300 * sec, Retries: 2}
	if !reflect.DeepEqual(job, wantJob) {
		t.Errorf("job decoded %+v, want %+v", job, wantJob)
	}
	for name, fe := range map[string]FieldErrors{"api": api.Validate(), "worker": worker.Validate(), "job": job.Validate()} {
		if len(fe) != 0 {
			t.Errorf("%s: %v", name, fe)
		}
	}
	// Defaults keep what was given and fill the rest.
	api.Defaults()
	if api.Backoff.Max != 300*sec || *api.UpgradeStrategy.MinimumHealthCapacity != 0.5 || api.Count() != 3 || api.Ports[0].Protocol != "tcp" {
		t.Errorf("defaults changed given values: %+v", api)
	}
	worker.Defaults()
	if worker.CPUs != 1 || worker.Mem != 256 || worker.Network != "host" || worker.Backoff != (Backoff{sec, 1.15, 3600 * sec}) ||
		*worker.UpgradeStrategy.MinimumHealthCapacity != 1 || *worker.UpgradeStrategy.MaximumOverCapacity != 1 {
		t.Errorf("worker defaults: %+v", worker)
	}
	if fe := worker.Validate(); len(fe) != 0 {
		t.Errorf("worker after defaults: %v", fe)
	}
	if g := api.Group(); g != "/shop" {
		t.Errorf("Group() = %q", g)
	}
}

func TestAppDefaults(t *testing.T) {
	a := AppSpec{ID: "web", RunSpec: RunSpec{Cmd: "x", Volumes: []VolumeSpec{{HostPath: "/a", ContainerPath: "/b"}}},
		HealthChecks: []HealthCheck{{Protocol: "http"}, {Protocol: "TCP"}}, DependsOn: []string{"db"}}
	a.Defaults()
	want := []HealthCheck{
		{Protocol: "HTTP", Path: "/", GracePeriod: Duration(5 * time.Minute), Interval: Duration(time.Minute), Timeout: Duration(20 * time.Second), MaxConsecutiveFailures: 3},
		{Protocol: "TCP", GracePeriod: Duration(5 * time.Minute), Interval: Duration(time.Minute), Timeout: Duration(20 * time.Second), MaxConsecutiveFailures: 3},
	}
	if !reflect.DeepEqual(a.HealthChecks, want) {
		t.Errorf("health checks %+v, want %+v", a.HealthChecks, want)
	}
	if a.ID != "/web" || a.DependsOn[0] != "/db" || a.Count() != 1 || a.Driver != "exec" || a.CPUs != 1 || a.Mem != 128 || a.Volumes[0].Mode != "RW" {
		t.Errorf("defaults: %+v", a)
	}
	short := AppSpec{ID: "/w", RunSpec: RunSpec{Cmd: "x", Ports: []PortSpec{{}}}, Backoff: Backoff{Initial: Duration(2 * time.Hour)},
		HealthChecks: []HealthCheck{{Protocol: "TCP", Interval: Duration(10 * time.Second)}}}
	short.Defaults()
	if short.HealthChecks[0].Timeout != Duration(10*time.Second) || short.Backoff.Max != Duration(2*time.Hour) {
		t.Errorf("timeout %v, backoff max %v: want the interval and the initial backoff", short.HealthChecks[0].Timeout, short.Backoff.Max)
	}
	if fe := short.Validate(); len(fe) != 0 {
		t.Errorf("invalid after Defaults: %v", fe)
	}
	zero := AppSpec{ID: "/w", RunSpec: RunSpec{Cmd: "x"}, Instances: ptr(0)}
	zero.Defaults()
	if zero.Count() != 0 {
		t.Errorf("instances 0 became %d", zero.Count())
	}
	j := JobSpec{ID: "j", RunSpec: RunSpec{Cmd: "x"}}
	j.Defaults()
	if j.ID != "/j" || j.ConcurrencyPolicy != "ALLOW" || j.CPUs != 1 {
		t.Errorf("job defaults: %+v", j)
	}
}

func TestPathGroup(t *testing.T) {
	for id, want := range map[string]string{"/shop/api": "/shop", "/api": "/", "api": "/", "/a/b/c": "/a/b", "a/b": "/a"} {
		if got := PathGroup(id); got != want {
			t.Errorf("PathGroup(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	good := []string{"/shop/api", "api", "/a", "/a-1/b2", "/0", strings.Repeat("a", 63)}
	bad := []string{"", "/", "/Shop", "/shop/", "//a", "/a//b", "/-a", "/a-", "/a_b", "/../a", "/a/../b", "/./a", "/a.b", strings.Repeat("a", 64), "/a b"}
	for _, id := range good {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
	for _, id := range bad {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}

func TestAppSpecValidate(t *testing.T) {
	base := func(mod func(*AppSpec)) AppSpec {
		a := AppSpec{ID: "/shop/api", RunSpec: RunSpec{Cmd: "./api", Ports: []PortSpec{{Name: "http"}}},
			HealthChecks: []HealthCheck{{Protocol: "HTTP", Path: "/health"}}}
		mod(&a)
		return a
	}
	docker := func(a *AppSpec) { a.Driver, a.Image, a.Cmd = "docker", "nginx", "" }
	sec := Duration(time.Second)
	tests := []struct {
		name string
		spec AppSpec
		want []string
	}{
		{"ok", base(func(*AppSpec) {}), nil},
		{"suspended", base(func(a *AppSpec) { a.Instances = ptr(0) }), nil},
		{"docker without command", base(docker), nil},
		{"bad id", base(func(a *AppSpec) { a.ID = "/Shop/API" }), []string{"id"}},
		{"dotdot id", base(func(a *AppSpec) { a.ID = "/shop/../api" }), []string{"id"}},
		{"no cmd", base(func(a *AppSpec) { a.Cmd = "" }), []string{"cmd"}},
		{"cmd and args", base(func(a *AppSpec) { a.Args = []string{"x"} }), []string{"args"}},
		{"unknown driver", base(func(a *AppSpec) { a.Driver = "rkt" }), []string{"driver"}},
		{"docker without image", base(func(a *AppSpec) { docker(a); a.Image = "" }), []string{"image"}},
		{"image on exec", base(func(a *AppSpec) { a.Image = "nginx" }), []string{"image"}},
		{"network on exec", base(func(a *AppSpec) { a.Network = "bridge" }), []string{"network"}},
		{"bad network", base(func(a *AppSpec) { docker(a); a.Network = "overlay" }), []string{"network"}},
		{"negative cpus", base(func(a *AppSpec) { a.CPUs = -0.5 }), []string{"cpus"}},
		{"negative mem disk", base(func(a *AppSpec) { a.Mem, a.Disk = -1, -1 }), []string{"disk", "mem"}},
		{"negative instances", base(func(a *AppSpec) { a.Instances = ptr(-1) }), []string{"instances"}},
		{"fetch scheme", base(func(a *AppSpec) { a.Fetch = []FetchSpec{{URI: "http://x/a"}, {URI: "s3://b/k"}} }), []string{"fetch[1].uri"}},
		{"fetch relative file", base(func(a *AppSpec) { a.Fetch = []FetchSpec{{URI: "file://srv/a"}} }), []string{"fetch[0].uri"}},
		{"fetch no host", base(func(a *AppSpec) { a.Fetch = []FetchSpec{{URI: "https:///a"}} }), []string{"fetch[0].uri"}},
		{"env name", base(func(a *AppSpec) { a.Env = map[string]string{"1X": "y"} }), []string{"env"}},
		{"label key", base(func(a *AppSpec) { a.Labels = map[string]string{"-x": "y"} }), []string{"labels"}},
		{"port name", base(func(a *AppSpec) { a.Ports[0].Name = "HTTP" }), []string{"ports[0].name"}},
		{"dup port name", base(func(a *AppSpec) { a.Ports = append(a.Ports, PortSpec{Name: "http"}) }), []string{"ports[1].name"}},
		{"dup fixed port", base(func(a *AppSpec) { a.Ports = []PortSpec{{Port: 80}, {Port: 80}} }), []string{"ports[1].port"}},
		{"port range", base(func(a *AppSpec) { a.Ports[0].Port = 70000 }), []string{"ports[0].port"}},
		{"container port on host", base(func(a *AppSpec) { docker(a); a.Ports[0].ContainerPort = 80 }), []string{"ports[0].container_port"}},
		{"container port on bridge", base(func(a *AppSpec) { docker(a); a.Network = "bridge"; a.Ports[0].ContainerPort = 80 }), nil},
		{"port protocol", base(func(a *AppSpec) { a.Ports[0].Protocol = "sctp" }), []string{"ports[0].protocol"}},
		{"volume on exec", base(func(a *AppSpec) { a.Volumes = []VolumeSpec{{HostPath: "/a", ContainerPath: "/b"}} }), []string{"volumes[0]"}},
		{"volume paths mode", base(func(a *AppSpec) {
			docker(a)
			a.Volumes = []VolumeSpec{{HostPath: "/a", ContainerPath: "/b", Mode: "RO"}, {HostPath: "a", ContainerPath: "b", Mode: "rw"}}
		}), []string{"volumes[1].container_path", "volumes[1].host_path", "volumes[1].mode"}},
		{"constraint arity", base(func(a *AppSpec) { a.Constraints = []Constraint{{"hostname", "UNIQUE"}, {"hostname"}} }), []string{"constraints[1]"}},
		{"constraint operator", base(func(a *AppSpec) { a.Constraints = []Constraint{{"rack", "NEAR", "x"}} }), []string{"constraints[0]"}},
		{"constraint lower-case operator", base(func(a *AppSpec) { a.Constraints = []Constraint{{"rack", "group_by", "3"}} }), nil},
		{"constraint regex", base(func(a *AppSpec) { a.Constraints = []Constraint{{"role", "LIKE", "web("}} }), []string{"constraints[0]"}},
		{"constraint max_per number", base(func(a *AppSpec) { a.Constraints = []Constraint{{"rack", "MAX_PER", "two"}} }), []string{"constraints[0]"}},
		{"constraint unique value", base(func(a *AppSpec) { a.Constraints = []Constraint{{"rack", "UNIQUE", "x"}} }), []string{"constraints[0]"}},
		{"constraint is needs value", base(func(a *AppSpec) { a.Constraints = []Constraint{{"rack", "IS"}} }), []string{"constraints[0]"}},
		{"health protocol", base(func(a *AppSpec) { a.HealthChecks[0].Protocol = "UDP" }), []string{"health_checks[0].protocol"}},
		{"health path", base(func(a *AppSpec) { a.HealthChecks[0].Path = "health" }), []string{"health_checks[0].path"}},
		{"health port index", base(func(a *AppSpec) { a.HealthChecks[0].PortIndex = 1 }), []string{"health_checks[0].port_index"}},
		{"health fixed port", base(func(a *AppSpec) { a.Ports = nil; a.HealthChecks[0].Port = 8080 }), nil},
		{"health command missing", base(func(a *AppSpec) { a.HealthChecks[0] = HealthCheck{Protocol: "COMMAND"} }), []string{"health_checks[0].command"}},
		{"health command ok", base(func(a *AppSpec) { a.Ports = nil; a.HealthChecks[0] = HealthCheck{Protocol: "COMMAND", Command: "true"} }), nil},
		{"health tcp path", base(func(a *AppSpec) { a.HealthChecks[0].Protocol = "TCP" }), []string{"health_checks[0].path"}},
		{"health timeout", base(func(a *AppSpec) { a.HealthChecks[0].Interval, a.HealthChecks[0].Timeout = sec, 2*sec }), []string{"health_checks[0].timeout"}},
		{"health negatives", base(func(a *AppSpec) {
			a.HealthChecks[0].GracePeriod, a.HealthChecks[0].MaxConsecutiveFailures = -sec, -1
		}), []string{"health_checks[0].grace_period", "health_checks[0].max_consecutive_failures"}},
		{"upgrade bounds", base(func(a *AppSpec) { a.UpgradeStrategy = UpgradeStrategy{ptr(1.5), ptr(-0.1)} }),
			[]string{"upgrade_strategy.maximum_over_capacity", "upgrade_strategy.minimum_health_capacity"}},
		{"upgrade zero", base(func(a *AppSpec) { a.UpgradeStrategy = UpgradeStrategy{ptr(0.0), ptr(0.0)} }), nil},
		{"backoff factor", base(func(a *AppSpec) { a.Backoff.Factor = 0.5 }), []string{"backoff.factor"}},
		{"backoff max", base(func(a *AppSpec) { a.Backoff = Backoff{Initial: 10 * sec, Max: sec} }), []string{"backoff.max"}},
		{"kill grace", base(func(a *AppSpec) { a.KillGracePeriod = -sec }), []string{"kill_grace_period"}},
		{"depends on self", base(func(a *AppSpec) { a.DependsOn = []string{"/shop/db", "shop/api"} }), []string{"depends_on[1]"}},
		{"depends on bad id", base(func(a *AppSpec) { a.DependsOn = []string{"/Shop"} }), []string{"depends_on[0]"}},
		{"depends on twice", base(func(a *AppSpec) { a.DependsOn = []string{"/db", "db"} }), []string{"depends_on[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := tt.spec.Validate()
			var got []string
			for k := range fe {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("failing fields %v, want %v (%v)", got, tt.want, fe)
			}
		})
	}
}

func TestJobSpecValidate(t *testing.T) {
	base := func(mod func(*JobSpec)) JobSpec {
		j := JobSpec{ID: "/shop/report", RunSpec: RunSpec{Cmd: "./r"}, Schedule: "0 3 * * *", Timezone: "Europe/Berlin"}
		mod(&j)
		return j
	}
	tests := []struct {
		name string
		spec JobSpec
		want []string
	}{
		{"ok", base(func(*JobSpec) {}), nil},
		{"one-off", base(func(j *JobSpec) { j.Schedule, j.Timezone = "", "" }), nil},
		{"timezone without schedule", base(func(j *JobSpec) { j.Schedule = "" }), []string{"timezone"}},
		{"unknown timezone", base(func(j *JobSpec) { j.Timezone = "Mars/Olympus" }), []string{"timezone"}},
		{"four fields", base(func(j *JobSpec) { j.Schedule = "0 3 * *" }), []string{"schedule"}},
		{"six fields", base(func(j *JobSpec) { j.Schedule = "0 0 3 * * *" }), []string{"schedule"}},
		{"policy", base(func(j *JobSpec) { j.ConcurrencyPolicy = "forbid" }), []string{"concurrency_policy"}},
		{"negatives", base(func(j *JobSpec) { j.Retries, j.StartingDeadline = -1, -1 }), []string{"retries", "starting_deadline"}},
		{"bad id and no cmd", base(func(j *JobSpec) { j.ID, j.Cmd = "", "" }), []string{"cmd", "id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := tt.spec.Validate()
			var got []string
			for k := range fe {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("failing fields %v, want %v (%v)", got, tt.want, fe)
			}
		})
	}
}

func TestCheckCron(t *testing.T) {
	good := []string{"0 3 * * *", "*/15 * * * *", "0 9-17/2 * * mon-fri", "0 0 1,15 * *", "0 0 ? jan,jul sun",
		"59 23 31 12 6", "@daily", "@every 90m", "  5 4 * * *  "}
	bad := map[string]string{
		"":                "want 5 fields",
		"60 * * * *":      "minute field",
		"* 24 * * *":      "hour field",
		"* * 0 * *":       "day of month field",
		"* * * 13 *":      "month field",
		"* * * * 7":       "day of week field",
		"* * * * funday":  "is not a number",
		"*/0 * * * *":     "step",
		"5-1 * * * *":     "ends before it starts",
		"@fortnightly":    "unknown descriptor",
		"@every soon":     "@every",
		"* * * * * * *":   "want 5 fields",
		"1,,2 * * * *":    "is not a number",
		"* * * * mon-xyz": "is not a number",
	}
	for _, s := range good {
		if msg := CheckCron(s); msg != "" {
			t.Errorf("CheckCron(%q) = %q, want ok", s, msg)
		}
	}
	for s, want := range bad {
		if msg := CheckCron(s); !strings.Contains(msg, want) {
			t.Errorf("CheckCron(%q) = %q, want it to mention %q", s, msg, want)
		}
	}
}

func TestConstraintJSON(t *testing.T) {
	var cs []Constraint
	if err := json.Unmarshal([]byte(`[["rack","MAX_PER",2],["hostname","UNIQUE"]]`), &cs); err != nil {
		t.Fatal(err)
	}
	if want := []Constraint{{"rack", "MAX_PER", "2"}, {"hostname", "UNIQUE"}}; !reflect.DeepEqual(cs, want) {
		t.Errorf("got %v, want %v", cs, want)
	}
	if err := json.Unmarshal([]byte(`[["rack",{"x":1}]]`), &cs); err == nil {
		t.Error("object in a constraint accepted")
	}
	if err := json.Unmarshal([]byte(`["rack"]`), &cs); err == nil {
		t.Error("string as a constraint accepted")
	}
}

func TestAppSpecJSONRoundTrip(t *testing.T) {
	a := AppSpec{ID: "/w", RunSpec: RunSpec{Driver: "docker", Image: "i", Fetch: []FetchSpec{{URI: "http://h/a.tgz", Extract: ptr(false)}}},
		Instances: ptr(0), UpgradeStrategy: UpgradeStrategy{MinimumHealthCapacity: ptr(0.0)}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"instances":0`) || !strings.Contains(s, `"minimum_health_capacity":0`) ||
		strings.Contains(s, "backoff") || strings.Contains(s, "maximum_over_capacity") {
		t.Errorf("marshalled %s", s)
	}
	var back AppSpec
	if err := strictDecode(b, &back); err != nil || !reflect.DeepEqual(back, a) {
		t.Errorf("round trip %s gave %+v (%v)", b, back, err)
	}
	if back.Fetch[0].Extracts() || !(FetchSpec{}).Extracts() {
		t.Error("Extracts")
	}
}

// FuzzCheckCron checks that CheckCron never panics and accepts only five
// fields or a descriptor.
func FuzzCheckCron(f *testing.F) {
	for _, s := range []string{"0 3 * * *", "*/15 9-17 1,15 jan-mar mon-fri", "@every 1h", "@daily", "1-", "-/", "*/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckCron(s) == "" && !strings.HasPrefix(strings.TrimSpace(s), "@") && len(strings.Fields(s)) != 5 {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzAppSpec checks that decoding, validating and defaulting any JSON
// never panics, that Defaults is idempotent and that a valid spec stays
// valid after Defaults.
func FuzzAppSpec(f *testing.F) {
	_, docs := yamlDocs(f, issueSpecs)
	for _, d := range docs {
		f.Add(d)
	}
	f.Add([]byte(`{"id":"a","cmd":"x","health_checks":[{"protocol":"http"}],"instances":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a AppSpec
		if strictDecode(b, &a) != nil {
			return
		}
		valid := len(a.Validate()) == 0
		a.Defaults()
		if fe := a.Validate(); valid && len(fe) != 0 {
			t.Fatalf("valid spec invalid after Defaults: %v", fe)
		}
		once, _ := json.Marshal(a)
		a.Defaults()
		twice, _ := json.Marshal(a)
		if !bytes.Equal(once, twice) {
			t.Fatalf("Defaults not idempotent:\n%s\n%s", once, twice)
		}
		var j JobSpec
		if strictDecode(b, &j) == nil {
			j.Validate()
			j.Defaults()
		}
	})
}
