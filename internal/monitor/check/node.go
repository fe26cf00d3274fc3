package check

import (
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"corral/internal/api"
)

// Subscribed reports whether the node runs spec: a check without
// subscriptions, or with "all", runs everywhere; "entity:<node>" names one
// node; any other subscription matches the node's "role" label or one of
// the comma-separated names of its "subscriptions" label.
func Subscribed(spec api.CheckSpec, nodeName string, labels map[string]string) bool {
	return api.Subscribed(spec.Subscriptions, nodeName, labels)
}

// DefaultInterval is how often the default checks run.
const DefaultInterval = 30 * time.Second

// Defaults returns the checks every node runs without configuration:
// disk (80%/90% of every real mount), cpu, memory, load per core and swap,
// all builtins every 30 s. A Check applied with the same name replaces the
// default on every node (apply it with `disabled: true` to turn it off).
// The keepalive is the server's, from the node's heartbeats.
func Defaults() []api.CheckSpec {
	d := func(name string, args map[string]any) api.CheckSpec {
		return api.CheckSpec{Name: name, Builtin: name, Args: args, Interval: api.Duration(DefaultInterval),
			Timeout: api.Duration(DefaultTimeout), Subscriptions: []string{"all"}}
	}
	return []api.CheckSpec{
		d("cpu", map[string]any{"warning": 90.0, "critical": 95.0}),
		d("disk", map[string]any{"warning": 80.0, "critical": 90.0}),
		d("load", map[string]any{"warning": "2.75,2.5,2", "critical": "3.5,3.25,3"}),
		d("memory", map[string]any{"warning": 90.0, "critical": 95.0}),
		d("swap", map[string]any{"warning": 50.0, "critical": 80.0}),
	}
}

// ForNode returns the checks the node runs, sorted by name: the defaults,
// each replaced by an applied Check of the same name, and the applied
// Checks the node is subscribed to, leaving out disabled ones and ttl-only
// ones (those have nothing to run).
func ForNode(nodeName string, labels map[string]string, applied []api.CheckSpec) []api.CheckSpec {
	byName := map[string]api.CheckSpec{}
	for _, d := range Defaults() {
		byName[d.Name] = d
	}
	for _, s := range applied {
		byName[s.Name] = s
	}
	var out []api.CheckSpec
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		s := byName[name]
		if s.Disabled || (s.Command == "" && s.Builtin == "") || !Subscribed(s, nodeName, labels) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// ProxyRunner picks the subscriber that runs a proxy check's run number
// round: the subscribers sorted and deduplicated, taken in turn, starting
// at a place fixed by the check's name so that proxy checks spread over the
// subscribers. Every agent computes the same answer from the same inputs.
// It returns "" when there are no subscribers.
func ProxyRunner(spec api.CheckSpec, subscribers []string, round uint64) string {
	subs := slices.Compact(slices.Sorted(slices.Values(subscribers)))
	if len(subs) == 0 {
		return ""
	}
	start := hash64(spec.Name + "\x00" + spec.ProxyEntity)
	return subs[(start+round)%uint64(len(subs))]
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Splay is the offset of a check's runs within its interval: runs happen
// at unix times offset + k*interval, so every node spreads its checks over
// the interval and keeps the same phase across restarts. It hashes the node
// and check names; proxy checks hash the check and its entity only, so all
// subscribers agree on when a round starts.
func Splay(nodeName string, spec api.CheckSpec, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	key := nodeName + "\x00" + spec.Name
	if spec.ProxyEntity != "" {
		key = "\x00proxy\x00" + spec.Name + "\x00" + spec.ProxyEntity
	}
	return time.Duration(hash64(key) % uint64(interval))
}

// nextSlot is the first time after now of the form offset + k*interval
// (unix nanoseconds), and k.
func nextSlot(now time.Time, offset, interval time.Duration) (time.Time, int64) {
	n := now.UnixNano() - int64(offset)
	iv := int64(interval)
	k := n / iv
	if n < 0 && n%iv != 0 {
		k-- // floor
	}
	k++
	return time.Unix(0, int64(offset)+k*iv).In(now.Location()), k
}
