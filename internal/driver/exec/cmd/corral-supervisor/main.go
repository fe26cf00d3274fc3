// Command corral-supervisor is the exec driver's task supervisor as a small
// binary of its own: `corral-supervisor <task-state-dir>`. It does what
// `corral supervise` does, but starts in a fraction of the time because it
// links only the exec driver (the corral binary runs the init functions of
// etcd, SQLite, Prometheus and the rest first). An agent that finds it
// installed can point exec.Options.SupervisorCommand at it.
package main

import (
	"os"

	"corral/internal/driver/exec"
)

func main() { os.Exit(exec.SupervisorMain(os.Args[1:])) }
