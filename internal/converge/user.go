package converge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var accountName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// userSpec is `user: {name, uid, group, groups, home, shell, comment,
// system, manage_home, ensure}`, managed with useradd, usermod and userdel.
// Groups, when given, is the exact list of supplementary groups.
type userSpec struct {
	User       string   `json:"name"`
	UID        *int     `json:"uid"`
	Group      string   `json:"group"`
	Groups     []string `json:"groups"`
	Home       string   `json:"home"`
	Shell      string   `json:"shell"`
	Comment    string   `json:"comment"`
	System     bool     `json:"system"`
	ManageHome bool     `json:"manage_home"`
	Ensure     string   `json:"ensure"`
	absent     bool
}

func decodeUser(props json.RawMessage) (Provider, error) {
	var s userSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if !accountName.MatchString(s.User) {
		return nil, fieldErr("name", "must be a user name such as deploy, not %q", s.User)
	}
	if s.UID != nil && *s.UID < 0 {
		return nil, fieldErr("uid", "must not be negative")
	}
	if s.Home != "" {
		if err := absPath("home", s.Home); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(s.Comment, ":\n") {
		return nil, fieldErr("comment", "must not contain : or a line break")
	}
	var err error
	if s.absent, err = ensureValue(s.Ensure); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *userSpec) Name() string { return s.User }

// account is one passwd or group line.
type account struct {
	name    string
	id      int
	gid     int      // passwd: primary group
	comment string   // passwd
	home    string   // passwd
	shell   string   // passwd
	members []string // group
}

// readAccounts reads the root's /etc/passwd or /etc/group (file) into a
// map by name (fresh every call: user and group resources change them).
func (e *Env) readAccounts(file string) (map[string]account, error) {
	f, err := os.Open(e.Path("/etc/" + file))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]account{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read /etc/%s: %w", file, err)
	}
	defer f.Close()
	out := map[string]account{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) < 4 || p[0] == "" || p[0][0] == '#' {
			continue
		}
		a := account{name: p[0]}
		a.id, _ = strconv.Atoi(p[2])
		if file == "passwd" && len(p) >= 7 {
			a.gid, _ = strconv.Atoi(p[3])
			a.comment, a.home, a.shell = p[4], p[5], p[6]
		}
		if file == "group" && p[3] != "" {
			a.members = strings.Split(p[3], ",")
		}
		out[a.name] = a
	}
	return out, sc.Err()
}

// shadowCmd is a shadow tool (useradd, groupadd...) acting on the root.
func (e *Env) shadowCmd(tool string, args ...string) Command {
	if !e.onMachine() {
		args = append([]string{"--root", e.Root}, args...)
	}
	return Command{Path: tool, Args: args}
}

func (s *userSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	users, err := e.readAccounts("passwd")
	if err != nil {
		return Plan{}, err
	}
	cur, exists := users[s.User]
	if s.absent {
		if !exists {
			return Plan{}, nil
		}
		args := []string{s.User}
		if s.ManageHome {
			args = []string{"--remove", s.User}
		}
		return e.shadowPlan("remove user "+s.User, e.shadowCmd("userdel", args...)), nil
	}
	groups, err := e.readAccounts("group")
	if err != nil {
		return Plan{}, err
	}
	var args, lines []string
	if s.UID != nil && (!exists || cur.id != *s.UID) {
		args = append(args, "--uid", strconv.Itoa(*s.UID))
		lines = append(lines, change("uid", exists, strconv.Itoa(cur.id), strconv.Itoa(*s.UID)))
	}
	if s.Group != "" {
		gid, err := strconv.Atoi(s.Group)
		if err != nil {
			g, ok := groups[s.Group]
			if !ok && !e.DryRun {
				return Plan{}, fmt.Errorf("group: no group %q", s.Group)
			}
			gid = g.id
		}
		if !exists || cur.gid != gid {
			args = append(args, "--gid", s.Group)
			lines = append(lines, change("group", exists, groupName(groups, cur.gid), s.Group))
		}
	}
	if s.Home != "" && (!exists || cur.home != s.Home) {
		args = append(args, "--home", s.Home)
		if exists && s.ManageHome {
			args = append(args, "--move-home")
		}
		lines = append(lines, change("home", exists, cur.home, s.Home))
	}
	if s.Shell != "" && (!exists || cur.shell != s.Shell) {
		args = append(args, "--shell", s.Shell)
		lines = append(lines, change("shell", exists, cur.shell, s.Shell))
	}
	if s.Comment != "" && (!exists || cur.comment != s.Comment) {
		args = append(args, "--comment", s.Comment)
		lines = append(lines, change("comment", exists, cur.comment, s.Comment))
	}
	if s.Groups != nil {
		var have []string
		for _, g := range groups {
			if contains(g.members, s.User) {
				have = append(have, g.name)
			}
		}
		want := append([]string(nil), s.Groups...)
		sort.Strings(have)
		sort.Strings(want)
		if (exists || len(want) > 0) && strings.Join(have, ",") != strings.Join(want, ",") {
			args = append(args, "--groups", strings.Join(want, ","))
			lines = append(lines, change("groups", exists, strings.Join(have, ","), strings.Join(want, ",")))
		}
	}
	if exists && len(args) == 0 {
		return Plan{}, nil
	}
	if !exists {
		if s.System {
			args = append(args, "--system")
		}
		if s.ManageHome {
			args = append(args, "--create-home")
		}
		return e.shadowPlan("create user "+s.User+"\n"+strings.Join(lines, "\n"), e.shadowCmd("useradd", append(args, s.User)...)), nil
	}
	return e.shadowPlan("change user "+s.User+"\n"+strings.Join(lines, "\n"), e.shadowCmd("usermod", append(args, s.User)...)), nil
}

