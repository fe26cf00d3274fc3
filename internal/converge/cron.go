package converge

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"corral/internal/api"
)

// cronSpec is `cron: {name, schedule, user, command, checkin, env,
// ensure}`: one job in /etc/cron.d/<name>. With checkin the command runs
// under `corral checkin <checkin> -- ...`, so every run reports its exit
// code and output to the check of that name (a ttl check notices when the
// runs stop).
type cronSpec struct {
	Job      string            `json:"name"`
	Schedule string            `json:"schedule"`
	User     string            `json:"user"`
	Command  string            `json:"command"`
	Checkin  string            `json:"checkin"`
	Env      map[string]string `json:"env"`
	Ensure   string            `json:"ensure"`
	absent   bool
}

// cronFileName is what Debian's cron (run-parts rules) reads in
// /etc/cron.d: no dots.
var cronFileName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

var cronField = regexp.MustCompile(`^[0-9A-Za-z*/,-]+$`)

var cronEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var cronSpecials = []string{"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

func decodeCron(props json.RawMessage) (Provider, error) {
	var s cronSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if !cronFileName.MatchString(s.Job) {
		return nil, fieldErr("name", "must be letters, digits, - and _ (cron skips files with other names in /etc/cron.d), not %q", s.Job)
	}
	var err error
	if s.absent, err = ensureValue(s.Ensure); err != nil {
		return nil, err
	}
	if s.absent {
		return &s, nil
	}
	if err := validSchedule(s.Schedule); err != nil {
		return nil, fieldErr("schedule", "%v", err)
	}
	if s.User == "" {
		s.User = "root"
	}
	if !accountName.MatchString(s.User) {
		return nil, fieldErr("user", "must be a user name, not %q", s.User)
	}
	if strings.TrimSpace(s.Command) == "" || strings.ContainsAny(s.Command, "\n\r") {
		return nil, fieldErr("command", "is required, on one line")
	}
	if s.Checkin != "" && !api.ValidName(s.Checkin) {
		return nil, fieldErr("checkin", "must be a check name: %s", api.NameRule)
	}
	for k, v := range s.Env {
		if !cronEnvName.MatchString(k) || strings.ContainsAny(v, "\n\r") {
			return nil, fieldErr("env."+k, "must be NAME: value on one line")
		}
	}
	return &s, nil
}

// validSchedule accepts five cron fields or one of cron's @ words.
func validSchedule(s string) error {
	f := strings.Fields(s)
	if len(f) == 1 && contains(cronSpecials, f[0]) {
		return nil
	}
	if len(f) != 5 {
		return fmt.Errorf("want five fields (minute hour day month weekday) or one of %s, not %q", strings.Join(cronSpecials, " "), s)
	}
	for _, x := range f {
		if !cronField.MatchString(x) {
			return fmt.Errorf("field %q is not a cron field", x)
		}
	}
	return nil
}

func (s *cronSpec) Name() string { return s.Job }

func (s *cronSpec) path() string { return "/etc/cron.d/" + s.Job }

// shellSafe matches commands that need no shell: plain words.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./=:,@+ -]+$`)

// CronLine returns the command as it goes in the crontab: wrapped in
// `corral checkin NAME -- ...` when checkin is set (through /bin/sh -c when
// the command uses the shell), with % escaped as cron wants.
func CronLine(corral, checkin, command string) string {
	if checkin != "" {
		if shellSafe.MatchString(command) {
			command = corral + " checkin " + checkin + " -- " + command
		} else {
			command = corral + " checkin " + checkin + " -- /bin/sh -c " + shellQuote(command)
		}
	}
	return strings.ReplaceAll(command, "%", `\%`)
}

// shellQuote quotes s for sh in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// content is the cron.d file.
func (s *cronSpec) content(e *Env) string {
	corral := e.CorralPath
	if corral == "" {
		corral = "/usr/local/bin/corral"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by corral: cron %s. Local changes are overwritten.\n", s.Job)
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, s.Env[k])
	}
	fmt.Fprintf(&b, "%s %s %s\n", strings.Join(strings.Fields(s.Schedule), " "), s.User, CronLine(corral, s.Checkin, s.Command))
	return b.String()
}

func (s *cronSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	if s.absent {
		return e.planAbsentFile(s.path(), 0, false)
	}
	// cron ignores files that are group or other writable.
	return e.planFile(s.path(), []byte(s.content(e)), true, meta{mode: 0o644, hasMode: true, uid: -1, gid: -1}, 0, false)
}
