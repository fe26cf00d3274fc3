package marathon

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

func ptr[T any](v T) *T { return &v }

const sec = api.Duration(time.Second)

// docsApp is a Marathon app with most supported fields, shaped like the
// example of Marathon's REST API documentation.
const docsApp = `{
  "id": "/product/service/my-app",
  "cmd": "env && sleep 300",
  "cpus": 1.5,
  "mem": 256.0,
  "disk": 0.5,
  "instances": 3,
  "executor": "",
  "user": "nobody",
  "container": {
    "type": "DOCKER",
    "docker": {
      "image": "group/image",
      "network": "BRIDGE",
      "portMappings": [
        {"containerPort": 8080, "hostPort": 0, "servicePort": 9000, "protocol": "tcp", "name": "http"},
        {"containerPort": 161, "hostPort": 10161, "protocol": "udp"}
      ],
      "privileged": false,
      "parameters": []
    },
    "volumes": [
      {"containerPath": "/etc/a", "hostPath": "/var/data/a", "mode": "RO"},
      {"containerPath": "/etc/b", "hostPath": "/var/data/b", "mode": "RW"}
    ]
  },
  "env": {"LD_LIBRARY_PATH": "/usr/local/lib/myLib"},
  "constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "3"]],
  "acceptedResourceRoles": ["*"],
  "labels": {"environment": "staging"},
  "fetch": [
    {"uri": "https://example.com/README.md"},
    {"uri": "https://example.com/archive.zip", "executable": false, "extract": true, "cache": false},
    {"uri": "https://example.com/run.sh", "executable": true, "extract": false}
  ],
  "dependencies": ["/product/db/mongo", "/product/db"],
  "healthChecks": [
    {"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 3, "intervalSeconds": 10,
     "portIndex": 0, "timeoutSeconds": 10, "maxConsecutiveFailures": 3},
    {"protocol": "TCP", "gracePeriodSeconds": 3, "intervalSeconds": 5, "portIndex": 1,
     "timeoutSeconds": 5, "maxConsecutiveFailures": 3},
    {"protocol": "COMMAND", "command": {"value": "curl -f -X GET http://$HOST:$PORT0/health"},
     "maxConsecutiveFailures": 3}
  ],
  "backoffSeconds": 1,
  "backoffFactor": 1.15,
  "maxLaunchDelaySeconds": 3600,
  "taskKillGracePeriodSeconds": 2,
  "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2}
}`

func docsSpec() api.AppSpec {
	return api.AppSpec{
		ID: "/product/service/my-app",
		RunSpec: api.RunSpec{
			Driver: "docker", Cmd: "env && sleep 300", Image: "group/image", Network: "bridge", User: "nobody",
			Fetch: []api.FetchSpec{
				{URI: "https://example.com/README.md"},
				{URI: "https://example.com/archive.zip"},
				{URI: "https://example.com/run.sh", Executable: true, Extract: ptr(false)},
			},
			CPUs: 1.5, Mem: 256, Disk: 1,
			Env:    map[string]string{"LD_LIBRARY_PATH": "/usr/local/lib/myLib"},
			Labels: map[string]string{"environment": "staging"},
			Ports: []api.PortSpec{
				{Name: "http", ContainerPort: 8080, Protocol: "tcp"},
				{Port: 10161, ContainerPort: 161, Protocol: "udp"},
			},
			Volumes: []api.VolumeSpec{
				{HostPath: "/var/data/a", ContainerPath: "/etc/a", Mode: "RO"},
				{HostPath: "/var/data/b", ContainerPath: "/etc/b", Mode: "RW"},
			},
			Constraints:     []api.Constraint{{"hostname", "UNIQUE"}, {"rack", "GROUP_BY", "3"}},
			KillGracePeriod: 2 * sec,
		},
		Instances: ptr(3),
		HealthChecks: []api.HealthCheck{
			{Protocol: "HTTP", Path: "/health", GracePeriod: 3 * sec, Interval: 10 * sec, Timeout: 10 * sec, MaxConsecutiveFailures: 3},
			{Protocol: "TCP", PortIndex: 1, GracePeriod: 3 * sec, Interval: 5 * sec, Timeout: 5 * sec, MaxConsecutiveFailures: 3},
			// Marathon's defaults: grace 300 s, interval 60 s, timeout 20 s.
			{Protocol: "COMMAND", Command: "curl -f -X GET http://$HOST:$PORT0/health", GracePeriod: 300 * sec,
				Interval: 60 * sec, Timeout: 20 * sec, MaxConsecutiveFailures: 3},
		},
		UpgradeStrategy: api.UpgradeStrategy{MinimumHealthCapacity: ptr(0.5), MaximumOverCapacity: ptr(0.2)},
		Backoff:         api.Backoff{Initial: sec, Factor: 1.15, Max: 3600 * sec},
		DependsOn:       []string{"/product/db/mongo", "/product/db"},
	}
}

