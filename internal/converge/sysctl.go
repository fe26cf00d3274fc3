package converge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// sysctlSpec is `sysctl: {name, value, persist}`: a kernel parameter set
// now (written to /proc/sys) and, unless persist is false, at boot (in
// /etc/sysctl.d/60-corral-<name>.conf).
type sysctlSpec struct {
	Key     string          `json:"name"`
	Value   json.RawMessage `json:"value"`
	Persist *bool           `json:"persist"`
	value   string
}

var sysctlKey = regexp.MustCompile(`^[a-z0-9_][a-z0-9_.-]*(/[a-z0-9_.-]+)*$`)

func decodeSysctl(props json.RawMessage) (Provider, error) {
	var s sysctlSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if !sysctlKey.MatchString(s.Key) || strings.Contains(s.Key, "..") {
		return nil, fieldErr("name", "must be a kernel parameter such as net.ipv4.ip_forward, not %q", s.Key)
	}
	var str string
	var num json.Number
	switch {
	case len(s.Value) == 0:
		return nil, fieldErr("value", "is required")
	case json.Unmarshal(s.Value, &str) == nil:
	case json.Unmarshal(s.Value, &num) == nil:
		str = num.String()
	default:
		return nil, fieldErr("value", "must be a string or a number")
	}
	s.value = strings.Join(strings.Fields(str), " ")
	if s.value == "" {
		return nil, fieldErr("value", "is required")
	}
	return &s, nil
}

func (s *sysctlSpec) Name() string { return s.Key }

// procPath is the parameter's file under /proc/sys (dots are separators,
// as sysctl reads them; a key with slashes is used as it is).
func (s *sysctlSpec) procPath() string {
	if strings.Contains(s.Key, "/") {
		return "/proc/sys/" + s.Key
	}
	return "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
}

func (s *sysctlSpec) confPath() string {
	return "/etc/sysctl.d/60-corral-" + strings.ReplaceAll(s.Key, "/", ".") + ".conf"
}

func (s *sysctlSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	cur, err := os.ReadFile(e.Path(s.procPath()))
	if errors.Is(err, fs.ErrNotExist) {
		return Plan{}, fmt.Errorf("no kernel parameter %s (%s)", s.Key, s.procPath())
	}
	if err != nil {
		return Plan{}, fmt.Errorf("read %s: %w", s.procPath(), err)
	}
	now := strings.Join(strings.Fields(string(cur)), " ")
	var lines []string
	var steps []func(context.Context) error
	if now != s.value {
		lines = append(lines, fmt.Sprintf("%s = %s (was %s)", s.Key, s.value, now))
		steps = append(steps, func(ctx context.Context) error {
			if err := os.WriteFile(e.Path(s.procPath()), []byte(s.value+"\n"), 0o644); err != nil {
				return fmt.Errorf("set %s: %w", s.Key, err)
			}
			return nil
		})
	}
	if s.Persist == nil || *s.Persist {
		fp, err := e.planFile(s.confPath(), []byte(fmt.Sprintf("# Managed by corral.\n%s = %s\n", s.Key, s.value)),
			true, meta{uid: -1, gid: -1}, 0, false)
		if err != nil {
			return Plan{}, err
		}
		if fp.Changed {
			lines = append(lines, strings.TrimSuffix(fp.Diff, "\n"))
			steps = append(steps, func(ctx context.Context) error {
				if err := os.MkdirAll(filepath.Dir(e.Path(s.confPath())), 0o755); err != nil {
					return fmt.Errorf("persist %s: %w", s.Key, err)
				}
				return fp.Apply(ctx)
			})
		}
	}
	if len(steps) == 0 {
		return Plan{}, nil
	}
	return Plan{Changed: true, Diff: strings.Join(lines, "\n") + "\n", Apply: func(ctx context.Context) error {
		for _, step := range steps {
			if err := step(ctx); err != nil {
				return err
			}
		}
		return nil
	}}, nil
}
