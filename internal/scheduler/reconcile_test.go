package scheduler

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestPlaceHostnameGroupByFollowsMarathon(t *testing.T) {
	// With one candidate scored, only the GROUP_BY rule keeps the instance
	// off n1: among the nodes in use, only the one with the fewest may grow.
	tasks := []Task{{ID: "t1", App: "app", Node: "n1"}, {ID: "t2", App: "app", Node: "n1"}, {ID: "t3", App: "app", Node: "n2"}}
	for seed := range uint64(20) {
		s, err := NewState([]Node{node("n1"), node("n2")}, tasks, Options{Seed: seed, Candidates: 1})
		if err != nil {
			t.Fatal(err)
		}
		p := place(t, s, app(Constraint{"hostname", GroupBy, ""}), 1)
		if len(p.Placements) != 1 || p.Placements[0].Node != "n2" {
			t.Fatalf("seed %d: placed %v, want n2", seed, p.Placements)
		}
	}
}

func TestDrain(t *testing.T) {
	nodes := []Node{node("n1"), node("n2"), node("n3"), node("n4")}
	web := AppSpec{ID: "web", Resources: Resources{CPUs: 1, MemMiB: 128}, Ports: []PortRequest{{Name: "http"}}, Constraints: []Constraint{{"hostname", Unique, ""}}}
	tasks := []Task{
		{ID: "web-1", App: "web", Node: "n1", Resources: web.Resources, Ports: []int{31000}},
		{ID: "web-2", App: "web", Node: "n2", Resources: web.Resources, Ports: []int{31000}},
		{ID: "web-3", App: "web", Node: "n3", Resources: web.Resources, Ports: []int{31000}},
		{ID: "job-1", App: "job", Node: "n1", Resources: Resources{CPUs: 0.5}, Ports: []int{31001, 31002}},
	}
	s := newState(t, nodes, tasks)
	plan, err := Drain(s, "n1", map[string]AppSpec{"web": web})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Moves) != 2 || len(plan.Stuck) != 0 {
		t.Fatalf("plan %+v, want 2 moves", plan)
	}
	// Moves come in order of app: job first. job has no spec and keeps its
	// resources and two dynamic ports; web's only free node is n4.
	if m := plan.Moves[0]; m.Task.ID != "job-1" || m.To.Node == "n1" || len(m.To.Ports) != 2 {
		t.Errorf("job move %+v", m)
	}
	if m := plan.Moves[1]; m.Task.ID != "web-1" || m.To.Node != "n4" {
		t.Errorf("web move %+v, want to n4", m)
	}
	// The drained node takes nothing new.
	if p := place(t, s, app(), 8); perNode(p)["n1"] != 0 {
		t.Errorf("placed on drained n1: %v", perNode(p))
	}
	if _, err := Drain(s, "nope", nil); err == nil {
		t.Error("draining an unknown node succeeded")
	}
}

func TestDrainStuck(t *testing.T) {
	nodes := []Node{node("n1"), {Name: "n2", Capacity: Resources{CPUs: 0.5, MemMiB: 4096}}}
	spec := AppSpec{ID: "db", Resources: Resources{CPUs: 2, MemMiB: 1024}}
	s := newState(t, nodes, []Task{{ID: "db-1", App: "db", Node: "n1", Resources: spec.Resources}})
	plan, err := Drain(s, "n1", map[string]AppSpec{"db": spec})
	if err != nil {
		t.Fatal(err)
	}
	want := "1 node drained; needs 2 CPUs, 1 node has less"
	if len(plan.Moves) != 0 || len(plan.Stuck) != 1 || plan.Stuck[0].Reason != want {
		t.Fatalf("plan %+v, want db-1 stuck with %q", plan, want)
	}
	// The stuck task stays where it is, in the State.
	if got := s.Tasks("db"); len(got) != 1 || got[0].Node != "n1" {
		t.Errorf("tasks of db = %+v", got)
	}
}

