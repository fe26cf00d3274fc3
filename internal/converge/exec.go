package converge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"
)

// execSpec is `exec: {command, name, creates, unless, only_if, cwd, user,
// env, returns, timeout, when_notified, sensitive}`: a command run through
// /bin/sh -c when its guards allow: not when the file creates exists, not
// when unless succeeds, only when only_if succeeds. The guards run in dry
// runs too (they must not change anything). With when_notified it runs
// only when another resource notifies it ("run exec NAME").
type execSpec struct {
	Exec         string            `json:"name"`
	Command      string            `json:"command"`
	Creates      string            `json:"creates"`
	Unless       string            `json:"unless"`
	OnlyIf       string            `json:"only_if"`
	Cwd          string            `json:"cwd"`
	User         string            `json:"user"`
	Env          map[string]string `json:"env"`
	Returns      []int             `json:"returns"`
	Timeout      string            `json:"timeout"`
	WhenNotified bool              `json:"when_notified"`
	Sensitive    bool              `json:"sensitive"`
	timeout      time.Duration
}

func decodeExec(props json.RawMessage) (Provider, error) {
	var s execSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if strings.TrimSpace(s.Command) == "" {
		return nil, fieldErr("command", "is required")
	}
	if s.Exec == "" {
		s.Exec = s.Command
	}
	if s.Creates != "" {
		if err := absPath("creates", s.Creates); err != nil {
			return nil, err
		}
	}
	if s.Cwd != "" {
		if err := absPath("cwd", s.Cwd); err != nil {
			return nil, err
		}
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil || d <= 0 {
			return nil, fieldErr("timeout", "must be a duration such as 10m, not %q", s.Timeout)
		}
		s.timeout = d
	}
	if len(s.Returns) == 0 {
		s.Returns = []int{0}
	}
	return &s, nil
}

func (s *execSpec) Name() string { return s.Exec }

func (s *execSpec) NotifyActions() []string { return []string{"run"} }

// shell builds the sh -c command for script, as the resource's user, in
// its directory, with its environment.
func (s *execSpec) shell(e *Env, script string) (Command, error) {
	c := Command{Path: "/bin/sh", Args: []string{"-c", script}, Dir: e.Path("/")}
	if s.Cwd != "" {
		c.Dir = e.Path(s.Cwd)
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.Env = append(c.Env, k+"="+s.Env[k])
	}
	if s.User != "" {
		uid, err := e.lookupID("passwd", s.User)
		if err != nil {
			return c, err
		}
		u := uint32(uid)
		c.UID = &u
		if m, err := e.readAccounts("passwd"); err == nil {
			if a, ok := m[s.User]; ok {
				g := uint32(a.gid)
				c.GID = &g
			}
		}
	}
	return c, nil
}

// guards returns why the command is not to run, or "".
func (s *execSpec) guards(ctx context.Context, e *Env) (string, error) {
	if s.Creates != "" {
		_, err := os.Lstat(e.Path(s.Creates))
		if err == nil {
			return "not run: " + s.Creates + " exists", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("creates: %w", err)
		}
	}
	for _, g := range []struct {
		name, script string
		runIf        bool // the command runs if the guard's success is this
	}{{"only_if", s.OnlyIf, true}, {"unless", s.Unless, false}} {
		if g.script == "" {
			continue
		}
		c, err := s.shell(e, g.script)
		if err != nil {
			return "", err
		}
		res, err := e.exec(ctx, c)
		if err != nil {
			return "", fmt.Errorf("%s: %w", g.name, err)
		}
		if (res.ExitCode == 0) != g.runIf {
			verdict := "failed"
			if res.ExitCode == 0 {
				verdict = "succeeded"
			}
			return fmt.Sprintf("not run: %s %s", g.name, verdict), nil
		}
	}
	return "", nil
}

func (s *execSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	if s.WhenNotified {
		return Plan{Note: "runs when notified"}, nil
	}
	return s.plan(ctx, e)
}

func (s *execSpec) Notified(ctx context.Context, e *Env, action string) (Plan, error) {
	return s.plan(ctx, e)
}

func (s *execSpec) plan(ctx context.Context, e *Env) (Plan, error) {
	why, err := s.guards(ctx, e)
	if err != nil || why != "" {
		return Plan{Note: why}, err
	}
	diff := "run " + s.Command + "\n"
	if s.Sensitive {
		diff = "run (sensitive command)\n"
	}
	return Plan{Changed: true, Diff: diff, Apply: func(ctx context.Context) error {
		c, err := s.shell(e, s.Command)
		if err != nil {
			return err
		}
		if s.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.timeout)
			defer cancel()
		}
		res, err := e.exec(ctx, c)
		if err != nil {
			return err
		}
		if !containsInt(s.Returns, res.ExitCode) {
			out := outputTail(res.Output)
			if s.Sensitive {
				out = " (output hidden: sensitive)"
			}
			return fmt.Errorf("exit status %d%s", res.ExitCode, out)
		}
		return nil
	}}, nil
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
