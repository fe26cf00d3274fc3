package dockertest

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

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// TaskImage is the tag the tests give the image of the docker driver's
// test program (internal/driver/docker/testdata/task, a small script
// runner: env, print, sleep, listen, alloc, exit, ...).
const TaskImage = "corral-test/task:1"

// TaskProgram is the directory of that program, relative to the module
// root.
const TaskProgram = "internal/driver/docker/testdata/task"

// BuildImage compiles the Go program in progDir (a main package of this
// module) statically (CGO_ENABLED=0) and builds the image tag FROM scratch
// on the engine at host, with the program as /<base name of progDir> and
// as the ENTRYPOINT. The image has nothing else: no shell, no libc.
func BuildImage(ctx context.Context, host, tag, progDir string) error {
	abs, err := filepath.Abs(progDir)
	if err != nil {
		return fmt.Errorf("program dir %s: %w", progDir, err)
	}
	name := filepath.Base(abs)
	prog, err := compile(ctx, abs)
	if err != nil {
		return err
	}
	buildCtx, err := buildContext(name, prog)
	if err != nil {
		return fmt.Errorf("build context of %s: %w", tag, err)
	}
	api, err := client.New(client.WithHost(host))
	if err != nil {
		return fmt.Errorf("docker client for %s: %w", host, err)
	}
	defer api.Close()
	res, err := api.ImageBuild(ctx, bytes.NewReader(buildCtx), client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	defer res.Body.Close()
	if err := readBuildOutput(res.Body); err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	if _, err := api.ImageInspect(ctx, tag); err != nil {
		return fmt.Errorf("inspect built image %s: %w", tag, err)
	}
	return nil
}

// compile builds the main package in dir statically and returns the
// binary.
func compile(ctx context.Context, dir string) ([]byte, error) {
	out, err := os.MkdirTemp("", "corral-image-")
	if err != nil {
		return nil, fmt.Errorf("temp dir for the build: %w", err)
	}
	defer os.RemoveAll(out)
	bin := filepath.Join(out, "prog")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", dir, err, msg)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read the built program: %w", err)
	}
	return prog, nil
}

// buildContext is the tar stream of a Dockerfile that puts prog at /name
// in an empty image and runs it.
func buildContext(name string, prog []byte) ([]byte, error) {
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY %s /%s\nENTRYPOINT [\"/%s\"]\n", name, name, name)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{name, 0o755, prog},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readBuildOutput reads the engine's build progress (JSON messages) to
// its end and returns the error it reports, if any.
func readBuildOutput(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
	}
}
