package marathon

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/scheduler"
)

// sameJSON compares b with want as JSON values.
func sameJSON(t *testing.T, b []byte, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("want: %v", err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestTaskJSON(t *testing.T) {
	staged := time.Date(2014, 9, 13, 0, 20, 27, 500e6, time.FixedZone("CEST", 2*3600))
	task := Task{ID: "shop_api.1", AppID: "/shop/api", Host: "n1", SlaveID: "n1", Ports: []int{31000, 31001},
		StagedAt: Time(staged), StartedAt: Time(staged.Add(601 * time.Millisecond)), Version: "2014-09-12T23:28:21.737Z",
		State: TaskRunning, HealthCheckResults: []HealthCheckResult{{TaskID: "shop_api.1", Alive: true,
			FirstSuccess: Time(staged.Add(2 * time.Second)), LastSuccess: Time(staged.Add(7 * time.Second))}}}
	b, err := json.Marshal(TasksResponse{Tasks: []Task{task, {ID: "shop_api.2", AppID: "/shop/api", Host: "n2",
		Ports: []int{}, StagedAt: Time(staged), State: TaskStaging}}})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, b, `{"tasks":[
	{"id":"shop_api.1","appId":"/shop/api","host":"n1","slaveId":"n1","ports":[31000,31001],
	 "stagedAt":"2014-09-12T22:20:27.500Z","startedAt":"2014-09-12T22:20:28.101Z","version":"2014-09-12T23:28:21.737Z",
	 "state":"TASK_RUNNING","healthCheckResults":[{"taskId":"shop_api.1","alive":true,"consecutiveFailures":0,
	 "firstSuccess":"2014-09-12T22:20:29.500Z","lastSuccess":"2014-09-12T22:20:34.500Z","lastFailure":null}]},
	{"id":"shop_api.2","appId":"/shop/api","host":"n2","ports":[],"stagedAt":"2014-09-12T22:20:27.500Z",
	 "startedAt":null,"state":"TASK_STAGING"}]}`)
	var back TasksResponse
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !time.Time(back.Tasks[0].StartedAt).Equal(staged.Add(601*time.Millisecond)) || !time.Time(back.Tasks[1].StartedAt).IsZero() {
		t.Errorf("times read back as %v, %v", back.Tasks[0].StartedAt, back.Tasks[1].StartedAt)
	}
}

func TestDeploymentJSON(t *testing.T) {
	steps := []Step{
		{Actions: []Action{{Action: ActionStart, App: "/shop/db-proxy"}}},
		{Actions: []Action{{Action: ActionRestart, App: "/shop/api"}, {Action: ActionScale, App: "/shop/db-proxy"}}},
	}
	d := NewDeployment("97c136bf", time.Date(2015, 9, 30, 9, 9, 17, 614e6, time.UTC), steps, 2)
	b, err := json.Marshal([]Deployment{d, NewDeployment("x", time.Unix(0, 0), nil, 0)})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, b, `[{"id":"97c136bf","version":"2015-09-30T09:09:17.614Z","affectedApps":["/shop/db-proxy","/shop/api"],
	"affectedPods":[],"steps":[{"actions":[{"action":"StartApplication","app":"/shop/db-proxy"}]},
	{"actions":[{"action":"RestartApplication","app":"/shop/api"},{"action":"ScaleApplication","app":"/shop/db-proxy"}]}],
	"currentActions":[{"action":"RestartApplication","app":"/shop/api"},{"action":"ScaleApplication","app":"/shop/db-proxy"}],
	"currentStep":2,"totalSteps":2},
	{"id":"x","version":"1970-01-01T00:00:00.000Z","affectedApps":[],"affectedPods":[],"steps":[],"currentActions":[],
	"currentStep":0,"totalSteps":0}]`)
	b, _ = json.Marshal(DeploymentResult{Version: "2015-09-30T09:09:17.614Z", DeploymentID: "97c136bf"})
	sameJSON(t, b, `{"version":"2015-09-30T09:09:17.614Z","deploymentId":"97c136bf"}`)
}

func TestInfoJSON(t *testing.T) {
	b, err := json.Marshal(Info(InfoParams{Version: "0.3.0", Elected: true, Leader: "s1:7700", FrameworkID: "c-1",
		Hostname: "s1", HTTPPort: 7700, LocalPortMin: 31000, LocalPortMax: 32000}))
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, b, `{"name":"corral","version":"0.3.0","elected":true,"leader":"s1:7700","frameworkId":"c-1",
	"marathon_config":{"master":"corral","hostname":"s1","ha":false,"checkpoint":true,"local_port_min":31000,
	"local_port_max":32000,"mesos_role":"*","mesos_user":"root"},"http_config":{"http_port":7700}}`)
}

func TestAppResponseJSON(t *testing.T) {
	spec := api.AppSpec{ID: "/a", RunSpec: api.RunSpec{Cmd: "x"}}
	b, err := json.Marshal(AppsResponse{Apps: []App{ToMarathon(spec, AppStatus{})}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal(b, &got); err != nil || len(got.Apps) != 1 || got.Apps[0]["id"] != "/a" || got.Apps[0]["instances"] != 1.0 {
		t.Errorf("apps response %s (%v)", b, err)
	}
	if _, ok := got.Apps[0]["version"]; ok {
		t.Errorf("zero version written: %s", b)
	}
}

// TestConstraintsAgreeWithScheduler checks that api's syntactic constraint
// check accepts exactly what the scheduler does.
func TestConstraintsAgreeWithScheduler(t *testing.T) {
	cases := [][]string{
		{"hostname", "UNIQUE"}, {"hostname", "unique"}, {"hostname", "UNIQUE", "x"}, {"rack", "CLUSTER"},
		{"rack", "CLUSTER", "r1"}, {"rack", "GROUP_BY"}, {"rack", "GROUP_BY", "3"}, {"rack", "GROUP_BY", "0"},
		{"rack", "GROUP_BY", "x"}, {"role", "LIKE", "web|api"}, {"role", "LIKE"}, {"role", "LIKE", "("},
		{"role", "UNLIKE", "db.*"}, {"role", "UNLIKE", "[a-"}, {"rack", "MAX_PER", "2"}, {"rack", "MAX_PER"},
		{"rack", "MAX_PER", "-1"}, {"rack", "MAX_PER", "1.5"}, {"rack", "IS", "r1"}, {"rack", "IS"},
		{"rack", "NEAR", "x"}, {"rack", ""}, {"", "UNIQUE"}, {"rack"}, {"a", "IS", "b", "c"}, {},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			spec := api.AppSpec{ID: "/a", RunSpec: api.RunSpec{Cmd: "x", Constraints: []api.Constraint{c}}}
			_, apiBad := spec.Validate()["constraints[0]"]
			_, err := scheduler.ParseConstraints([][]string{c})
			if apiBad != (err != nil) {
				t.Errorf("api rejects: %v (%q); scheduler: %v", apiBad, spec.Validate()["constraints[0]"], err)
			}
		})
	}
}
