package converge

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// initScript is a sysv init script for a test daemon (a sleep) that keeps
// its pid file and a log of what it was told under root.
const initScript = `#!/bin/sh
ROOT=%q
PIDFILE="$ROOT/run/testd.pid"
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
case "$1" in
start)
	running && exit 0
	echo start >> "$ROOT/testd.log"
	mkdir -p "$ROOT/run"
	sleep 600 </dev/null >/dev/null 2>&1 &
	echo $! > "$PIDFILE"
	;;
stop)
	if running; then kill "$(cat "$PIDFILE")"; fi
	rm -f "$PIDFILE"
	echo stop >> "$ROOT/testd.log"
	;;
restart)
	"$0" stop && "$0" start
	;;
reload)
	echo reload >> "$ROOT/testd.log"
	;;
status)
	running || exit 3
	;;
*)
	exit 2
	;;
esac
`

// TestServiceSysv runs a daemon through its init script: enabled and
// started, restarted when its template changes, then stopped.
func TestServiceSysv(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh (Debian package dash)")
	}
	env, _ := testEnv(t)
	env.Exec = OSRunner{}
	root := env.Root
	mustWrite(t, filepath.Join(root, "etc/init.d/testd"), fmt.Sprintf(initScript, root))
	os.Chmod(filepath.Join(root, "etc/init.d/testd"), 0o755)
	pid := func() int {
		b, err := os.ReadFile(filepath.Join(root, "run/testd.pid"))
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	// alive: the process exists and is not a zombie (a killed daemon whose
	// new parent does not reap it).
	alive := func(p int) bool {
		if p <= 0 || syscall.Kill(p, 0) != nil {
			return false
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return false
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		return len(f) > 0 && f[0] != "Z"
	}
	// The daemons the script starts outlive it: make this process their
	// parent, so that they are reaped, not left as zombies.
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	t.Cleanup(func() {
		if p := pid(); alive(p) {
			syscall.Kill(p, syscall.SIGTERM)
		}
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
		reapOrphans()
	})
	resources := func(port int, running bool) []Resource {
		return decodeJSON(t, fmt.Sprintf(`[
			{"template": {"path": "/etc/testd.conf", "content": "port = {{ .Vars.port }}\n", "vars": {"port": %d}, "notify": ["restart service testd"]}},
			{"service": {"name": "testd", "enabled": true, "running": %v}}
		]`, port, running))
	}
	log := func() string { b, _ := os.ReadFile(filepath.Join(root, "testd.log")); return string(b) }

	rep := run(t, env, resources(80, true))
	if got := statuses(rep); got != "template[/etc/testd.conf]=changed service[testd]=changed" || rep.Failed() {
		t.Fatalf("first run: %s %s", got, rep.Error)
	}
	if rep.Resources[1].Diff != "enable testd\nstart testd\n" {
		t.Errorf("service diff %q", rep.Resources[1].Diff)
	}
	// The template changed and notified a restart, but the service resource
	// started the daemon: the restart restarts it once.
	if got := log(); got != "start\nstop\nstart\n" {
		t.Errorf("log after the first run %q", got)
	}
	first := pid()
	if !alive(first) {
		t.Fatal("daemon not running")
	}
	for _, lvl := range []string{"2", "3", "4", "5"} {
		if to, err := os.Readlink(filepath.Join(root, "etc/rc"+lvl+".d/S01testd")); err != nil || to != "../init.d/testd" {
			t.Errorf("rc%s.d link: %q %v", lvl, to, err)
		}
	}
	if _, err := os.Readlink(filepath.Join(root, "etc/rc0.d/K01testd")); err != nil {
		t.Errorf("rc0.d kill link: %v", err)
	}

	rep = run(t, env, resources(80, true))
	if rep.Totals.UpToDate != 2 || len(rep.Notifications) != 0 || pid() != first {
		t.Fatalf("second run: %s, notifications %+v", statuses(rep), rep.Notifications)
	}

	rep = run(t, env, resources(8080, true))
	if got := statuses(rep); got != "template[/etc/testd.conf]=changed service[testd]=up-to-date" {
		t.Fatalf("template change: %s %s", got, rep.Error)
	}
	if len(rep.Notifications) != 1 || rep.Notifications[0].Status != StatusChanged {
		t.Fatalf("notifications %+v", rep.Notifications)
	}
	second := pid()
	if second == first || !alive(second) || alive(first) {
		t.Errorf("not restarted: pid %d -> %d", first, second)
	}
	if got := log(); got != "start\nstop\nstart\nstop\nstart\n" {
		t.Errorf("log after the restart %q", got)
	}

	rep = run(t, env, resources(8080, false))
	if got := statuses(rep); got != "template[/etc/testd.conf]=up-to-date service[testd]=changed" {
		t.Fatalf("stop: %s %s", got, rep.Error)
	}
	if alive(second) {
		t.Error("daemon still running")
	}
}

func TestServiceSystemd(t *testing.T) {
	tests := []struct {
		name   string
		res    string
		active map[string]bool
		want   []string
	}{
		{"stopped and disabled", `{"name": "nginx", "enabled": true, "running": true}`, nil, []string{
			"systemctl is-enabled --quiet nginx", "systemctl is-active --quiet nginx", "systemctl enable nginx", "systemctl start nginx"}},
		{"up to date", `{"name": "nginx", "enabled": true, "running": true}`, map[string]bool{"nginx": true}, []string{
			"systemctl is-enabled --quiet nginx", "systemctl is-active --quiet nginx"}},
		{"stop and disable", `{"name": "nginx", "enabled": false, "running": false}`, map[string]bool{"nginx": true}, []string{
			"systemctl is-enabled --quiet nginx", "systemctl is-active --quiet nginx", "systemctl disable nginx", "systemctl stop nginx"}},
		{"running only", `{"name": "nginx", "running": true}`, nil, []string{
			"systemctl is-active --quiet nginx", "systemctl start nginx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			os.MkdirAll(filepath.Join(env.Root, "run/systemd/system"), 0o755) // detected as systemd
			env.Root = "/"                                                    // systemctl acts on the machine
			fake := systemdFake(tt.active)
			env.Exec = fake
			res := decodeJSON(t, `[{"service": `+strings.Replace(tt.res, `{`, `{"manager": "systemd", `, 1)+`}]`)
			rep := run(t, env, res)
			if rep.Failed() {
				t.Fatal(rep.Error)
			}
			if got := fake.commands(); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("commands\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestServiceManagerDetected(t *testing.T) {
	env, _ := testEnv(t)
	s := &serviceSpec{Service: "x"}
	if got := s.manager(&env); got != "sysv" {
		t.Errorf("empty root: %s", got)
	}
	os.MkdirAll(filepath.Join(env.Root, "run/systemd/system"), 0o755)
	if got := s.manager(&env); got != "systemd" {
		t.Errorf("with /run/systemd/system: %s", got)
	}
}

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

// reapOrphans waits for the exited processes this one adopted.
func reapOrphans() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
