package event

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"corral/internal/api"
)

func TestSilencesMatch(t *testing.T) {
	s := NewSilences()
	hour := api.Duration(time.Hour)
	for _, sp := range []api.SilenceSpec{
		{Node: "db-1", Check: "root-disk", Expire: api.Duration(2 * time.Hour), Reason: "resizing volume", CreatedAt: t0},
		{Node: "web-1", CreatedAt: t0},
		{Check: "ntp", CreatedAt: t0, Expire: hour},
		{Subscription: "web", Check: "http", CreatedAt: t0},
		{Subscription: "db", CreatedAt: t0, Begin: t0.Add(time.Hour)},
		{Check: "old", CreatedAt: t0.Add(-3 * time.Hour), Expire: hour},
	} {
		s.Put(sp)
	}
	tests := []struct {
		name          string
		entity, check string
		subs          []string
		at            time.Duration
		want          []string
	}{
		{"node and check", "db-1", "root-disk", nil, 0, []string{"entity:db-1:root-disk"}},
		{"node and check, other check", "db-1", "cpu", nil, 0, nil},
		{"node and check, expired", "db-1", "root-disk", nil, 2 * time.Hour, nil},
		{"whole node", "web-1", "anything", nil, 0, []string{"entity:web-1:*"}},
		{"check everywhere", "db-9", "ntp", nil, 0, []string{"*:ntp"}},
		{"check everywhere, expired", "db-9", "ntp", nil, time.Hour, nil},
		{"subscription and check", "web-7", "http", []string{"web"}, 0, []string{"web:http"}},
		{"subscription and check, not subscribed", "web-7", "http", []string{"api"}, 0, nil},
		{"subscription not begun", "db-2", "cpu", []string{"db"}, 0, nil},
		{"subscription begun", "db-2", "cpu", []string{"db"}, time.Hour, []string{"db:*"}},
		{"several", "web-1", "http", []string{"web"}, 0, []string{"entity:web-1:*", "web:http"}},
		{"expired before", "x", "old", nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Match(tt.entity, tt.check, tt.subs, t0.Add(tt.at))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	s.Delete("*:ntp")
	if got := s.Match("db-9", "ntp", nil, t0); got != nil {
		t.Errorf("after Delete: %v", got)
	}
	s.Put(api.SilenceSpec{Node: "web-1", CreatedAt: t0, Reason: "replaced"})
	if s.Len() != 5 {
		t.Errorf("Len = %d after replacing a silence, want 5", s.Len())
	}
	if sp, _ := s.Get("entity:web-1:*"); sp.Reason != "replaced" {
		t.Errorf("Put did not replace: %+v", sp)
	}
	s.Replace(nil)
	if s.Len() != 0 || s.Match("web-1", "x", nil, t0) != nil {
		t.Error("Replace(nil) left silences")
	}
	var nilIdx *Silences
	if nilIdx.Match("a", "b", nil, t0) != nil {
		t.Error("nil index matched")
	}
}

func manySilences(n int) *Silences {
	s := NewSilences()
	for i := range n {
		s.Put(api.SilenceSpec{Node: fmt.Sprintf("node-%d", i), Check: fmt.Sprintf("check-%d", i%10), CreatedAt: t0, Expire: api.Duration(time.Hour)})
	}
	return s
}

func TestManySilences(t *testing.T) {
	s := manySilences(10000)
	if got := s.Match("node-1234", "check-4", []string{"linux"}, t0); !slices.Equal(got, []string{"entity:node-1234:check-4"}) {
		t.Errorf("Match = %v", got)
	}
	if got := s.Match("node-1234", "check-5", []string{"linux"}, t0); got != nil {
		t.Errorf("Match other check = %v", got)
	}
}

// BenchmarkSilencesMatch matches against 10,000 silences.
func BenchmarkSilencesMatch(b *testing.B) {
	s := manySilences(10000)
	subs := []string{"linux", "web"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Match(fmt.Sprint("node-", i%20000), "check-3", subs, t0)
		i++
	}
}
