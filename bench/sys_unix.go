//go:build unix

package bench

import (
	"fmt"
	"os"
	"syscall"
)

// The signals bench/internal/profiled starts and stops a profile on.
var profileStart, profileStop os.Signal = syscall.SIGUSR1, syscall.SIGUSR2

// raiseFileLimit raises this process's soft RLIMIT_NOFILE to want (the hard
// limit too, when allowed, else as far as the hard limit goes) and returns
// the soft limit now in force. Processes started afterwards inherit it: an
// explicit Setrlimit also stops os/exec from giving children back the
// original soft limit.
func raiseFileLimit(want uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return want, nil
		}
	}
	rl.Cur = max(rl.Cur, min(want, rl.Max))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return rl.Cur, nil
}
