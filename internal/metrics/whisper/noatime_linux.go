package whisper

import "syscall"

const oNoatime = syscall.O_NOATIME