// change formats one changed property: "shell /bin/sh -> /bin/bash", or
// "shell /bin/bash" for a new account.
func change(what string, exists bool, from, to string) string {
	if !exists {
		return what + " " + to
	}
	if from == "" {
		from = "(none)"
	}
	if to == "" {
		to = "(none)"
	}
	return fmt.Sprintf("%s %s -> %s", what, from, to)
}

func groupName(groups map[string]account, gid int) string {
	for _, g := range groups {
		if g.id == gid {
			return g.name
		}
	}
	return strconv.Itoa(gid)
}

// shadowPlan is a plan that runs one shadow tool.
func (e *Env) shadowPlan(diff string, c Command) Plan {
	return Plan{Changed: true, Diff: strings.TrimSpace(diff) + "\n", Apply: func(ctx context.Context) error {
		_, err := e.mustRun(ctx, c)
		e.forgetIDs()
		return err
	}}
}

// groupSpec is `group: {name, gid, members, system, ensure}`, managed with
// groupadd, groupmod, gpasswd and groupdel. Members, when given, is the
// exact member list.
type groupSpec struct {
	Group   string   `json:"name"`
	GID     *int     `json:"gid"`
	Members []string `json:"members"`
	System  bool     `json:"system"`
	Ensure  string   `json:"ensure"`
	absent  bool
}

func decodeGroup(props json.RawMessage) (Provider, error) {
	var s groupSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if !accountName.MatchString(s.Group) {
		return nil, fieldErr("name", "must be a group name such as deploy, not %q", s.Group)
	}
	if s.GID != nil && *s.GID < 0 {
		return nil, fieldErr("gid", "must not be negative")
	}
	for i, m := range s.Members {
		if !accountName.MatchString(m) {
			return nil, fieldErr(fmt.Sprintf("members[%d]", i), "%q is not a user name", m)
		}
	}
	var err error
	if s.absent, err = ensureValue(s.Ensure); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *groupSpec) Name() string { return s.Group }

func (s *groupSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	groups, err := e.readAccounts("group")
	if err != nil {
		return Plan{}, err
	}
	cur, exists := groups[s.Group]
	if s.absent {
		if !exists {
			return Plan{}, nil
		}
		return e.shadowPlan("remove group "+s.Group, e.shadowCmd("groupdel", s.Group)), nil
	}
	var steps []Command
	var lines []string
	if !exists {
		args := []string{}
		if s.GID != nil {
			args = append(args, "--gid", strconv.Itoa(*s.GID))
			lines = append(lines, "gid "+strconv.Itoa(*s.GID))
		}
		if s.System {
			args = append(args, "--system")
		}
		steps = append(steps, e.shadowCmd("groupadd", append(args, s.Group)...))
		lines = append([]string{"create group " + s.Group}, lines...)
	} else if s.GID != nil && cur.id != *s.GID {
		steps = append(steps, e.shadowCmd("groupmod", "--gid", strconv.Itoa(*s.GID), s.Group))
		lines = append(lines, fmt.Sprintf("gid %d -> %d", cur.id, *s.GID))
	}
	if s.Members != nil {
		have := append([]string(nil), cur.members...)
		want := append([]string(nil), s.Members...)
		sort.Strings(have)
		sort.Strings(want)
		if strings.Join(have, ",") != strings.Join(want, ",") {
			steps = append(steps, e.shadowCmd("gpasswd", "--members", strings.Join(want, ","), s.Group))
			lines = append(lines, change("members", exists, strings.Join(have, ","), strings.Join(want, ",")))
		}
	}
	if len(steps) == 0 {
		return Plan{}, nil
	}
	if exists {
		lines = append([]string{"change group " + s.Group}, lines...)
	}
	return Plan{Changed: true, Diff: strings.Join(lines, "\n") + "\n", Apply: func(ctx context.Context) error {
		defer e.forgetIDs()
		for _, c := range steps {
			if _, err := e.mustRun(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}}, nil
}