func mustFrom(t *testing.T, js string) api.AppSpec {
	t.Helper()
	spec, err := FromMarathon([]byte(js))
	if err != nil {
		t.Fatalf("FromMarathon: %v", err)
	}
	return spec
}

func TestFromMarathonDocsApp(t *testing.T) {
	got := mustFrom(t, docsApp)
	want := docsSpec()
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("spec\n%s\nwant\n%s", gj, wj)
	}
	if fe := got.Validate(); len(fe) != 0 {
		t.Errorf("docs app does not validate: %v", fe)
	}
}

func TestRoundTrip(t *testing.T) {
	exec := api.AppSpec{ID: "/shop/api", RunSpec: api.RunSpec{Cmd: "./api --port $PORT0",
		Ports: []api.PortSpec{{Name: "http"}, {Name: "admin", Port: 9090}}}, Instances: ptr(0),
		HealthChecks: []api.HealthCheck{{Protocol: "HTTPS", Path: "/h", Port: 9443, GracePeriod: 1500 * api.Duration(time.Millisecond)}}}
	exec.Defaults()
	// The first App of the issue's example, as YAML gives it.
	issue := api.AppSpec{ID: "/shop/api", RunSpec: api.RunSpec{Driver: "exec", Cmd: "./api --port $PORT0",
		Fetch: []api.FetchSpec{{URI: "file:///srv/builds/api.tar.gz"}}, CPUs: 0.25, Mem: 128,
		Env: map[string]string{"RAILS_ENV": "production"}, Labels: map[string]string{"team": "core"},
		Ports:       []api.PortSpec{{Name: "http"}},
		Constraints: []api.Constraint{{"hostname", "UNIQUE"}, {"role", "LIKE", "web|api"}}, KillGracePeriod: 10 * sec},
		Instances: ptr(3),
		HealthChecks: []api.HealthCheck{{Protocol: "HTTP", Path: "/health", GracePeriod: 30 * sec, Interval: 5 * sec,
			Timeout: 2 * sec, MaxConsecutiveFailures: 3}},
		UpgradeStrategy: api.UpgradeStrategy{MinimumHealthCapacity: ptr(0.5), MaximumOverCapacity: ptr(0.2)},
		Backoff:         api.Backoff{Initial: sec, Factor: 1.15, Max: 300 * sec},
		DependsOn:       []string{"/shop/db-proxy"}}
	issue.Defaults()
	for name, spec := range map[string]api.AppSpec{"docs": docsSpec(), "exec": exec, "issue": issue} {
		t.Run(name, func(t *testing.T) {
			status := AppStatus{Version: time.Date(2026, 11, 25, 15, 0, 0, 123e6, time.UTC), TasksRunning: 3, TasksHealthy: 2,
				TasksUnhealthy: 1, Deployments: []string{"d-1"},
				Tasks: []Task{{ID: "t1", AppID: spec.ID, Host: "n1", Ports: []int{31000}, State: TaskRunning}}}
			b, err := json.Marshal(ToMarathon(spec, status))
			if err != nil {
				t.Fatal(err)
			}
			back, err := FromMarathon(b)
			if err != nil {
				t.Fatalf("FromMarathon of ToMarathon's %s: %v", b, err)
			}
			if !reflect.DeepEqual(back, spec) {
				t.Errorf("round trip through\n%s\ngave %+v\nwant %+v", b, back, spec)
			}
		})
	}
}

