package check

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"corral/internal/api"
)

// processProbe counts processes like check_procs: args name (exact process
// name), pattern (regular expression on the command line), warning and
// critical (Nagios ranges of the count, default critical "1:"), or min/max
// as a shorthand for critical "min:max".
type processProbe struct {
	name       string
	pattern    *regexp.Regexp
	warn, crit Range
	self       int32
}

func parseProcess(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &processProbe{name: r.str("name", ""), self: int32(os.Getpid())}
	if pat := r.str("pattern", ""); pat != "" {
		re, err := regexp.Compile(pat)
		if err != nil {
			r.fe.Add("pattern", "not a regular expression: %v", err)
		}
		p.pattern = re
	}
	if p.name == "" && p.pattern == nil {
		r.fe.Add("name", "is required (or pattern)")
	}
	p.warn = r.rng("warning", "")
	p.crit = r.rng("critical", "1:")
	_, hasMin := r.args["min"]
	_, hasMax := r.args["max"]
	lo, hi := r.integer("min", 0), r.integer("max", -1)
	if hasMin || hasMax {
		p.crit = Range{Set: true, Start: float64(lo), End: math.Inf(1)}
		if hi >= 0 {
			p.crit.End = float64(hi)
		}
		p.crit.text = fmt.Sprintf("%d:", lo)
		if hi >= 0 {
			p.crit.text += strconv.Itoa(hi)
		}
		if p.crit.End < p.crit.Start {
			r.fe.Add("max", "must not be below min")
		}
	}
	return p, r.done()
}

func (p *processProbe) Probe(ctx context.Context, _ Env) Outcome {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return unknown("PROCS", err)
	}
	n := 0
	for _, pr := range procs {
		if p.match(ctx, pr) {
			n++
		}
	}
	s := statusOf(float64(n), p.warn, p.crit)
	what := "name '" + p.name + "'"
	if p.pattern != nil {
		what = "args '" + p.pattern.String() + "'"
		if p.name != "" {
			what = "name '" + p.name + "' and " + what
		}
	}
	return Outcome{s, fmt.Sprintf("PROCS %s: %d process%s with %s | procs=%d;%s;%s;0;",
		label(s), n, plural(n, "es"), what, n, p.warn, p.crit)}
}

func (p *processProbe) match(ctx context.Context, pr *process.Process) bool {
	if pr.Pid == p.self && p.pattern != nil {
		return false // the agent's own command line holds no check's pattern
	}
	if p.name != "" {
		name, err := pr.NameWithContext(ctx)
		if err != nil || name != p.name {
			return false
		}
	}
	if p.pattern != nil {
		cmd, err := pr.CmdlineWithContext(ctx)
		if err != nil || !p.pattern.MatchString(cmd) {
			return false
		}
	}
	return true
}

func plural(n int, suffix string) string {
	if n == 1 {
		return ""
	}
	return suffix
}

// serviceProbe: args name (a systemd unit or sysv service) or pidfile.
// With a pidfile the process is looked up without forking. Otherwise it
// runs `systemctl is-active NAME` when systemd is the init system, else
// `service NAME status`: both fork, since asking systemd over D-Bus
// without a client library is not worth its weight.
type serviceProbe struct {
	name, pidfile string
	systemd       func() bool
}

var serviceName = regexp.MustCompile(`^[A-Za-z0-9@._:-]+$`)

func parseService(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &serviceProbe{name: r.str("name", ""), pidfile: r.str("pidfile", ""), systemd: systemdRunning}
	switch {
	case p.name == "" && p.pidfile == "":
		r.fe.Add("name", "is required (or pidfile)")
	case p.name != "" && !serviceName.MatchString(p.name):
		r.fe.Add("name", "must be a unit or service name (letters, digits, @ . _ : -)")
	}
	return p, r.done()
}

func systemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

func (p *serviceProbe) Probe(ctx context.Context, env Env) Outcome {
	if p.pidfile != "" {
		return pidfileOutcome(ctx, p.pidfile)
	}
	cmd, how := "service "+p.name+" status", "sysv"
	if p.systemd() {
		cmd, how = "systemctl is-active -- "+p.name, "systemd"
	}
	o := Exec(ctx, cmd, ExecOptions{Timeout: env.Timeout, MaxOutput: 4096})
	text := strings.TrimSpace(o.Output)
	if line, _, _ := strings.Cut(text, "\n"); line != "" {
		text = line
	}
	switch o.Status {
	case api.StatusOK:
		return Outcome{api.StatusOK, fmt.Sprintf("SERVICE OK - %s is running (%s: %s)", p.name, how, text)}
	case api.StatusUnknown:
		return Outcome{api.StatusUnknown, fmt.Sprintf("SERVICE UNKNOWN - %s (%s): %s", p.name, how, text)}
	}
	return Outcome{api.StatusCritical, fmt.Sprintf("SERVICE CRITICAL - %s is not running (%s: %s)", p.name, how, text)}
}

func pidfileOutcome(ctx context.Context, path string) Outcome {
	b, err := os.ReadFile(path)
	if err != nil {
		return Outcome{api.StatusCritical, fmt.Sprintf("SERVICE CRITICAL - %v", err)}
	}
	pid, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 32)
	if err != nil || pid <= 0 {
		return Outcome{api.StatusCritical, fmt.Sprintf("SERVICE CRITICAL - %s does not hold a pid", path)}
	}
	ok, err := process.PidExistsWithContext(ctx, int32(pid))
	if err != nil {
		return unknown("SERVICE", err)
	}
	if !ok {
		return Outcome{api.StatusCritical, fmt.Sprintf("SERVICE CRITICAL - pid %d from %s is not running", pid, path)}
	}
	return Outcome{api.StatusOK, fmt.Sprintf("SERVICE OK - pid %d from %s is running", pid, path)}
}

// fileAgeProbe is check_file_age: args path, warning and critical (age,
// default 240s and 600s). A missing file is critical.
type fileAgeProbe struct {
	path       string
	warn, crit time.Duration
}

func parseFileAge(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &fileAgeProbe{path: r.required("path"), warn: r.duration("warning", 240*time.Second), crit: r.duration("critical", 600*time.Second)}
	if p.warn > p.crit {
		r.fe.Add("warning", "must not be above critical")
	}
	return p, r.done()
}

func (p *fileAgeProbe) Probe(_ context.Context, env Env) Outcome {
	fi, err := os.Stat(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return Outcome{api.StatusCritical, fmt.Sprintf("FILE_AGE CRITICAL - %s: no such file", p.path)}
	}
	if err != nil {
		return unknown("FILE_AGE", err)
	}
	age := env.now().Sub(fi.ModTime())
	secs := int64(age / time.Second)
	s := above(float64(age), float64(p.warn), float64(p.crit))
	return Outcome{s, fmt.Sprintf("FILE_AGE %s - %s is %d seconds old and %d bytes | age=%ds;%d;%d size=%dB;;;0",
		label(s), p.path, secs, fi.Size(), secs, int64(p.warn/time.Second), int64(p.crit/time.Second), fi.Size())}
}
