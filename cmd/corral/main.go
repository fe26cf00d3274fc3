// Command corral is Corral's one binary: the server, the agent, `corral dev`
// and the command line of the API. Everything is in package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time zones (render's tz=, job and check schedules) without the OS's tzdata

	"corral/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
