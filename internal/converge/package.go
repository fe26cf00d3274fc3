package converge

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// packageSpec is `package: {name: [curl, htop], version, ensure, source,
// purge, update}`: Debian packages installed with apt-get (or, with source,
// a .deb installed with dpkg), or removed. Version pins one package to an
// exact version (downgrading if needed). Under a root other than / the
// tools are pointed at it (dpkg --root; apt-get -o RootDir and
// DPkg::Chroot-Directory, which need a Debian tree there, as debootstrap
// makes).
type packageSpec struct {
	Names   stringList `json:"name"`
	Version string     `json:"version"`
	Ensure  string     `json:"ensure"`
	Source  string     `json:"source"`
	Purge   bool       `json:"purge"`
	Update  bool       `json:"update"`
	absent  bool
}

var debName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`)

func decodePackage(props json.RawMessage) (Provider, error) {
	var s packageSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if len(s.Names) == 0 {
		return nil, fieldErr("name", "is required")
	}
	for i, n := range s.Names {
		if !debName.MatchString(n) {
			return nil, fieldErr(fmt.Sprintf("name[%d]", i), "%q is not a Debian package name", n)
		}
	}
	var err error
	if s.absent, err = ensureValue(s.Ensure); err != nil {
		return nil, err
	}
	if (s.Version != "" || s.Source != "") && len(s.Names) > 1 {
		return nil, fieldErr("version", "version and source take one package name")
	}
	if s.Source != "" {
		if err := absPath("source", s.Source); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

func (s *packageSpec) Name() string { return strings.Join(s.Names, ",") }

// installed returns the installed version of each of names ("" when not
// installed), from dpkg-query.
func (e *Env) installed(ctx context.Context, names []string) (map[string]string, error) {
	args := []string{"-W", "-f", `${Package}\t${db:Status-Abbrev}\t${Version}\n`}
	if !e.onMachine() {
		args = append([]string{"--root", e.Root}, args...)
	}
	res, err := e.exec(ctx, Command{Path: "dpkg-query", Args: append(args, names...)})
	if err != nil {
		return nil, err
	}
	if res.ExitCode > 1 { // 1: some package is unknown
		return nil, fmt.Errorf("dpkg-query: exit status %d%s", res.ExitCode, outputTail(res.Output))
	}
	return parseDpkgQuery(res.Output, names), nil
}

// parseDpkgQuery reads "name\tstatus\tversion" lines; a package counts as
// installed when its status is "ii" or "hi" (held).
func parseDpkgQuery(out string, names []string) map[string]string {
	v := make(map[string]string, len(names))
	for _, n := range names {
		v[n] = ""
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		name := f[0]
		if _, ok := v[name]; !ok {
			// dpkg-query prints "name" for "name:arch" queries.
			for _, n := range names {
				if strings.HasPrefix(n, name+":") {
					name = n
				}
			}
		}
		st := strings.TrimSpace(f[1])
		if strings.HasPrefix(st, "ii") || strings.HasPrefix(st, "hi") {
			v[name] = f[2]
		}
	}
	return v
}

func (s *packageSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	have, err := e.installed(ctx, s.Names)
	if err != nil {
		return Plan{}, err
	}
	var todo, lines []string
	for _, n := range s.Names {
		cur := have[n]
		switch {
		case s.absent && cur != "":
			todo = append(todo, n)
			lines = append(lines, fmt.Sprintf("remove %s (%s)", n, cur))
		case s.absent:
		case cur == "":
			todo = append(todo, n)
			lines = append(lines, "install "+n+versionNote(s.Version))
		case s.Version != "" && cur != s.Version:
			todo = append(todo, n)
			lines = append(lines, fmt.Sprintf("install %s %s (was %s)", n, s.Version, cur))
		}
	}
	if len(todo) == 0 {
		return Plan{}, nil
	}
	return Plan{Changed: true, Diff: strings.Join(lines, "\n") + "\n", Apply: func(ctx context.Context) error {
		return s.apply(ctx, e, todo)
	}}, nil
}

func versionNote(v string) string {
	if v == "" {
		return ""
	}
	return " " + v
}

func (s *packageSpec) apply(ctx context.Context, e *Env, todo []string) error {
	noninteractive := []string{"DEBIAN_FRONTEND=noninteractive"}
	dpkg := func(args ...string) Command {
		if !e.onMachine() {
			args = append([]string{"--root", e.Root}, args...)
		}
		return Command{Path: "dpkg", Args: args, Env: noninteractive}
	}
	var c Command
	switch {
	case s.absent && s.Source != "":
		verb := "--remove"
		if s.Purge {
			verb = "--purge"
		}
		c = dpkg(append([]string{verb}, todo...)...)
	case s.absent:
		verb := "remove"
		if s.Purge {
			verb = "purge"
		}
		c = e.aptGet(append([]string{verb, "-y", "-q"}, todo...)...)
	case s.Source != "":
		c = dpkg("--force-confdef", "--force-confold", "--install", e.Path(s.Source))
	default:
		if s.Update {
			if _, err := e.mustRun(ctx, e.aptGet("update", "-q")); err != nil {
				return err
			}
		}
		args := []string{"install", "-y", "-q", "--no-install-recommends",
			"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}
		if s.Version != "" {
			args = append(args, "--allow-downgrades")
		}
		for _, n := range todo {
			if s.Version != "" {
				n += "=" + s.Version
			}
			args = append(args, n)
		}
		c = e.aptGet(args...)
	}
	_, err := e.mustRun(ctx, c)
	return err
}

// aptGet is an apt-get command, pointed at the root.
func (e *Env) aptGet(args ...string) Command {
	if !e.onMachine() {
		args = append([]string{"-o", "RootDir=" + e.Root, "-o", "DPkg::Chroot-Directory=" + e.Root}, args...)
	}
	return Command{Path: "apt-get", Args: args, Env: []string{"DEBIAN_FRONTEND=noninteractive"}}
}