func TestToMarathonJSON(t *testing.T) {
	spec := api.AppSpec{ID: "/shop/worker", RunSpec: api.RunSpec{Driver: "docker", Image: "shop/worker:1.4",
		Args: []string{"sidekiq"}, Mem: 256, Ports: []api.PortSpec{{Port: 8080}}}, Instances: ptr(2)}
	spec.Defaults()
	b, err := json.Marshal(ToMarathon(spec, AppStatus{Version: time.Date(2014, 9, 12, 23, 28, 21, 737e6, time.UTC), TasksRunning: 2, Deployments: []string{"5ed4c0c5"}}))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"/shop/worker","args":["sidekiq"],"instances":2,"cpus":1,"mem":256,"disk":0,"env":{},"labels":{},
	"constraints":[],"container":{"type":"DOCKER","docker":{"image":"shop/worker:1.4","network":"HOST"}},
	"portDefinitions":[{"port":8080,"protocol":"tcp"}],"requirePorts":true,"healthChecks":[],
	"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":1},"backoffSeconds":1,"backoffFactor":1.15,
	"maxLaunchDelaySeconds":3600,"dependencies":[],"fetch":[],"version":"2014-09-12T23:28:21.737Z",
	"tasksRunning":2,"tasksHealthy":0,"tasksUnhealthy":0,"tasksStaged":0,"deployments":[{"id":"5ed4c0c5"}]}`
	var wantMap map[string]any
	if err := json.Unmarshal([]byte(want), &wantMap); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantMap) {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestGetThenPut(t *testing.T) {
	// The shape of a GET /v2/apps/{id} answer of Marathon 1.x.
	const get = `{"id":"/toggle","cmd":"python toggle.py $PORT0","args":null,"user":null,"env":{},"instances":2,
	"cpus":0.2,"mem":32.0,"disk":0.0,"gpus":0,"executor":"","constraints":[],"uris":[],"fetch":[],"storeUrls":[],
	"backoffSeconds":1,"backoffFactor":1.15,"maxLaunchDelaySeconds":3600,"container":null,
	"healthChecks":[{"protocol":"HTTP","path":"/health","portIndex":0,"gracePeriodSeconds":5,"intervalSeconds":10,
	"timeoutSeconds":10,"maxConsecutiveFailures":3,"ignoreHttp1xx":false,"delaySeconds":15}],
	"readinessChecks":[],"dependencies":[],"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":1},
	"labels":{},"ipAddress":null,"version":"2014-09-12T23:28:21.737Z","residency":null,"secrets":{},
	"taskKillGracePeriodSeconds":null,"unreachableStrategy":{"inactiveAfterSeconds":300,"expungeAfterSeconds":600},
	"killSelection":"YOUNGEST_FIRST","acceptedResourceRoles":null,
	"versionInfo":{"lastScalingAt":"2014-09-12T23:28:21.737Z","lastConfigChangeAt":"2014-09-12T23:28:21.737Z"},
	"ports":[10000],"portDefinitions":[{"port":10000,"protocol":"tcp","name":"http","labels":{}}],"requirePorts":false,
	"tasksStaged":0,"tasksRunning":2,"tasksHealthy":2,"tasksUnhealthy":0,"deployments":[{"id":"44c4ed48"}],
	"lastTaskFailure":{"appId":"/toggle","host":"10.141.141.10","state":"TASK_FAILED"},
	"tasks":[{"appId":"/toggle","host":"10.141.141.10","id":"toggle.802d","ports":[31045],"state":"TASK_RUNNING"}]}`
	got := mustFrom(t, get)
	want := api.AppSpec{ID: "/toggle", RunSpec: api.RunSpec{Driver: "exec", Cmd: "python toggle.py $PORT0",
		CPUs: 0.2, Mem: 32,
		Ports: []api.PortSpec{{Name: "http", Protocol: "tcp"}}}, // service port 10000: a dynamic host port
		Instances: ptr(2),
		HealthChecks: []api.HealthCheck{{Protocol: "HTTP", Path: "/health", GracePeriod: 5 * sec, Interval: 10 * sec,
			Timeout: 10 * sec, MaxConsecutiveFailures: 3}},
		UpgradeStrategy: api.UpgradeStrategy{MinimumHealthCapacity: ptr(1.0), MaximumOverCapacity: ptr(1.0)},
		Backoff:         api.Backoff{Initial: sec, Factor: 1.15, Max: 3600 * sec},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if fe := got.Validate(); len(fe) != 0 {
		t.Errorf("validate: %v", fe)
	}
}

func TestPorts(t *testing.T) {
	tests := []struct {
		name string
		js   string
		want []api.PortSpec
	}{
		{"service ports are dynamic", `{"id":"/a","cmd":"x","portDefinitions":[{"port":10001},{"port":0,"name":"web"}]}`,
			[]api.PortSpec{{Protocol: "tcp"}, {Name: "web", Protocol: "tcp"}}},
		{"required ports are fixed", `{"id":"/a","cmd":"x","requirePorts":true,"portDefinitions":[{"port":8080},{"port":0}]}`,
			[]api.PortSpec{{Port: 8080, Protocol: "tcp"}, {Protocol: "tcp"}}},
		{"old ports list", `{"id":"/a","cmd":"x","requirePorts":true,"ports":[80,0]}`,
			[]api.PortSpec{{Port: 80, Protocol: "tcp"}, {Protocol: "tcp"}}},
		{"portDefinitions win over ports", `{"id":"/a","cmd":"x","ports":[80],"portDefinitions":[]}`, nil},
		{"1.5 networks and container portMappings", `{"id":"/a","networks":[{"mode":"container/bridge"}],
			"container":{"type":"DOCKER","docker":{"image":"i"},"portMappings":[{"containerPort":80,"hostPort":0,"name":"web"}]}}`,
			[]api.PortSpec{{Name: "web", ContainerPort: 80, Protocol: "tcp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustFrom(t, tt.js).Ports; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ports %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDockerMapping(t *testing.T) {
	tests := []struct {
		name      string
		js        string
		driver    string
		image     string
		network   string
		errorPath string // non-empty: FromMarathon fails at this path
	}{
		{"docker host", `{"id":"/a","container":{"type":"DOCKER","docker":{"image":"nginx","network":"HOST"}}}`, "docker", "nginx", "host", ""},
		{"docker default network", `{"id":"/a","container":{"type":"DOCKER","docker":{"image":"nginx"}}}`, "docker", "nginx", "host", ""},
		{"docker bridge", `{"id":"/a","container":{"type":"DOCKER","docker":{"image":"nginx","network":"BRIDGE"}}}`, "docker", "nginx", "bridge", ""},
		{"networks host", `{"id":"/a","networks":[{"mode":"host"}],"container":{"type":"DOCKER","docker":{"image":"nginx"}}}`, "docker", "nginx", "host", ""},
		{"mesos with docker image", `{"id":"/a","container":{"type":"MESOS","docker":{"image":"nginx"}}}`, "docker", "nginx", "host", ""},
		{"mesos without image", `{"id":"/a","cmd":"x","container":{"type":"MESOS"}}`, "exec", "", "", ""},
		{"no container", `{"id":"/a","cmd":"x"}`, "exec", "", "", ""},
		{"user network", `{"id":"/a","container":{"type":"DOCKER","docker":{"image":"nginx","network":"USER"}}}`, "", "", "", "/container/docker/network"},
		{"container network", `{"id":"/a","networks":[{"mode":"container","name":"dcos"}],"container":{"type":"DOCKER","docker":{"image":"n"}}}`, "", "", "", "/networks(0)/name"},
		{"docker without image", `{"id":"/a","container":{"type":"DOCKER"}}`, "", "", "", "/container/docker"},
		{"unknown type", `{"id":"/a","container":{"type":"RKT"}}`, "", "", "", "/container/type"},
		{"bridge without docker", `{"id":"/a","cmd":"x","networks":[{"mode":"container/bridge"}]}`, "", "", "", "/networks"},
		{"mappings on host", `{"id":"/a","container":{"type":"DOCKER","docker":{"image":"n","portMappings":[{"containerPort":80}]}}}`, "", "", "", "/container/docker/portMappings"},
		{"definitions on bridge", `{"id":"/a","portDefinitions":[{"port":0}],"container":{"type":"DOCKER","docker":{"image":"n","network":"BRIDGE"}}}`, "", "", "", "/portDefinitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := FromMarathon([]byte(tt.js))
			if tt.errorPath != "" {
				var me *Error
				if !errors.As(err, &me) || len(me.Details) == 0 || me.Details[0].Path != tt.errorPath {
					t.Fatalf("error %v, want one at %s", err, tt.errorPath)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spec.Driver != tt.driver || spec.Image != tt.image || spec.Network != tt.network {
				t.Errorf("driver %q image %q network %q, want %q %q %q", spec.Driver, spec.Image, spec.Network, tt.driver, tt.image, tt.network)
			}
		})
	}
}

func TestUnsupportedFields(t *testing.T) {
	tests := []struct {
		name string
		js   string
		want []string // every unsupported field named
	}{
		{"residency", `{"id":"/a","cmd":"x","residency":{"relaunchEscalationTimeoutSeconds":10}}`, []string{`unsupported field "residency"`}},
		{"several sorted", `{"id":"/a","cmd":"x","zeta":1,"alpha":true}`, []string{`unsupported field "alpha"`, `unsupported field "zeta"`}},
		{"nested docker", `{"id":"/a","container":{"type":"DOCKER","docker":{"image":"n","privileged":true,"pullConfig":{}}}}`,
			[]string{`unsupported field "container.docker.privileged": only an empty value is supported`, `unsupported field "container.docker.pullConfig"`}},
		{"persistent volume", `{"id":"/a","container":{"type":"DOCKER","docker":{"image":"n"},"volumes":[{"containerPath":"d","mode":"RW","persistent":{"size":10}}]}}`,
			[]string{`unsupported field "container.volumes[0].persistent"`}},
		{"health check field", `{"id":"/a","cmd":"x","healthChecks":[{"protocol":"TCP"},{"protocol":"HTTP","ipProtocol":"IPv6"}]}`,
			[]string{`unsupported field "healthChecks[1].ipProtocol"`}},
		{"custom executor", `{"id":"/a","cmd":"x","executor":"/opt/exec"}`, []string{`unsupported field "executor": only "" or "//cmd" is supported`}},
		{"oldest first", `{"id":"/a","cmd":"x","killSelection":"OLDEST_FIRST"}`, []string{`unsupported field "killSelection"`}},
		{"resource roles", `{"id":"/a","cmd":"x","acceptedResourceRoles":["slave_public"]}`, []string{`unsupported field "acceptedResourceRoles"`}},
		{"gpus", `{"id":"/a","cmd":"x","gpus":1}`, []string{`unsupported field "gpus"`}},
		{"secrets", `{"id":"/a","cmd":"x","secrets":{"s":{"source":"db"}}}`, []string{`unsupported field "secrets"`}},
		{"env secret", `{"id":"/a","cmd":"x","env":{"A":"b","DB":{"secret":"s"}}}`, []string{`unsupported field "env": value of "DB" must be a string`}},
		{"fetch output file", `{"id":"/a","cmd":"x","fetch":[{"uri":"http://h/a","outputFile":"b"}]}`, []string{`unsupported field "fetch[0].outputFile"`}},
		{"port labels", `{"id":"/a","cmd":"x","portDefinitions":[{"port":0,"labels":{"VIP_0":"10.0.0.1:80"}}]}`, []string{`unsupported field "portDefinitions[0].labels"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromMarathon([]byte(tt.js))
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("error %v, want an *Error", err)
			}
			var got []string
			for _, d := range me.Details {
				got = append(got, d.Errors...)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %q, want it to start with %q", got[i], tt.want[i])
				}
				if !strings.Contains(me.Message, tt.want[i]) {
					t.Errorf("message %q does not name %q", me.Message, tt.want[i])
				}
			}
		})
	}
}

