package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

var adminTokenLine = regexp.MustCompile(`admin token: (\S+)`)

// TestDev runs `corral dev` end to end: it prints the admin token, the CLI
// finds it without flags, Ctrl-C stops it cleanly, and it starts again with
// its node and tokens.
func TestDev(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	home := filepath.Join(base, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(base, "corral-data")
	ports := freePorts(t, 11)
	httpAddr := loopback(ports[0])
	args := []string{"dev", "--data-dir", data, "--name", "laptop", "--label", "role=laptop",
		"--http-addr", httpAddr,
		"--agent-addr", loopback(ports[1]),
		"--carbon-addr", loopback(ports[2]),
		"--pickle-addr", loopback(ports[3]),
		"--etcd-client-addr", loopback(ports[4]),
		"--etcd-peer-addr", loopback(ports[5]),
		"--statsd-addr", loopback(ports[6]),
		"--syslog-addr", loopback(ports[7]),
		"--json-logs-addr", loopback(ports[8]),
		"--beats-addr", loopback(ports[9]),
		"--dns-addr", loopback(ports[10]),
	}
	dev := newProc(t, "dev", base, childEnv(home), args)
	dev.start()
	token := waitPrintedToken(t, dev)

	// The token is in the data dir, readable by its owner only.
	info, err := os.Stat(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", filepath.Join(data, "admin.token"), info.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(data, "admin.token"))
	if strings.TrimSpace(string(b)) != token {
		t.Errorf("admin.token holds %q, dev printed %q", strings.TrimSpace(string(b)), token)
	}
	devYAML := filepath.Join(home, ".config", "corral", "dev.yaml")
	if info, err := os.Stat(devYAML); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("dev.yaml: %v, mode %v, want 0600", err, info)
	}

	// The CLI reaches it with no flags, through dev.yaml.
	env := CLIEnv{Home: home}
	eventually(t, readyTimeout, func() error {
		out, errOut, code := RunCLI(t, env, "node", "ls")
		if code != 0 {
			return fmt.Errorf("corral node ls: exit %d: %s", code, errOut)
		}
		if st := tableStatus(out, "laptop"); st != api.NodeReady {
			return fmt.Errorf("corral node ls: laptop is %q:\n%s", st, out)
		}
		return nil
	})
	c, err := client.New("http://"+httpAddr, token)
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.Node(testCtx(t), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if before.Labels["role"] != "laptop" {
		t.Errorf("node labels = %v, want role=laptop", before.Labels)
	}
	tokensBefore, err := c.Tokens(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}

	// Ctrl-C stops it cleanly and quickly.
	dev.Signal(os.Interrupt)
	stopping := time.Now()
	code := dev.Wait(30 * time.Second)
	if took := time.Since(stopping); took > 5*time.Second {
		t.Errorf("corral dev took %s to stop after SIGINT, want under 5s", took.Round(10*time.Millisecond))
	}
	if code != 0 {
		t.Errorf("corral dev exited with code %d after SIGINT, want 0:\n%s", code, dev.Stderr())
	}

	// Started again, it carries on: same token, same node, same tokens.
	dev.start()
	if again := waitPrintedToken(t, dev); again != token {
		t.Errorf("second start printed admin token %q, want the first one %q", again, token)
	}
	after := waitNode(t, c, "laptop", api.NodeReady)
	if !after.JoinedAt.Equal(before.JoinedAt) {
		t.Errorf("node joined_at %v after restart, want %v (the same node)", after.JoinedAt, before.JoinedAt)
	}
	tokensAfter, err := c.Tokens(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(tokensAfter) != len(tokensBefore) {
		t.Errorf("%d tokens after restart, want the %d from before: %+v", len(tokensAfter), len(tokensBefore), tokensAfter)
	}
	out, _, code := RunCLI(t, env, "node", "ls")
	if code != 0 || tableStatus(out, "laptop") != api.NodeReady {
		t.Errorf("corral node ls after restart: exit %d:\n%s", code, out)
	}
	dev.Signal(os.Interrupt)
	if code := dev.Wait(30 * time.Second); code != 0 {
		t.Errorf("second corral dev exited with code %d after SIGINT", code)
	}
}

// waitPrintedToken waits until dev has printed its admin token and returns
// it.
func waitPrintedToken(t *testing.T, dev *proc) string {
	t.Helper()
	var token string
	eventually(t, startTimeout, func() error {
		if exited, code := dev.Exited(); exited {
			t.Fatalf("corral dev exited with code %d:\n%s", code, dev.Stderr())
		}
		m := adminTokenLine.FindStringSubmatch(dev.Stdout())
		if m == nil {
			return fmt.Errorf("corral dev has not printed its admin token; stdout:\n%s", dev.Stdout())
		}
		token = m[1]
		return nil
	})
	return token
}

// waitNode waits until the node has status.
func waitNode(t *testing.T, c *client.Client, name, status string) api.Node {
	t.Helper()
	var n api.Node
	eventually(t, readyTimeout, func() error {
		var err error
		if n, err = c.Node(testCtx(t), name); err != nil {
			return err
		}
		if n.Status != status {
			return fmt.Errorf("node %s is %s, want %s", name, n.Status, status)
		}
		return nil
	})
	return n
}
