//go:build unix

package check

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts cmd in a new process group whose id is its pid,
// so killGroup reaches every child it forks.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends sig to cmd's whole process group, and to the shell
// itself in case it left the group.
func killGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	_ = cmd.Process.Signal(sig)
}
