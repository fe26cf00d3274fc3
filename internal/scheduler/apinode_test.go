package scheduler

import (
	"reflect"
	"testing"

	"corral/internal/api"
)

func TestNodeFromAPI(t *testing.T) {
	res := api.NodeResources{CPUs: 2, MemMB: 4096, DiskMB: 10240, PortFrom: 31000, PortTo: 32000}
	tests := []struct {
		name string
		in   api.Node
		want Node
	}{
		{name: "ready", in: api.Node{Name: "n1", Status: api.NodeReady, Labels: map[string]string{"rack": "a"}, Resources: res},
			want: Node{Name: "n1", Labels: map[string]string{"rack": "a"}, Capacity: Resources{CPUs: 2, MemMiB: 4096, DiskMiB: 10240}, Ports: []PortRange{{31000, 32000}}}},
		{name: "draining", in: api.Node{Name: "n2", Status: api.NodeDraining, Resources: res},
			want: Node{Name: "n2", Capacity: Resources{CPUs: 2, MemMiB: 4096, DiskMiB: 10240}, Ports: []PortRange{{31000, 32000}}, Drained: true}},
		{name: "drain flag, down, no ports", in: api.Node{Name: "n3", Status: api.NodeDown, Drain: true},
			want: Node{Name: "n3", Drained: true, Down: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeFromAPI(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
