package scheduler

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// refScaleDown is ScaleDown written the slow, obvious way: before every kill,
// score every remaining task from scratch.
func refScaleDown(nodes []Node, tasks []Task, spec AppSpec, count int) []string {
	byName := map[string]Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	var left []Task
	for _, t := range tasks {
		if t.App == spec.ID {
			left = append(left, t)
		}
	}
	countOf := func(field, value string) int {
		c := 0
		for _, t := range left {
			if n, ok := byName[t.Node]; ok {
				if v, has := fieldValue(n, field); has && v == value {
					c++
				}
			}
		}
		return c
	}
	clusterTarget := map[int]string{}
	for i, c := range spec.Constraints {
		if c.Operator != Cluster || c.Value != "" {
			continue
		}
		best, bestN := "", 0
		for _, t := range left {
			if n, ok := byName[t.Node]; ok {
				if v, has := fieldValue(n, c.Field); has {
					if k := countOf(c.Field, v); k > bestN || k == bestN && v < best {
						best, bestN = v, k
					}
				}
			}
		}
		clusterTarget[i] = best
	}
	drive := ""
	for _, c := range spec.Constraints {
		if c.Operator == GroupBy && c.Field != "hostname" && c.Field != "@hostname" {
			drive = c.Field
			break
		}
	}
	breaks := func(n Node) bool {
		for i, c := range spec.Constraints {
			v, has := fieldValue(n, c.Field)
			switch {
			case c.Operator == Unlike:
				if has && regexp.MustCompile("^(?:"+c.Value+")$").MatchString(v) {
					return true
				}
			case !has:
				return true
			case c.Operator == Like && !regexp.MustCompile("^(?:"+c.Value+")$").MatchString(v),
				c.Operator == Is && v != c.Value,
				c.Operator == Cluster && c.Value != "" && v != c.Value,
				c.Operator == Cluster && c.Value == "" && clusterTarget[i] != "" && v != clusterTarget[i],
				c.Operator == Unique && countOf(c.Field, v) > 1:
				return true
			case c.Operator == MaxPer:
				if limit, _ := strconv.Atoi(c.Value); countOf(c.Field, v) > limit {
					return true
				}
			}
		}
		return false
	}
	type key struct {
		class, sub, group, host int
		started                 int64
		id                      string
	}
	keyOf := func(t Task) key {
		n, known := byName[t.Node]
		k := key{id: t.ID}
		if !t.Started.IsZero() {
			k.started = t.Started.UnixNano()
		}
		if !known || n.Down {
			return k
		}
		switch {
		case t.Status == TaskUnhealthy:
			k.sub = 2
		case t.Status == TaskStaging:
			k.sub = 3
		case n.Drained:
			k.sub = 4
		default:
			k.sub = 5
		}
		k.class = k.sub
		if breaks(n) {
			k.class = 1
		}
		k.host = countOf("hostname", n.Name)
		if v, has := fieldValue(n, drive); drive != "" && has {
			k.group = countOf(drive, v)
		}
		return k
	}
	var out []string
	for len(out) < count && len(left) > 0 {
		keys := make([]key, len(left))
		for i, t := range left {
			keys[i] = keyOf(t)
		}
		best := 0
		for i := range keys {
			a, b := keys[i], keys[best]
			if c := cmp.Or(cmp.Compare(a.class, b.class), cmp.Compare(a.sub, b.sub), cmp.Compare(b.group, a.group),
				cmp.Compare(b.host, a.host), cmp.Compare(b.started, a.started), strings.Compare(a.id, b.id)); c < 0 {
				best = i
			}
		}
		out = append(out, left[best].ID)
		left = slices.Delete(left, best, best+1)
	}
	return out
}

// TestScaleDownMatchesReference compares ScaleDown with refScaleDown on
// random clusters.
func TestScaleDownMatchesReference(t *testing.T) {
	specs := [][]Constraint{
		nil,
		{{"zone", GroupBy, ""}},
		{{"rack", MaxPer, "1"}},
		{{"hostname", Unique, ""}},
		{{"role", Like, "web"}, {"zone", GroupBy, "2"}},
		{{"rack", Cluster, ""}},
		{{"role", Unlike, "batch"}, {"hostname", MaxPer, "2"}},
	}
	for iter := range 300 {
		r := rand.New(rand.NewPCG(uint64(iter), 7))
		nodes := make([]Node, 1+r.IntN(8))
		for i := range nodes {
			nodes[i] = node(fmt.Sprintf("n%d", i), "zone", []string{"a", "b", "c"}[r.IntN(3)], "rack", []string{"r1", "r2"}[r.IntN(2)])
			if r.IntN(4) == 0 {
				nodes[i].Labels["role"] = "batch"
			} else if r.IntN(4) > 0 {
				nodes[i].Labels["role"] = "web"
			}
			if r.IntN(6) == 0 {
				delete(nodes[i].Labels, "zone")
			}
			nodes[i].Down = r.IntN(10) == 0
			nodes[i].Drained = r.IntN(10) == 0
		}
		tasks := make([]Task, 1+r.IntN(20))
		for i := range tasks {
			tasks[i] = Task{ID: fmt.Sprintf("t%02d", i), App: "app", Node: fmt.Sprintf("n%d", r.IntN(len(nodes)+1)), Status: TaskStatus(r.IntN(5) / 3 * (1 + r.IntN(2)))}
			if r.IntN(4) > 0 {
				tasks[i].Started = time.Unix(int64(r.IntN(5)), 0)
			}
		}
		spec := app(specs[r.IntN(len(specs))]...)
		count := 1 + r.IntN(len(tasks)+2)
		want := refScaleDown(nodes, tasks, spec, count)
		s, err := NewState(nodes, tasks, Options{})
		if err != nil {
			t.Fatal(err)
		}
		killed, err := ScaleDown(s, spec, count)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range killed {
			got = append(got, k.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("iter %d, constraints %v:\nkilled %v\nwant   %v", iter, spec.Constraints, got, want)
		}
	}
}
