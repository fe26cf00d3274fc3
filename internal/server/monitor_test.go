package server

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"corral/internal/api"
	"corral/internal/store"
)

func TestDesiredChecks(t *testing.T) {
	applied := []api.CheckSpec{
		{Name: "all-cmd", Command: "true", Interval: api.Duration(30e9)},
		{Name: "web-cmd", Command: "true", Interval: api.Duration(30e9), Subscriptions: []string{"web"}},
		{Name: "db-builtin", Builtin: "disk", Interval: api.Duration(30e9), Subscriptions: []string{"db"}},
		{Name: "ttl-only", TTL: api.Duration(60e9)},
		{Name: "one-node", Command: "true", Interval: api.Duration(30e9), Subscriptions: []string{"entity:db-1"}},
		{Name: "swap", Builtin: "swap", Interval: api.Duration(30e9), Disabled: true},
	}
	tests := []struct {
		name   string
		node   string
		labels map[string]string
		want   []string
	}{
		{"role web", "web-1", map[string]string{"role": "web"}, []string{"all-cmd", "swap", "web-cmd"}},
		{"subscriptions label", "x-1", map[string]string{"subscriptions": "cache, db"}, []string{"all-cmd", "db-builtin", "swap"}},
		{"entity subscription", "db-1", nil, []string{"all-cmd", "one-node", "swap"}},
		{"no labels", "other", nil, []string{"all-cmd", "swap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := desiredChecks(tt.node, tt.labels, applied, nil)
			var names []string
			for n, v := range got {
				names = append(names, n)
				var spec api.CheckSpec
				if err := json.Unmarshal([]byte(v), &spec); err != nil || spec.Name != n {
					t.Errorf("assignment %s = %s (%v), want the spec of %s", n, v, err, n)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) {
				t.Errorf("desiredChecks(%s) = %v, want %v", tt.node, names, tt.want)
			}
		})
	}
}

// TestProxyRunners: a proxy check's assignment lists the live subscribed
// nodes, sorted, so they can take turns.
func TestProxyRunners(t *testing.T) {
	applied := []api.CheckSpec{
		{Name: "shop-api", Command: "true", Interval: api.Duration(30e9), Subscriptions: []string{"web"}, ProxyEntity: "shop-api"},
		{Name: "plain", Command: "true", Interval: api.Duration(30e9)},
	}
	nodes := map[string]any{
		"web-2": store.NodeRecord{Name: "web-2", Labels: map[string]string{"role": "web"}},
		"web-1": store.NodeRecord{Name: "web-1", Labels: map[string]string{"role": "web"}},
		"web-3": store.NodeRecord{Name: "web-3", Labels: map[string]string{"role": "web"}},
		"db-1":  store.NodeRecord{Name: "db-1", Labels: map[string]string{"role": "db"}},
	}
	alive := func(n string) bool { return n != "web-3" }
	runners := proxyRunners(applied, nodes, alive)
	if got := runners["shop-api"]; !slices.Equal(got, []string{"web-1", "web-2"}) {
		t.Errorf("runners of shop-api = %v, want [web-1 web-2]", got)
	}
	if _, ok := runners["plain"]; ok {
		t.Errorf("a check without proxy_entity got runners")
	}
	var spec api.CheckSpec
	if err := json.Unmarshal([]byte(desiredChecks("web-2", map[string]string{"role": "web"}, applied, runners)["shop-api"]), &spec); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(spec.ProxyRunners, []string{"web-1", "web-2"}) {
		t.Errorf("assigned proxy_runners = %v", spec.ProxyRunners)
	}
	if fe := spec.Validate(); fe["proxy_runners"] == "" {
		t.Errorf("a spec with proxy_runners validates: %v", fe)
	}
}

func TestEventQuery(t *testing.T) {
	evs := []api.Event{
		{Entity: "a", Check: "c", Status: 0, State: api.EventPassing},
		{Entity: "a", Check: "d", Status: 1, State: api.EventFailing},
		{Entity: "b", Check: "c", Status: 2, State: api.EventFlapping},
		{Entity: "b", Check: "d", Status: 7, State: api.EventFailing},
	}
	tests := []struct {
		query   string
		want    []string
		wantErr bool
	}{
		{"", []string{"a/c", "a/d", "b/c", "b/d"}, false},
		{"status=failing", []string{"a/d", "b/c", "b/d"}, false},
		{"status=ok", []string{"a/c"}, false},
		{"status=critical", []string{"b/c"}, false},
		{"status=unknown", []string{"b/d"}, false},
		{"status=flapping", []string{"b/c"}, false},
		{"status=passing", []string{"a/c"}, false},
		{"node=b&check=d", []string{"b/d"}, false},
		{"entity=a&status=warning", []string{"a/d"}, false},
		{"status=bad", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			f, keep, err := eventQuery(httptest.NewRequest("GET", "/api/v1/events?"+tt.query, nil))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got []string
			for i := range evs {
				if f.Match(&evs[i]) && keep(&evs[i]) {
					got = append(got, evs[i].Key())
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventMark(t *testing.T) {
	base := api.Event{Entity: "a", Check: "c", Status: 2, Issued: 10, Timestamp: 10, Output: "x",
		History: []api.EventHistory{{Status: 2, Executed: 10}}, Occurrences: 1}
	changed := []func(*api.Event){
		func(e *api.Event) { e.Issued++ },
		func(e *api.Event) { e.Status = 0 },
		func(e *api.Event) { e.Output = "y" },
		func(e *api.Event) { e.Occurrences++ },
		func(e *api.Event) { e.IsSilenced = true },
		func(e *api.Event) { e.HandlerStatus = map[string]api.HandlerStatus{"h": {LastHandled: 11}} },
	}
	for i, ch := range changed {
		ev := base
		ch(&ev)
		if markOf(&ev) == markOf(&base) {
			t.Errorf("change %d not seen by the event stream", i)
		}
	}
	same := base
	if markOf(&same) != markOf(&base) {
		t.Error("an unchanged event is seen as changed")
	}
}

func TestLabelSubscriptions(t *testing.T) {
	got := labelSubscriptions(map[string]string{"role": "web", "subscriptions": " a, ,b ", "zone": "z"})
	if want := []string{"web", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("labelSubscriptions = %v, want %v", got, want)
	}
}
