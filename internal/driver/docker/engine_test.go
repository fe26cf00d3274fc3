package docker

import (
	"context"
	"os"
	"testing"

	"corral/internal/driver/docker/dockertest"
)

// testImage is the image the tests build FROM scratch around
// testdata/task.
const testImage = dockertest.TaskImage

// testNode is the node name of the tests' drivers.
const testNode = "test-node"

// engine is the tests' own dockerd, shared by every test of a package
// run: started by the first test that needs it (which builds testImage),
// stopped by TestMain.
var engine = dockertest.Shared{Prepare: func(ctx context.Context, e *dockertest.Engine) error {
	theEngine.host = e.Host()
	return dockertest.BuildImage(ctx, e.Host(), testImage, "testdata/task")
}}

// theEngine is the address of the shared engine once a test asked for it
// (testEngine).
var theEngine struct{ host string }

func TestMain(m *testing.M) {
	code := m.Run()
	engine.Stop()
	os.Exit(code)
}

// testEngine returns the address of the tests' dockerd with the test
// image loaded, or skips t.
func testEngine(t testing.TB) string {
	t.Helper()
	return engine.Engine(t).Host()
}
