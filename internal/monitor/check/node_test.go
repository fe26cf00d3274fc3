package check

import (
	"slices"
	"testing"
	"time"

	"corral/internal/api"
)

func TestSubscribed(t *testing.T) {
	tests := []struct {
		name   string
		subs   []string
		labels map[string]string
		want   bool
	}{
		{"no subscriptions", nil, nil, true},
		{"all", []string{"all"}, nil, true},
		{"role", []string{"db"}, map[string]string{"role": "db"}, true},
		{"other role", []string{"db"}, map[string]string{"role": "web"}, false},
		{"subscriptions label", []string{"linux"}, map[string]string{"subscriptions": "web, linux,eu"}, true},
		{"not in label", []string{"windows"}, map[string]string{"subscriptions": "web,linux"}, false},
		{"entity", []string{"entity:n1"}, nil, true},
		{"other entity", []string{"entity:n2"}, nil, false},
		{"empty role never matches", []string{""}, map[string]string{"role": ""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subscribed(api.CheckSpec{Subscriptions: tt.subs}, "n1", tt.labels); got != tt.want {
				t.Errorf("Subscribed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaultsValid(t *testing.T) {
	var names []string
	for _, d := range Defaults() {
		names = append(names, d.Name)
		if fe := d.Validate(); len(fe) > 0 {
			t.Errorf("%s: %v", d.Name, fe)
		}
		if fe := Validate(d); len(fe) > 0 {
			t.Errorf("%s: %v", d.Name, fe)
		}
	}
	if want := []string{"cpu", "disk", "load", "memory", "swap"}; !slices.Equal(names, want) {
		t.Errorf("defaults %v, want %v", names, want)
	}
}

func TestForNode(t *testing.T) {
	applied := []api.CheckSpec{
		{Name: "disk", Builtin: "disk", Args: map[string]any{"warning": 70.0}, Interval: api.Duration(time.Minute)},
		{Name: "swap", Disabled: true},
		{Name: "nginx", Command: "check_http", Interval: api.Duration(time.Minute), Subscriptions: []string{"web"}},
		{Name: "pg", Command: "check_pgsql", Interval: api.Duration(time.Minute), Subscriptions: []string{"db"}},
		{Name: "backup", TTL: api.Duration(time.Hour)},
	}
	got := ForNode("n1", map[string]string{"role": "web"}, applied)
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if want := []string{"cpu", "disk", "load", "memory", "nginx"}; !slices.Equal(names, want) {
		t.Fatalf("ForNode names %v, want %v", names, want)
	}
	if got[1].Args["warning"] != 70.0 || time.Duration(got[1].Interval) != time.Minute {
		t.Errorf("disk not replaced by the applied one: %+v", got[1])
	}
}

func TestProxyRunner(t *testing.T) {
	spec := api.CheckSpec{Name: "shop", ProxyEntity: "shop-api"}
	subs := []string{"c", "a", "b", "a"}
	seen := map[string]int{}
	first := ProxyRunner(spec, subs, 0)
	for round := range uint64(9) {
		r := ProxyRunner(spec, subs, round)
		// Same answer whatever the order the subscribers come in.
		if again := ProxyRunner(spec, []string{"b", "a", "c"}, round); again != r {
			t.Fatalf("round %d: %q then %q for the same subscribers", round, r, again)
		}
		seen[r]++
	}
	if seen["a"] != 3 || seen["b"] != 3 || seen["c"] != 3 {
		t.Errorf("9 rounds over 3 subscribers went %v, want 3 each", seen)
	}
	// Consecutive rounds take the sorted subscribers in turn.
	order := []string{"a", "b", "c"}
	i := slices.Index(order, first)
	if ProxyRunner(spec, subs, 1) != order[(i+1)%3] {
		t.Errorf("round 1 is %q after %q", ProxyRunner(spec, subs, 1), first)
	}
	if ProxyRunner(spec, nil, 5) != "" {
		t.Error("no subscribers gave a runner")
	}
}

func TestSplay(t *testing.T) {
	iv := 30 * time.Second
	spec := api.CheckSpec{Name: "disk"}
	a := Splay("n1", spec, iv)
	if a != Splay("n1", spec, iv) {
		t.Fatal("splay is not deterministic")
	}
	if a < 0 || a >= iv {
		t.Fatalf("splay %v outside [0, %v)", a, iv)
	}
	// Different nodes spread out (these two hash apart).
	if Splay("n2", spec, iv) == a {
		t.Errorf("n1 and n2 share a splay %v", a)
	}
	// Proxy checks ignore the node.
	p := api.CheckSpec{Name: "shop", ProxyEntity: "shop-api"}
	if Splay("n1", p, iv) != Splay("n2", p, iv) {
		t.Error("proxy check splay depends on the node")
	}
}

func TestNextSlot(t *testing.T) {
	iv, off := 10*time.Second, 3*time.Second
	tests := []struct {
		now, want int64 // unix seconds
	}{
		{100, 103}, {103, 113}, {104, 113}, {112, 113}, {-5, -7 + 10},
	}
	for _, tt := range tests {
		got, _ := nextSlot(time.Unix(tt.now, 0), off, iv)
		if got.Unix() != tt.want {
			t.Errorf("nextSlot(%d) = %d, want %d", tt.now, got.Unix(), tt.want)
		}
	}
}
