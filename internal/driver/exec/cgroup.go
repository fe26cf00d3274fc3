package exec

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroups says where the task cgroups go. The driver detects it once and
// passes it to every supervisor in spec.json. The zero value means no
// cgroups: limits are not enforced.
type cgroups struct {
	Version int    `json:"version,omitempty"` // 1 or 2; 0: none
	Memory  string `json:"memory,omitempty"`  // v1: the memory controller's parent for tasks
	CPU     string `json:"cpu,omitempty"`     // v1: the cpu controller's parent for tasks
	Unified string `json:"unified,omitempty"` // v2: the parent for tasks
	Why     string `json:"why,omitempty"`     // why there are none
}

// cgroupParent is the group under each controller that holds the tasks.
// It sits at the controller's root, not under the agent's own group, so that
// a service manager restarting the agent does not kill its tasks.
const cgroupParent = "corral"

// detectCgroups finds the cgroup controllers under root (default
// /sys/fs/cgroup) and makes the parent group; it returns the zero value with
// Why set when they are missing or not writable.
func detectCgroups(root string) cgroups {
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		p := filepath.Join(root, cgroupParent)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return cgroups{Why: err.Error()}
		}
		// Delegate the controllers down to the task groups.
		for _, dir := range []string{root, p} {
			for _, c := range []string{"+memory", "+cpu"} {
				_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(c), 0o644)
			}
		}
		return cgroups{Version: 2, Unified: p}
	}
	var cg cgroups
	var why []string
	for _, c := range []struct {
		ctrl, probe string
		dst         *string
	}{{"memory", "memory.limit_in_bytes", &cg.Memory}, {"cpu", "cpu.shares", &cg.CPU}} {
		if _, err := os.Stat(filepath.Join(root, c.ctrl, c.probe)); err != nil {
			why = append(why, c.ctrl+" controller not mounted")
			continue
		}
		p := filepath.Join(root, c.ctrl, cgroupParent)
		if err := os.MkdirAll(p, 0o755); err != nil {
			why = append(why, err.Error())
			continue
		}
		*c.dst = p
	}
	if cg.Memory != "" || cg.CPU != "" {
		cg.Version = 1
	}
	cg.Why = strings.Join(why, "; ")
	return cg
}

// taskGroups are the cgroup directories of one task.
type taskGroups struct {
	cg    cgroups
	paths []string // every directory made; paths[0] holds the processes to list
	mem   string   // the directory with the memory files, "" if none
}

func (cg cgroups) forTask(id string) taskGroups {
	t := taskGroups{cg: cg}
	switch cg.Version {
	case 2:
		t.paths = []string{filepath.Join(cg.Unified, id)}
		t.mem = t.paths[0]
	case 1:
		if cg.Memory != "" {
			t.mem = filepath.Join(cg.Memory, id)
			t.paths = append(t.paths, t.mem)
		}
		if cg.CPU != "" {
			t.paths = append(t.paths, filepath.Join(cg.CPU, id))
		}
	}
	return t
}

// cpuPeriodUS is the CFS period the quota is a share of.
const cpuPeriodUS = 100000

// create makes the task's groups and sets its limits. Without cgroups it
// makes nothing: limits are then not enforced (the supervisor logs why).
func (t taskGroups) create(memMiB int64, cpus float64) error {
	for _, p := range t.paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	write := func(dir, file, v string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644); err != nil {
			return fmt.Errorf("cgroup: set %s: %w", file, err)
		}
		return nil
	}
	switch t.cg.Version {
	case 2:
		dir := t.paths[0]
		if memMiB > 0 {
			if err := write(dir, "memory.max", strconv.FormatInt(memMiB<<20, 10)); err != nil {
				return err
			}
			_ = write(dir, "memory.swap.max", "0") // absent without swap accounting
		}
		if _, err := os.Stat(filepath.Join(dir, "cpu.weight")); cpus > 0 && err == nil {
			// cpu is best effort ("where the node can enforce it").
			if err := write(dir, "cpu.weight", strconv.Itoa(cpuWeight(cpuShares(cpus)))); err != nil {
				return err
			}
			if err := write(dir, "cpu.max", fmt.Sprintf("%d %d", cpuQuota(cpus), cpuPeriodUS)); err != nil {
				return err
			}
		}
	case 1:
		if memMiB > 0 && t.mem != "" {
			if err := write(t.mem, "memory.limit_in_bytes", strconv.FormatInt(memMiB<<20, 10)); err != nil {
				return err
			}
			// Swap must not hide an overrun; absent without swap accounting.
			_ = write(t.mem, "memory.memsw.limit_in_bytes", strconv.FormatInt(memMiB<<20, 10))
		}
		if cpus > 0 && t.cg.CPU != "" {
			dir := t.paths[len(t.paths)-1]
			if err := write(dir, "cpu.shares", strconv.Itoa(cpuShares(cpus))); err != nil {
				return err
			}
			_ = write(dir, "cpu.cfs_period_us", strconv.Itoa(cpuPeriodUS))
			if err := write(dir, "cpu.cfs_quota_us", strconv.Itoa(cpuQuota(cpus))); err != nil {
				return err
			}
		}
	}
	return nil
}