func TestHarmlessFieldsAccepted(t *testing.T) {
	for _, js := range []string{
		`{"id":"/a","cmd":"x","executor":"//cmd","killSelection":"YOUNGEST_FIRST","acceptedResourceRoles":["*"],"role":"*"}`,
		`{"id":"/a","cmd":"x","residency":null,"ipAddress":null,"gpus":0,"storeUrls":[],"secrets":{},"readinessChecks":[]}`,
		`{"id":"/a","container":{"type":"DOCKER","docker":{"image":"n","privileged":false,"forcePullImage":false,"parameters":[]}}}`,
	} {
		if _, err := FromMarathon([]byte(js)); err != nil {
			t.Errorf("%s: %v", js, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, js := range []string{``, `[]`, `"app"`, `{"id":`, `{"id":"/a","instances":"three"}`, `{"id":"/a","instances":1.5}`,
		`{"id":"/a","healthChecks":[{"protocol":"HTTP","maxConsecutiveFailures":0}]}`, `{"id":"/a","backoffFactor":0}`} {
		_, err := FromMarathon([]byte(js))
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("%s: error %v, want an *Error", js, err)
		}
	}
}

func TestHealthCheckSeconds(t *testing.T) {
	tests := []struct {
		in   string // Marathon's health check
		want api.HealthCheck
		out  string // ToMarathon's
	}{
		{`{"protocol":"HTTP","path":"/h","portIndex":1,"gracePeriodSeconds":30,"intervalSeconds":5,"timeoutSeconds":2,"maxConsecutiveFailures":3}`,
			api.HealthCheck{Protocol: "HTTP", Path: "/h", PortIndex: 1, GracePeriod: 30 * sec, Interval: 5 * sec, Timeout: 2 * sec, MaxConsecutiveFailures: 3},
			`{"protocol":"HTTP","path":"/h","portIndex":1,"gracePeriodSeconds":30,"intervalSeconds":5,"timeoutSeconds":2,"maxConsecutiveFailures":3}`},
		{`{"protocol":"MESOS_TCP","port":8443,"gracePeriodSeconds":0.5,"intervalSeconds":1.25}`,
			api.HealthCheck{Protocol: "TCP", Port: 8443, GracePeriod: 500 * api.Duration(time.Millisecond), Interval: 1250 * api.Duration(time.Millisecond),
				Timeout: 1250 * api.Duration(time.Millisecond), MaxConsecutiveFailures: 3}, // default timeout, cut to the interval
			`{"protocol":"TCP","port":8443,"gracePeriodSeconds":0.5,"intervalSeconds":1.25,"timeoutSeconds":1.25,"maxConsecutiveFailures":3}`},
		{`{"protocol":"MESOS_HTTPS"}`,
			api.HealthCheck{Protocol: "HTTPS", Path: "/", GracePeriod: 300 * sec, Interval: 60 * sec, Timeout: 20 * sec, MaxConsecutiveFailures: 3},
			`{"protocol":"HTTPS","path":"/","portIndex":0,"gracePeriodSeconds":300,"intervalSeconds":60,"timeoutSeconds":20,"maxConsecutiveFailures":3}`},
		{`{"protocol":"COMMAND","command":{"value":"test -f /tmp/ok"},"timeoutSeconds":7}`,
			api.HealthCheck{Protocol: "COMMAND", Command: "test -f /tmp/ok", GracePeriod: 300 * sec, Interval: 60 * sec, Timeout: 7 * sec, MaxConsecutiveFailures: 3},
			`{"protocol":"COMMAND","command":{"value":"test -f /tmp/ok"},"gracePeriodSeconds":300,"intervalSeconds":60,"timeoutSeconds":7,"maxConsecutiveFailures":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			spec := mustFrom(t, `{"id":"/a","cmd":"x","portDefinitions":[{},{}],"healthChecks":[`+tt.in+`]}`)
			if !reflect.DeepEqual(spec.HealthChecks, []api.HealthCheck{tt.want}) {
				t.Fatalf("got %+v, want %+v", spec.HealthChecks, tt.want)
			}
			b, err := json.Marshal(ToMarathon(spec, AppStatus{}).HealthChecks[0])
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.out {
				t.Errorf("ToMarathon wrote %s, want %s", b, tt.out)
			}
		})
	}
}

func TestErrorFromFields(t *testing.T) {
	spec := mustFrom(t, `{"id":"/Bad","cmd":"x","cpus":-1,"container":{"type":"DOCKER","docker":{"image":""},
		"volumes":[{"containerPath":"etc","hostPath":"/a","mode":"RO"}]},
		"healthChecks":[{"protocol":"HTTP","portIndex":2,"gracePeriodSeconds":-1}],"backoffFactor":0.5,
		"upgradeStrategy":{"minimumHealthCapacity":2},"fetch":[{"uri":"ftp://h/a"}],"dependencies":["/Bad"]}`)
	e := ErrorFromFields(spec.Validate())
	var paths []string
	for _, d := range e.Details {
		paths = append(paths, d.Path)
		if len(d.Errors) != 1 || d.Errors[0] == "" {
			t.Errorf("%s: errors %q", d.Path, d.Errors)
		}
	}
	want := []string{"/backoffFactor", "/container/docker/image", "/container/volumes(0)/containerPath", "/cpus", "/dependencies(0)",
		"/fetch(0)/uri", "/healthChecks(0)/gracePeriodSeconds", "/healthChecks(0)/portIndex", "/id",
		"/upgradeStrategy/minimumHealthCapacity"}
	if !slices.Equal(paths, want) {
		t.Errorf("paths\n%q\nwant\n%q", paths, want)
	}
	b, _ := json.Marshal(e)
	if !strings.HasPrefix(string(b), `{"message":"Object is not valid","details":[{"path":"/backoffFactor","errors":["must be at least 1"]}`) {
		t.Errorf("JSON %s", b)
	}
}

func TestMarathonPath(t *testing.T) {
	for in, want := range map[string]string{
		"id": "/id", "cpus": "/cpus", "backoff.max": "/maxLaunchDelaySeconds", "kill_grace_period": "/taskKillGracePeriodSeconds",
		"health_checks[10].max_consecutive_failures": "/healthChecks(10)/maxConsecutiveFailures",
		"health_checks[0].command":                   "/healthChecks(0)/command/value",
		"ports[1].container_port":                    "/portDefinitions(1)/containerPort",
		"constraints[3]":                             "/constraints(3)",
		"upgrade_strategy.maximum_over_capacity":     "/upgradeStrategy/maximumOverCapacity",
	} {
		if got := MarathonPath(in); got != want {
			t.Errorf("MarathonPath(%q) = %q, want %q", in, got, want)
		}
	}
}
