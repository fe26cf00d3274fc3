package event_test

import (
	"testing"

	"corral/internal/monitor/event"
	"corral/internal/monitor/event/eventtest"
)

func TestMemStore(t *testing.T) {
	eventtest.TestStore(t, func(*testing.T) event.Store { return event.NewMemStore() })
}
