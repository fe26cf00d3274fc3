package scheduler

import (
	"fmt"
	"strconv"
)

// text words a rejection: "needs 128 MiB, 2 nodes have less".
func (p *planner) text(r Rejection) string {
	switch r.Kind {
	case RejectDown:
		return nodes(r.Nodes) + " down"
	case RejectDrained:
		return nodes(r.Nodes) + " drained"
	case RejectConstraint:
		c := p.spec.Constraints[r.Constraint]
		if t := p.cluster[r.Constraint]; c.Operator == Cluster && c.Value == "" && t != "" {
			return fmt.Sprintf("%s, settled on %q, excludes %s", c, t, nodes(r.Nodes))
		}
		return c.String() + " excludes " + nodes(r.Nodes)
	case RejectCPUs:
		unit := "CPUs"
		if p.spec.CPUs == 1 {
			unit = "CPU"
		}
		return fmt.Sprintf("needs %s %s, %s", strconv.FormatFloat(p.spec.CPUs, 'f', -1, 64), unit, haveLess(r.Nodes))
	case RejectMem:
		return fmt.Sprintf("needs %d MiB, %s", p.spec.MemMiB, haveLess(r.Nodes))
	case RejectDisk:
		return fmt.Sprintf("needs %d MiB disk, %s", p.spec.DiskMiB, haveLess(r.Nodes))
	case RejectPort:
		return fmt.Sprintf("port %d in use on %s", r.Port, nodes(r.Nodes))
	case RejectPorts:
		switch {
		case r.Ranges == "":
			return "no port range on " + nodes(r.Nodes)
		case p.nDyn == 1:
			return fmt.Sprintf("no free port in %s on %s", r.Ranges, nodes(r.Nodes))
		default:
			return fmt.Sprintf("fewer than %d free ports in %s on %s", p.nDyn, r.Ranges, nodes(r.Nodes))
		}
	case RejectNoNodes:
		return "no nodes"
	case RejectOther:
		return "no node fits"
	}
	return r.Kind
}

func nodes(n int) string {
	if n == 1 {
		return "1 node"
	}
	return strconv.Itoa(n) + " nodes"
}

func haveLess(n int) string {
	if n == 1 {
		return "1 node has less"
	}
	return strconv.Itoa(n) + " nodes have less"
}
