//go:build unix

// Command profiled is corral with a CPU profiler switched by signals. The
// benchmarks in bench build it instead of cmd/corral when BENCH_PROFILE_DIR
// is set, and profile the server over each measured window: SIGUSR1 starts a
// CPU profile, SIGUSR2 writes it to $BENCH_PROFILE_DIR/cpu-<pid>-<n>.pprof
// and a heap profile of that moment to heap-<pid>-<n>.pprof.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"corral/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	if dir := os.Getenv("BENCH_PROFILE_DIR"); dir != "" {
		go profileOnSignal(dir)
	}
	code := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// profileOnSignal starts a CPU profile on SIGUSR1 and writes it, and a heap
// profile, on SIGUSR2.
func profileOnSignal(dir string) {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	var f *os.File
	n := 0
	for s := range sig {
		switch {
		case s == syscall.SIGUSR1 && f == nil:
			n++
			var err error
			f, err = os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d-%d.pprof", os.Getpid(), n)))
			if err == nil && pprof.StartCPUProfile(f) != nil {
				f.Close()
				f = nil
			}
		case s == syscall.SIGUSR2 && f != nil:
			pprof.StopCPUProfile()
			f.Close()
			f = nil
			if h, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d-%d.pprof", os.Getpid(), n))); err == nil {
				pprof.Lookup("heap").WriteTo(h, 0)
				h.Close()
			}
		}
	}
}
