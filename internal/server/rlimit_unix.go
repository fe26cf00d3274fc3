//go:build unix

package server

import "syscall"

// wantOpenFiles is the open-file limit the server asks for: the metric store
// keeps whisper files open between updates (up to half the limit), and with
// 100,000 series reopening files was half of the flush time.
const wantOpenFiles = 1 << 18

// raiseOpenFiles lifts the soft (and, when permitted, the hard) limit on
// open files to wantOpenFiles. Go already raises the soft limit to the hard
// one; a root server can raise the hard limit too. It returns the limit in
// effect.
func raiseOpenFiles() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur >= wantOpenFiles {
		return lim.Cur
	}
	want := lim
	want.Cur = wantOpenFiles
	if want.Max < wantOpenFiles {
		want.Max = wantOpenFiles
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
		// Not allowed to raise the hard limit: take what it allows.
		want = lim
		want.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
			return lim.Cur
		}
	}
	return want.Cur
}
