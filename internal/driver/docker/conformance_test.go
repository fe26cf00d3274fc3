package docker

import (
	"testing"

	"corral/internal/driver"
	"corral/internal/driver/drivertest"
)

// conformanceSpec is each behavior of the conformance suite with the test
// image, which has no shell: the steps of testdata/task instead.
func conformanceSpec(b drivertest.Behavior) driver.Spec {
	spec := driver.Spec{Image: testImage}
	switch b {
	case drivertest.ExitCode3:
		spec.Args = []string{"exit", "3"}
	case drivertest.PrintHello:
		spec.Args = []string{"print", drivertest.Hello}
	case drivertest.RunForever:
		spec.Args = []string{"sleep", "1h"}
	case drivertest.IgnoreTerm:
		spec.Args = []string{"ignore-term", "print", drivertest.Ready, "sleep", "1h"}
	case drivertest.MissingProgram:
		// A command runs under /bin/sh, which the image lacks.
		spec.Cmd = "/nonexistent/corral-drivertest"
	}
	return spec
}

func TestConformance(t *testing.T) {
	// The suite's tasks run on node "node-1".
	newDriver := func(t *testing.T) driver.Driver {
		host := testEngine(t)
		d, err := New(Options{Host: host, Node: "node-1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	drivertest.Run(t, newDriver, drivertest.Caps{
		Spec:   conformanceSpec,
		Reopen: func(t *testing.T, _ driver.Driver) driver.Driver { return newDriver(t) },
	})
}