// cpuShares is Mesos's mapping: 1024 shares per CPU, at least 2.
func cpuShares(cpus float64) int { return max(2, int(cpus*1024)) }

// cpuWeight maps v1 shares [2, 262144] onto v2 weights [1, 10000] as runc does.
func cpuWeight(shares int) int { return 1 + ((shares-2)*9999)/262142 }

// cpuQuota is the CFS quota for cpus CPUs, at least 1 ms.
func cpuQuota(cpus float64) int { return max(1000, int(cpus*cpuPeriodUS)) }

// start starts cmd inside the task's groups, so the task runs in them from
// its first instruction without moving the supervisor: on v2 the child is
// cloned straight into the group (clone3 CLONE_INTO_CGROUP); on v1, where
// membership is per thread, one locked OS thread joins the groups, forks
// the child there and goes back.
func (t taskGroups) start(cmd *osexec.Cmd) error {
	switch {
	case len(t.paths) == 0:
		return cmd.Start()
	case t.cg.Version == 2:
		fd, err := syscall.Open(t.paths[0], syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		defer syscall.Close(fd)
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
		return cmd.Start()
	}
	back, err := t.ownGroups()
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		tid := []byte(strconv.Itoa(syscall.Gettid()))
		join := func(dirs []string) error {
			for _, d := range dirs {
				if err := os.WriteFile(filepath.Join(d, "tasks"), tid, 0o644); err != nil {
					return fmt.Errorf("cgroup: move thread to %s: %w", d, err)
				}
			}
			return nil
		}
		err := join(t.paths)
		if err == nil {
			err = cmd.Start()
		}
		if join(back) == nil {
			runtime.UnlockOSThread()
		} // else: the thread exits with the goroutine (unless it is the main one)
		errc <- err
	}()
	return <-errc
}

// ownGroups returns, for each of the task's controllers, the directory the
// supervisor is in.
func (t taskGroups) ownGroups() ([]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	byCtrl := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			byCtrl[c] = parts[2]
		}
	}
	var out []string
	for _, p := range t.paths {
		mount := filepath.Dir(filepath.Dir(p)) // <mount>/corral/<id>
		rel, ok := byCtrl[filepath.Base(mount)]
		if !ok {
			return nil, fmt.Errorf("cgroup: own %s group not found", filepath.Base(mount))
		}
		out = append(out, filepath.Join(mount, rel))
	}
	return out, nil
}

// procs lists the processes in the task's group.
func (t taskGroups) procs() []int {
	if len(t.paths) == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(t.paths[0], "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// killAll SIGKILLs every process left in the task's group.
func (t taskGroups) killAll() {
	for _, pid := range t.procs() {
		if pid == os.Getpid() {
			continue // a thread of ours that could not leave
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// oomKilled says whether the kernel OOM-killed a process of the group:
// v2 memory.events oom_kill, v1 memory.oom_control oom_kill (kernel 4.13+)
// or, on older kernels, a memory.failcnt above zero.
func (t taskGroups) oomKilled() bool {
	if t.mem == "" {
		return false
	}
	file := "memory.oom_control"
	if t.cg.Version == 2 {
		file = "memory.events"
	}
	if b, err := os.ReadFile(filepath.Join(t.mem, file)); err == nil {
		if n, ok := field(string(b), "oom_kill"); ok {
			return n > 0
		}
	}
	if t.cg.Version == 1 {
		if b, err := os.ReadFile(filepath.Join(t.mem, "memory.failcnt")); err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return n > 0
		}
	}
	return false
}

// field reads "key N" from a flat-keyed cgroup file.
func field(s, key string) (int64, bool) {
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// remove deletes the task's groups once they are empty, killing stragglers
// and retrying briefly (the kernel frees an exited group asynchronously).
func (t taskGroups) remove() error {
	var errs []error
	for _, p := range t.paths {
		var err error
		for i := 0; i < 50; i++ {
			err = syscall.Rmdir(p)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			t.killAll()
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
