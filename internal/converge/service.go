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

// serviceSpec is `service: {name, enabled, running, manager}`: a systemd
// unit where systemd runs (the root has /run/systemd/system), a sysv init
// script in /etc/init.d otherwise (manager forces one). Unset enabled or
// running leave that side alone. Other resources notify it with restart,
// reload, start or stop.
type serviceSpec struct {
	Service string `json:"name"`
	Enabled *bool  `json:"enabled"`
	Running *bool  `json:"running"`
	Manager string `json:"manager"`
}

var serviceName = regexp.MustCompile(`^[A-Za-z0-9@_.:-]+$`)

func decodeService(props json.RawMessage) (Provider, error) {
	var s serviceSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if !serviceName.MatchString(s.Service) {
		return nil, fieldErr("name", "must be a service name such as nginx, not %q", s.Service)
	}
	switch s.Manager {
	case "", "systemd", "sysv":
	default:
		return nil, fieldErr("manager", "must be systemd or sysv, not %q", s.Manager)
	}
	return &s, nil
}

func (s *serviceSpec) Name() string { return s.Service }

func (s *serviceSpec) NotifyActions() []string { return []string{"restart", "reload", "start", "stop"} }

// manager returns "systemd" or "sysv".
func (s *serviceSpec) manager(e *Env) string {
	if s.Manager != "" {
		return s.Manager
	}
	if fi, err := os.Stat(e.Path("/run/systemd/system")); err == nil && fi.IsDir() {
		return "systemd"
	}
	return "sysv"
}

// command returns the command for a verb (start, stop, restart, reload,
// enable, disable).
func (s *serviceSpec) command(e *Env, verb string) Command {
	if s.manager(e) == "systemd" {
		args := []string{verb, s.Service}
		if !e.onMachine() && (verb == "enable" || verb == "disable") {
			args = append([]string{"--root", e.Root}, args...)
		}
		return Command{Path: "systemctl", Args: args}
	}
	return Command{Path: e.Path("/etc/init.d/" + s.Service), Args: []string{verb}}
}

// running reports whether the service runs now.
func (s *serviceSpec) running(ctx context.Context, e *Env) (bool, error) {
	c := s.command(e, "status")
	if s.manager(e) == "systemd" {
		c = Command{Path: "systemctl", Args: []string{"is-active", "--quiet", s.Service}}
	} else if _, err := os.Stat(c.Path); err != nil {
		return false, fmt.Errorf("no init script %s: %w", filepath.Join("/etc/init.d", s.Service), err)
	}
	res, err := e.exec(ctx, c)
	if err != nil {
		return false, err
	}
	return res.ExitCode == 0, nil
}

// enabled reports whether the service starts at boot.
func (s *serviceSpec) enabled(ctx context.Context, e *Env) (bool, error) {
	if s.manager(e) == "systemd" {
		args := []string{"is-enabled", "--quiet", s.Service}
		if !e.onMachine() {
			args = append([]string{"--root", e.Root}, args...)
		}
		res, err := e.exec(ctx, Command{Path: "systemctl", Args: args})
		if err != nil {
			return false, err
		}
		return res.ExitCode == 0, nil
	}
	for _, lvl := range "2345" {
		m, _ := filepath.Glob(e.Path(fmt.Sprintf("/etc/rc%c.d/S[0-9][0-9]%s", lvl, globEscape(s.Service))))
		if len(m) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// setEnabled enables or disables the service: systemctl, update-rc.d on a
// sysv machine, and rc links of its own under a root.
func (s *serviceSpec) setEnabled(ctx context.Context, e *Env, on bool) error {
	verb := "disable"
	if on {
		verb = "enable"
	}
	if s.manager(e) == "systemd" {
		_, err := e.mustRun(ctx, s.command(e, verb))
		return err
	}
	if e.onMachine() {
		if on {
			if _, err := e.mustRun(ctx, Command{Path: "update-rc.d", Args: []string{s.Service, "defaults"}}); err != nil {
				return err
			}
		}
		_, err := e.mustRun(ctx, Command{Path: "update-rc.d", Args: []string{s.Service, verb}})
		return err
	}
	return s.rcLinks(e, on)
}

// rcLinks writes the rc?.d links as update-rc.d does, without ordering:
// S01name in runlevels 2-5 when on (K01name when off), K01name in 0, 1, 6.
func (s *serviceSpec) rcLinks(e *Env, on bool) error {
	target := "../init.d/" + s.Service
	for _, lvl := range "0123456" {
		dir := e.Path(fmt.Sprintf("/etc/rc%c.d", lvl))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("enable %s: %w", s.Service, err)
		}
		old, _ := filepath.Glob(filepath.Join(dir, "[SK][0-9][0-9]"+globEscape(s.Service)))
		for _, o := range old {
			if err := os.Remove(o); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("enable %s: %w", s.Service, err)
			}
		}
		name := "K01" + s.Service
		if on && strings.ContainsRune("2345", lvl) {
			name = "S01" + s.Service
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("enable %s: %w", s.Service, err)
		}
	}
	return nil
}

func (s *serviceSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	var lines []string
	var steps []func(context.Context) error
	if s.Enabled != nil {
		on, err := s.enabled(ctx, e)
		if err != nil {
			return Plan{}, err
		}
		if on != *s.Enabled {
			want := *s.Enabled
			lines = append(lines, map[bool]string{true: "enable ", false: "disable "}[want]+s.Service)
			steps = append(steps, func(ctx context.Context) error { return s.setEnabled(ctx, e, want) })
		}
	}
	if s.Running != nil {
		up, err := s.running(ctx, e)
		if err != nil {
			return Plan{}, err
		}
		if up != *s.Running {
			verb := "stop"
			if *s.Running {
				verb = "start"
			}
			lines = append(lines, verb+" "+s.Service)
			steps = append(steps, func(ctx context.Context) error {
				_, err := e.mustRun(ctx, s.command(e, verb))
				return err
			})
		}
	}
	if len(lines) == 0 {
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

// Notified restarts, reloads, starts or stops the service. A restart of a
// stopped service starts it; stopping a stopped one changes nothing.
func (s *serviceSpec) Notified(ctx context.Context, e *Env, action string) (Plan, error) {
	verb := action
	if s.manager(e) == "sysv" {
		if _, err := os.Stat(e.Path("/etc/init.d/" + s.Service)); err != nil && !e.DryRun {
			return Plan{}, fmt.Errorf("no init script /etc/init.d/%s", s.Service)
		}
	}
	if action == "stop" || action == "start" || action == "restart" {
		up, err := s.running(ctx, e)
		if err != nil && !e.DryRun {
			return Plan{}, err
		}
		switch {
		case action == "stop" && !up, action == "start" && up:
			return Plan{}, nil
		case action == "restart" && !up:
			verb = "start"
		}
	}
	return Plan{Changed: true, Diff: verb + " " + s.Service + "\n", Apply: func(ctx context.Context) error {
		_, err := e.mustRun(ctx, s.command(e, verb))
		return err
	}}, nil
}
