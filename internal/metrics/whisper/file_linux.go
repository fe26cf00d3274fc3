package whisper

import "syscall"

const oNoatime = syscall.O_NOATIME

// preallocate reserves the blocks of a new file without writing them, as
// carbon's WHISPER_FALLOCATE_CREATE does; ok is false when the file system
// cannot, and the caller writes zeros instead.
func preallocate(fd uintptr, size int64) (ok bool, err error) {
	for {
		err := syscall.Fallocate(int(fd), 0, 0, size)
		switch err {
		case nil:
			return true, nil
		case syscall.EINTR:
			continue
		case syscall.EOPNOTSUPP, syscall.ENOSYS:
			return false, nil
		default:
			return false, err
		}
	}
}
