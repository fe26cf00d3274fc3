// Command task is the program inside the docker driver's test image. It runs
// its arguments as a small script of steps, in order:
//
//	env             print the environment, one VAR=value a line, sorted
//	print TEXT      print TEXT on stdout
//	eprint TEXT     print TEXT on stderr
//	sleep DURATION  sleep (a Go duration)
//	ignore-term     ignore SIGTERM from now on
//	alloc MIB       allocate and touch MIB MiB of memory, and keep it
//	listen          serve "ok" on 0.0.0.0:$PORT0 (tcp) in the background
//	id              print "uid=N gid=M"
//	cat PATH        print the file at PATH
//	write PATH TEXT write TEXT to the file at PATH (exit 102 if it fails)
//	exit CODE       exit with CODE
//
// With no more steps it exits 0.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	var keep [][]byte
	for len(args) > 0 {
		step := args[0]
		args = args[1:]
		arg := func() string {
			if len(args) == 0 {
				fmt.Fprintf(os.Stderr, "%s: missing argument\n", step)
				os.Exit(100)
			}
			a := args[0]
			args = args[1:]
			return a
		}
		switch step {
		case "env":
			env := os.Environ()
			slices.Sort(env)
			for _, kv := range env {
				fmt.Println(kv)
			}
		case "print":
			fmt.Println(arg())
		case "eprint":
			fmt.Fprintln(os.Stderr, arg())
		case "sleep":
			d, err := time.ParseDuration(arg())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(100)
			}
			time.Sleep(d)
		case "ignore-term":
			signal.Ignore(syscall.SIGTERM)
		case "alloc":
			n, err := strconv.Atoi(arg())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(100)
			}
			for range n {
				b := make([]byte, 1<<20)
				for i := range b {
					b[i] = 1
				}
				keep = append(keep, b)
			}
			fmt.Printf("allocated %d MiB\n", len(keep))
		case "listen":
			ln, err := net.Listen("tcp", ":"+os.Getenv("PORT0"))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(101)
			}
			fmt.Println("listening on", ln.Addr())
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					fmt.Fprintln(c, "ok")
					c.Close()
				}
			}()
		case "id":
			fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
		case "cat":
			b, err := os.ReadFile(arg())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(102)
			}
			os.Stdout.Write(b)
		case "write":
			path, text := arg(), arg()
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(102)
			}
		case "exit":
			code, err := strconv.Atoi(arg())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(100)
			}
			os.Exit(code)
		default:
			fmt.Fprintf(os.Stderr, "unknown step %q\n", step)
			os.Exit(100)
		}
	}
}
