package cli

import (
	"github.com/spf13/cobra"

	"corral/internal/driver/exec"
)

// superviseCmd is `corral supervise <task-state-dir>`, hidden: the exec
// driver starts it to supervise one task (exec.SupervisorMain) in its own
// session, so the task outlives the agent. It loads no config and prints
// nothing of its own; its exit code is the supervisor's.
func (a *app) superviseCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "supervise TASK-STATE-DIR",
		Short:              "Supervise one task of the exec driver (started by the agent)",
		Example:            "  corral supervise /var/lib/corral-agent/tasks-exec/shop_api.4f2a9c0d1e3b",
		Hidden:             true,
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := exec.SupervisorMain(args); code != 0 {
				return &exitCodeError{code: code}
			}
			return nil
		},
	}
}
