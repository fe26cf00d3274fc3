// Package eventtest is the conformance suite every event.Store passes; the
// store packages' tests run it.
package eventtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/monitor/event"
)

// TestStore runs the suite against fresh stores from open.
func TestStore(t *testing.T, open func(t *testing.T) event.Store) {
	ctx := context.Background()
	ev := func(entity, check string, status int) api.Event {
		return api.Event{
			Entity: entity, Check: check, Status: status, Output: "out " + entity, State: api.EventFailing,
			Executed: 100, Issued: 101, Timestamp: 101, Occurrences: 3, OccurrencesWatermark: 4, LastOK: 50,
			History:       []api.EventHistory{{Status: 0, Executed: 50}, {Status: status, Executed: 100}},
			TTL:           api.Duration(30 * time.Second),
			Handlers:      []string{"ops"},
			Silenced:      []string{"*:disk"},
			IsSilenced:    true,
			HandlerStatus: map[string]api.HandlerStatus{"ops": {LastHandled: 99, LastStatus: status, LastError: "boom", Failures: 2}},
		}
	}
	t.Run("load missing", func(t *testing.T) {
		s := open(t)
		if _, err := s.Load(ctx, "a", "b"); !errors.Is(err, event.ErrNotFound) {
			t.Errorf("Load = %v, want ErrNotFound", err)
		}
	})
	t.Run("save load round trip", func(t *testing.T) {
		s := open(t)
		want := ev("db-1", "disk", 2)
		if err := s.Save(ctx, []api.Event{want}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, "db-1", "disk")
		if err != nil {
			t.Fatal(err)
		}
		if got.Output != want.Output || got.OccurrencesWatermark != 4 || !slices.Equal(got.History, want.History) ||
			got.HandlerStatus["ops"] != want.HandlerStatus["ops"] || got.TTL != want.TTL || !got.IsSilenced {
			t.Errorf("Load = %+v, want %+v", got, want)
		}
	})
	t.Run("save replaces", func(t *testing.T) {
		s := open(t)
		a := ev("db-1", "disk", 2)
		if err := s.Save(ctx, []api.Event{a}); err != nil {
			t.Fatal(err)
		}
		a.Status, a.Output = 0, "fine"
		if err := s.Save(ctx, []api.Event{a}); err != nil {
			t.Fatal(err)
		}
		all, err := s.List(ctx, event.Filter{})
		if err != nil || len(all) != 1 || all[0].Status != 0 || all[0].Output != "fine" {
			t.Errorf("List = %+v, %v", all, err)
		}
	})
	t.Run("list filters and order", func(t *testing.T) {
		s := open(t)
		batch := []api.Event{ev("web-2", "http", 0), ev("db-1", "disk", 2), ev("web-1", "http", 1), ev("db-1", "cpu", 0)}
		if err := s.Save(ctx, batch); err != nil {
			t.Fatal(err)
		}
		keys := func(f event.Filter) []string {
			evs, err := s.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var k []string
			for _, e := range evs {
				k = append(k, e.Key())
			}
			return k
		}
		for _, tt := range []struct {
			f    event.Filter
			want []string
		}{
			{event.Filter{}, []string{"db-1/cpu", "db-1/disk", "web-1/http", "web-2/http"}},
			{event.Filter{Entity: "db-1"}, []string{"db-1/cpu", "db-1/disk"}},
			{event.Filter{Check: "http"}, []string{"web-1/http", "web-2/http"}},
			{event.Filter{NonOK: true}, []string{"db-1/disk", "web-1/http"}},
			{event.Filter{Entity: "web-2", NonOK: true}, nil},
		} {
			if got := keys(tt.f); !slices.Equal(got, tt.want) {
				t.Errorf("List(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		}
	})
	t.Run("delete", func(t *testing.T) {
		s := open(t)
		if err := s.Save(ctx, []api.Event{ev("a", "b", 1), ev("a", "c", 1)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "a", "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "a", "missing"); err != nil {
			t.Errorf("Delete missing = %v", err)
		}
		if _, err := s.Load(ctx, "a", "b"); !errors.Is(err, event.ErrNotFound) {
			t.Errorf("deleted event: %v", err)
		}
		if _, err := s.Load(ctx, "a", "c"); err != nil {
			t.Errorf("other event: %v", err)
		}
	})
	t.Run("copies", func(t *testing.T) {
		s := open(t)
		a := ev("a", "b", 2)
		if err := s.Save(ctx, []api.Event{a}); err != nil {
			t.Fatal(err)
		}
		a.History[0].Status = 9
		a.HandlerStatus["ops"] = api.HandlerStatus{}
		got, _ := s.Load(ctx, "a", "b")
		if got.History[0].Status != 0 || got.HandlerStatus["ops"].Failures != 2 {
			t.Errorf("store shares memory with the caller: %+v", got)
		}
	})
}
