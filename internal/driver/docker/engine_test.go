package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// testImage is the image the tests build FROM scratch around
// testdata/task.
const testImage = "corral-test/task:1"

// testNode is the node name of the tests' drivers.
const testNode = "test-node"

// engine is the tests' own dockerd, shared by every test of a package
// run: started by the first test that needs it, stopped by TestMain.
type engine struct {
	once   sync.Once
	dir    string
	host   string
	cmd    *exec.Cmd
	exited chan struct{}
	skip   string // why the tests that need it skip
}

// theEngine is the package run's dockerd; TestMain owns its lifetime.
var theEngine engine

func TestMain(m *testing.M) {
	code := m.Run()
	theEngine.stop()
	os.Exit(code)
}

// testEngine returns the address of the tests' dockerd with the test
// image loaded, or skips t.
func testEngine(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("docker engine tests need a dockerd; skipped with -short")
	}
	theEngine.once.Do(theEngine.start)
	if theEngine.skip != "" {
		t.Skip(theEngine.skip)
	}
	return theEngine.host
}

func (e *engine) start() {
	if os.Geteuid() != 0 {
		e.skip = "dockerd needs root to run"
		return
	}
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		e.skip = "dockerd not found (Debian package docker.io)"
		return
	}
	// A short path: the socket's path must fit in 108 bytes.
	e.dir, err = os.MkdirTemp("", "corral-dockerd-")
	if err != nil {
		e.skip = fmt.Sprintf("temp dir for dockerd: %v", err)
		return
	}
	e.host = "unix://" + filepath.Join(e.dir, "docker.sock")
	logf, err := os.Create(filepath.Join(e.dir, "dockerd.log"))
	if err != nil {
		e.skip = fmt.Sprintf("dockerd log: %v", err)
		return
	}
	e.cmd = exec.Command(bin,
		"--data-root", filepath.Join(e.dir, "data"),
		"--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "dockerd.pid"),
		"-H", e.host,
		"--bridge=none", "--iptables=false", "--ip6tables=false",
		"--log-level=warn",
	)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		e.skip = fmt.Sprintf("start dockerd: %v", err)
		return
	}
	e.exited = make(chan struct{})
	go func() { e.cmd.Wait(); logf.Close(); close(e.exited) }()

	api, err := client.New(client.WithHost(e.host))
	if err != nil {
		e.skip = fmt.Sprintf("docker client: %v", err)
		return
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := api.Ping(pctx, client.PingOptions{})
		pcancel()
		if err == nil {
			break
		}
		select {
		case <-e.exited:
			e.skip = fmt.Sprintf("dockerd exited at start:\n%s", e.logTail())
			return
		case <-ctx.Done():
			e.skip = fmt.Sprintf("dockerd did not answer /_ping in 60s (%v):\n%s", err, e.logTail())
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := buildTestImage(ctx, api, e.dir); err != nil {
		e.skip = fmt.Sprintf("build test image: %v", err)
	}
}

func (e *engine) logTail() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// stop ends dockerd (which stops what still runs) and removes its files.
func (e *engine) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(30 * time.Second):
		syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.exited
	}
	// dockerd leaves its network namespace mounted (exec/netns/default).
	if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for _, line := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], e.dir+"/") {
				syscall.Unmount(f[1], syscall.MNT_DETACH)
			}
		}
	}
	os.RemoveAll(e.dir)
}

// buildTestImage compiles testdata/task statically and builds testImage
// FROM scratch around it through the engine's build API.
func buildTestImage(ctx context.Context, api *client.Client, dir string) error {
	bin := filepath.Join(dir, "task")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./testdata/task")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build testdata/task: %w\n%s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY task /task\nENTRYPOINT [\"/task\"]\n")},
		{"task", 0o755, prog},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := api.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{testImage}, Remove: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Error != nil {
			return fmt.Errorf("build: %s", m.Error.Message)
		}
	}
	if _, err := api.ImageInspect(ctx, testImage); err != nil {
		return fmt.Errorf("built image: %w", err)
	}
	return nil
}
