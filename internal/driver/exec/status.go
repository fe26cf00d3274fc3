package exec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"corral/internal/driver"
)

// Files in a task's state directory <StateDir>/<task-id>/.
const (
	specFile   = "spec.json"      // written by Start, read by the supervisor
	statusFile = "status.json"    // written by the supervisor
	superLog   = "supervisor.log" // the supervisor's own stdout/stderr
)

// state is status.json: the driver's Status plus what the supervisor knows.
type state struct {
	driver.Status
	SupervisorPID int    `json:"supervisor_pid"`
	PGID          int    `json:"pgid,omitempty"`
	StartError    string `json:"start_error,omitempty"` // the task never ran
	Final         bool   `json:"final,omitempty"`       // the supervisor is done
}

// launch is spec.json: everything the supervisor needs.
type launch struct {
	Spec    driver.Spec `json:"spec"`
	Cgroups cgroups     `json:"cgroups"`
}

// handleData is driver.Handle.Data for exec.
type handleData struct {
	Dir           string `json:"dir"`
	SupervisorPID int    `json:"supervisor_pid"`
}

// writeJSON writes v to path atomically (temp file and rename).
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readState(dir string) (state, error) {
	var s state
	b, err := os.ReadFile(filepath.Join(dir, statusFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read %s: %w", filepath.Join(dir, statusFile), err)
	}
	return s, nil
}

// signalNames names the signals a task is likely to die of.
var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGSYS: "SIGSYS",
}

// SignalName returns "SIGKILL" for syscall.SIGKILL, "signal 40" for one
// without a name here.
func SignalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}

// exitInfo is how a task's process ended.
type exitInfo struct {
	Code     int
	Signal   string // "" when it exited
	OOM      bool
	MemMiB   int64
	ViaShell bool // Cmd ran under sh -c: 127 and 126 are sh's
}

// reason words why a task ended: "" for exit code 0, "exit code 3", "killed
// by SIGKILL", "OOM: exceeded 128 MiB", "command not found (exit code 127)".
func reason(e exitInfo) string {
	switch {
	case e.OOM && e.MemMiB > 0:
		return fmt.Sprintf("OOM: exceeded %d MiB", e.MemMiB)
	case e.OOM:
		return "OOM"
	case e.Signal != "":
		return "killed by " + e.Signal
	case e.Code == 0:
		return ""
	case e.ViaShell && e.Code == 127:
		return "command not found (exit code 127)"
	case e.ViaShell && e.Code == 126:
		return "command not executable (exit code 126)"
	}
	return fmt.Sprintf("exit code %d", e.Code)
}

// TaskEnv is the environment of a task: PATH and HOME (the sandbox) unless
// the spec's Env sets them, then driver.TaskEnv (the spec's Env, ports, HOST
// and CORRAL_*), and CORRAL_SANDBOX. The result is sorted, as os/exec takes
// it.
func TaskEnv(spec driver.Spec) []string {
	env := map[string]string{
		"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME": spec.Sandbox,
	}
	for k, v := range driver.TaskEnv(spec) {
		env[k] = v
	}
	env["CORRAL_SANDBOX"] = spec.Sandbox
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// alive says whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// supervising says whether pid is alive and is the supervisor of the task
// in dir, not a process that reused the pid (after a reboot, say).
func supervising(pid int, dir string) bool {
	if !alive(pid) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	last := args[len(args)-1]
	if last == dir {
		return true
	}
	if filepath.Base(last) != filepath.Base(dir) {
		return false
	}
	a, err1 := os.Stat(last)
	b2, err2 := os.Stat(dir)
	return err1 == nil && err2 == nil && os.SameFile(a, b2)
}
