//go:build !unix

package check

import (
	"os/exec"
	"syscall"
)

// setProcessGroup does nothing where process groups are not available;
// only the shell itself is killed at a timeout there.
func setProcessGroup(cmd *exec.Cmd) {}

// killGroup kills the shell (no process groups on this platform).
func killGroup(cmd *exec.Cmd, _ syscall.Signal) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