func TestScaleDown(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 1, 1, 0, min, 0, 0, time.UTC) }
	nodes := []Node{
		node("n1", "zone", "a", "role", "web"), node("n2", "zone", "a", "role", "web"),
		node("n3", "zone", "b", "role", "web"), node("n4", "zone", "b", "role", "batch"),
		node("gone", "zone", "b"), node("dr", "zone", "b", "role", "web"),
	}
	nodes[4].Down = true
	nodes[5].Drained = true
	tests := []struct {
		name  string
		tasks []Task
		spec  AppSpec
		count int
		want  []string
	}{
		{name: "status then newest", spec: app(), count: 6, tasks: []Task{
			{ID: "old", App: "app", Node: "n1", Started: at(1)},
			{ID: "new", App: "app", Node: "n2", Started: at(5)},
			{ID: "sick", App: "app", Node: "n3", Status: TaskUnhealthy, Started: at(0)},
			{ID: "staged", App: "app", Node: "n4", Status: TaskStaging},
			{ID: "lost", App: "app", Node: "gone", Started: at(0)},
			{ID: "nowhere", App: "app", Node: "unknown", Started: at(0)},
		}, want: []string{"lost", "nowhere", "sick", "staged", "new", "old"}},
		{name: "drained node before healthy", spec: app(), count: 2, tasks: []Task{
			{ID: "a", App: "app", Node: "n1", Started: at(9)},
			{ID: "b", App: "app", Node: "dr", Started: at(1)},
		}, want: []string{"b", "a"}},
		{name: "constraint breakers first", spec: app(Constraint{"role", Like, "web"}), count: 1, tasks: []Task{
			{ID: "ok", App: "app", Node: "n1", Started: at(9)},
			{ID: "wrong-role", App: "app", Node: "n4", Started: at(1)},
		}, want: []string{"wrong-role"}},
		{name: "MAX_PER excess first", spec: app(Constraint{"zone", MaxPer, "1"}), count: 1, tasks: []Task{
			{ID: "a1", App: "app", Node: "n1", Started: at(1)},
			{ID: "b1", App: "app", Node: "n3", Started: at(1)},
			{ID: "b2", App: "app", Node: "n4", Started: at(2)},
		}, want: []string{"b2"}},
		{name: "keeps the spread over nodes", spec: app(), count: 2, tasks: []Task{
			{ID: "x1", App: "app", Node: "n1", Started: at(1)},
			{ID: "x2", App: "app", Node: "n1", Started: at(2)},
			{ID: "x3", App: "app", Node: "n1", Started: at(3)},
			{ID: "y1", App: "app", Node: "n2", Started: at(9)},
		}, want: []string{"x3", "x2"}},
		{name: "keeps GROUP_BY even", spec: app(Constraint{"zone", GroupBy, ""}), count: 2, tasks: []Task{
			{ID: "a1", App: "app", Node: "n1", Started: at(1)},
			{ID: "a2", App: "app", Node: "n2", Started: at(2)},
			{ID: "a3", App: "app", Node: "n1", Started: at(3)},
			{ID: "b1", App: "app", Node: "n3", Started: at(9)},
			{ID: "b2", App: "app", Node: "n4", Started: at(8)},
		}, want: []string{"a3", "b1"}},
		{name: "fewer tasks than asked", spec: app(), count: 3, tasks: []Task{{ID: "only", App: "app", Node: "n1"}, {ID: "other", App: "other", Node: "n1"}}, want: []string{"only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState(t, nodes, tt.tasks)
			killed, err := ScaleDown(s, tt.spec, tt.count)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, k := range killed {
				ids = append(ids, k.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("killed %v, want %v", ids, tt.want)
			}
			left := map[string]bool{}
			for _, task := range s.Tasks("app") {
				left[task.ID] = true
			}
			for _, id := range ids {
				if left[id] {
					t.Errorf("%s still in the State", id)
				}
			}
		})
	}
}

func TestScaleDownFreesResources(t *testing.T) {
	n := Node{Name: "n", Capacity: Resources{CPUs: 1, MemMiB: 100}, Ports: []PortRange{{31000, 31000}}}
	spec := AppSpec{ID: "a", Resources: Resources{CPUs: 1, MemMiB: 100}, Ports: []PortRequest{{}}}
	s := newState(t, []Node{n}, []Task{{ID: "t", App: "a", Node: "n", Resources: spec.Resources, Ports: []int{31000}}})
	if p := place(t, s, spec, 1); p.Unplaced != 1 {
		t.Fatalf("full node took an instance: %+v", p)
	}
	if _, err := ScaleDown(s, spec, 1); err != nil {
		t.Fatal(err)
	}
	p := place(t, s, spec, 1)
	if want := map[string]int{"n": 1}; !maps.Equal(perNode(p), want) || p.Placements[0].Ports[0] != 31000 {
		t.Errorf("after scale down: %+v", p)
	}
}
