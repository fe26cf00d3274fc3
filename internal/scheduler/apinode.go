package scheduler

import "corral/internal/api"

// NodeFromAPI converts a node as the API and the store hold it. Its mem_mb
// and disk_mb are MiB (the agent shifts bytes by 20); a draining status or
// the drain flag makes it Drained, a down status makes it Down.
func NodeFromAPI(n api.Node) Node {
	var ports []PortRange
	if r := n.Resources; r.PortFrom > 0 && r.PortTo >= r.PortFrom {
		ports = []PortRange{{r.PortFrom, r.PortTo}}
	}
	return Node{
		Name:     n.Name,
		Labels:   n.Labels,
		Capacity: Resources{CPUs: n.Resources.CPUs, MemMiB: n.Resources.MemMB, DiskMiB: n.Resources.DiskMB},
		Ports:    ports,
		Drained:  n.Drain || n.Status == api.NodeDraining,
		Down:     n.Status == api.NodeDown,
	}
}
