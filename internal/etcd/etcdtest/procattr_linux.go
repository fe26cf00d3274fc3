package etcdtest

import "syscall"

// sysProcAttr kills a member when the test process dies without cleanup.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
