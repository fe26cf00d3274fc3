package scheduler

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Constraint operators, as Marathon spells them.
const (
	Unique  = "UNIQUE"
	Cluster = "CLUSTER"
	GroupBy = "GROUP_BY"
	Like    = "LIKE"
	Unlike  = "UNLIKE"
	MaxPer  = "MAX_PER"
	Is      = "IS"
)

// FieldHostname is the constraint field that means the node's name.
const FieldHostname = "hostname"

// Constraint is one Marathon placement constraint: [field, operator, value].
type Constraint struct {
	Field, Operator, Value string
}

// String formats the constraint as explanations show it: `role LIKE "web|api"`,
// `rack MAX_PER 2`, `hostname UNIQUE`.
func (c Constraint) String() string {
	switch {
	case c.Value == "":
		return c.Field + " " + c.Operator
	case c.Operator == MaxPer || c.Operator == GroupBy:
		return c.Field + " " + c.Operator + " " + c.Value
	default:
		return c.Field + " " + c.Operator + " " + strconv.Quote(c.Value)
	}
}

// ParseConstraints reads constraints in Marathon's JSON shape,
// [["hostname", "UNIQUE"], ["role", "LIKE", "web|api"]], upper-casing
// operators, and validates them.
func ParseConstraints(raw [][]string) ([]Constraint, error) {
	out := make([]Constraint, 0, len(raw))
	var errs []error
	for i, parts := range raw {
		switch len(parts) {
		case 2, 3:
		default:
			errs = append(errs, fmt.Errorf("constraints[%d]: want [field, operator] or [field, operator, value], got %d parts", i, len(parts)))
			out = append(out, Constraint{})
			continue
		}
		c := Constraint{Field: parts[0], Operator: strings.ToUpper(parts[1])}
		if len(parts) == 3 {
			c.Value = parts[2]
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := ValidateConstraints(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ValidateConstraints reports every invalid constraint, naming its index:
// "constraints[1]: LIKE needs a regular expression".
func ValidateConstraints(cs []Constraint) error {
	var errs []error
	for i, c := range cs {
		if _, err := compileRule(i, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rule is a validated constraint ready to evaluate.
type rule struct {
	Constraint
	index int
	host  bool           // the field is the node's name
	re    *regexp.Regexp // LIKE, UNLIKE
	n     int            // MAX_PER limit, GROUP_BY minimum (0 when absent)
	drive bool           // this GROUP_BY orders the values tried
}

// static reports whether the rule's verdict on a node does not depend on
// where the app's tasks are.
func (r *rule) static() bool {
	switch r.Operator {
	case Like, Unlike, Is:
		return true
	case Cluster:
		return r.Value != ""
	}
	return false
}

// value returns the node's value for the rule's field.
func (r *rule) value(n *nodeState) (string, bool) {
	if r.host {
		return n.name, true
	}
	v, ok := n.labels[r.Field]
	return v, ok
}

// staticOK evaluates a static rule on a node.
func (r *rule) staticOK(n *nodeState) bool {
	v, ok := r.value(n)
	switch r.Operator {
	case Unlike:
		return !ok || !r.re.MatchString(v)
	case Like:
		return ok && r.re.MatchString(v)
	default: // IS, CLUSTER with a value
		return ok && v == r.Value
	}
}

func compileRule(i int, c Constraint) (rule, error) {
	r := rule{Constraint: c, index: i, host: c.Field == FieldHostname || c.Field == "@"+FieldHostname}
	fail := func(format string, args ...any) (rule, error) {
		return rule{}, fmt.Errorf("constraints[%d]: "+format, append([]any{i}, args...)...)
	}
	if c.Field == "" {
		return fail("needs a field")
	}
	switch c.Operator {
	case Unique:
		if c.Value != "" {
			return fail("UNIQUE takes no value, got %q", c.Value)
		}
	case Cluster:
	case Is:
		if c.Value == "" {
			return fail("IS needs a value")
		}
	case Like, Unlike:
		if c.Value == "" {
			return fail("%s needs a regular expression", c.Operator)
		}
		re, err := regexp.Compile("^(?:" + c.Value + ")$")
		if err != nil {
			return fail("%s regular expression %q: %w", c.Operator, c.Value, err)
		}
		r.re = re
	case MaxPer, GroupBy:
		if c.Value == "" {
			if c.Operator == MaxPer {
				return fail("MAX_PER needs a positive integer")
			}
			break
		}
		n, err := strconv.Atoi(c.Value)
		if err != nil || n < 1 {
			return fail("%s needs a positive integer, got %q", c.Operator, c.Value)
		}
		r.n = n
	case "":
		return fail("needs an operator")
	default:
		return fail("unknown operator %q (want UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS)", c.Operator)
	}
	return r, nil
}

// compileRules validates the constraints and marks the GROUP_BY that drives
// the order of values: the first one on a label.
func compileRules(cs []Constraint) ([]rule, error) {
	rules := make([]rule, 0, len(cs))
	var errs []error
	for i, c := range cs {
		r, err := compileRule(i, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i := range rules {
		if rules[i].Operator == GroupBy && !rules[i].host {
			rules[i].drive = true
			break
		}
	}
	return rules, nil
}

// staticKey identifies the set of nodes the static rules accept.
func staticKey(rules []rule) string {
	var b strings.Builder
	for i := range rules {
		if rules[i].static() {
			b.WriteString(rules[i].Field)
			b.WriteByte(0)
			b.WriteString(rules[i].Operator)
			b.WriteByte(0)
			b.WriteString(rules[i].Value)
			b.WriteByte(0)
		}
	}
	return b.String()
}
