package scheduler

import (
	"strings"
	"testing"
)

// FuzzParseConstraints feeds constraint triples to ParseConstraints and
// places an app under whatever it accepts: nothing may panic, and an
// accepted constraint must validate again and keep nodes without the field
// out of UNIQUE, MAX_PER, GROUP_BY, CLUSTER, LIKE and IS placements.
func FuzzParseConstraints(f *testing.F) {
	f.Add("hostname", "UNIQUE", "")
	f.Add("role", "LIKE", "web|api")
	f.Add("rack", "MAX_PER", "2")
	f.Add("rack", "GROUP_BY", "")
	f.Add("rack", "CLUSTER", "")
	f.Add("role", "UNLIKE", "(")
	f.Fuzz(func(t *testing.T, field, op, value string) {
		raw := []string{field, op}
		if value != "" {
			raw = append(raw, value)
		}
		cs, err := ParseConstraints([][]string{raw})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "constraints[0]: ") {
				t.Fatalf("error %q does not name the constraint", err)
			}
			return
		}
		if err := ValidateConstraints(cs); err != nil {
			t.Fatalf("parsed constraints do not validate: %v", err)
		}
		nodes := []Node{node("n1", field, "a"), node("n2", field, "b"), node("n3")}
		s, err := NewState(nodes, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Place(s, app(cs...), 4)
		if err != nil {
			t.Fatal(err)
		}
		isHost := field == "hostname" || field == "@hostname"
		for _, pl := range p.Placements {
			if pl.Node == "n3" && !isHost && cs[0].Operator != Unlike {
				t.Fatalf("%v placed on n3, which lacks %q", cs[0], field)
			}
		}
		if p.Unplaced > 0 && p.Explain() == "" {
			t.Fatal("unplaced without explanation")
		}
	})
}
