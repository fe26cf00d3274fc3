package host

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// readProcesses counts processes the cheap way: two /proc/stat counters, a
// directory listing and one short read per process. Raw syscalls keep the
// per-process cost to open, read and close (no poller registration).
func (c *Collector) readProcesses() (procCounts, error) {
	var pc procCounts
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return pc, err
	}
	var ok bool
	pc.running, pc.blocked, ok = parseProcStat(stat)
	if !ok {
		return pc, errors.New("/proc/stat: no procs_running/procs_blocked")
	}

	dir, err := os.Open("/proc")
	if err != nil {
		return pc, err
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return pc, fmt.Errorf("list /proc: %w", err)
	}
	// The state letter sits right after "pid (comm) "; comm is at most 16
	// bytes (64 with escapes in newer kernels), so a short read suffices.
	buf := c.procBuf
	for _, name := range names {
		if !isPID(name) {
			continue
		}
		pc.total++
		fd, err := syscall.Open("/proc/"+name+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue // exited since the listing, or hidden by hidepid
		}
		n, err := syscall.Read(fd, buf)
		syscall.Close(fd)
		if err != nil || n <= 0 {
			continue
		}
		if st, ok := procState(buf[:n]); ok && st == 'Z' {
			pc.zombie++
		}
	}
	return pc, nil
}
