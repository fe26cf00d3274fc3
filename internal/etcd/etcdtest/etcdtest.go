// Package etcdtest starts real etcd clusters from Debian's etcd binary for
// tests of packages that use an external etcd. Imported by tests only.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// healthyTimeout bounds how long StartCluster waits for a working cluster.
const healthyTimeout = 20 * time.Second

// Cluster is a set of etcd processes started by StartCluster.
type Cluster struct {
	t       testing.TB
	members []*member
}

type member struct {
	name      string
	dir       string
	clientURL string
	cmd       *exec.Cmd
	done      chan struct{} // closed when the process has exited
	killOnce  sync.Once
}

// Binary returns the path of the etcd binary, or "" if there is none.
func Binary() string {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd"
	}
	return ""
}

// StartCluster starts an n-member etcd cluster on 127.0.0.1, each member a
// process with its data in a t.TempDir, waits until it serves writes and
// reads, and stops it when the test ends. It skips the test when no etcd
// binary is installed.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("etcd binary not found: apt-get install etcd-server")
	}
	if n < 1 {
		t.Fatalf("etcdtest: cluster of %d members", n)
	}
	ports := freePorts(t, 2*n)
	c := &Cluster{t: t}
	peers := make([]string, n)
	for i := range n {
		peers[i] = fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1])
	}
	token := fmt.Sprintf("etcdtest-%d", time.Now().UnixNano())
	for i := range n {
		m := &member{
			name:      fmt.Sprintf("m%d", i),
			dir:       t.TempDir(),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
		}
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		args := []string{
			"--name", m.name,
			"--data-dir", filepath.Join(m.dir, "data"),
			"--listen-client-urls", m.clientURL,
			"--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", peerURL,
			"--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(peers, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--heartbeat-interval", "50",
			"--election-timeout", "500",
			"--logger", "zap",
			"--log-outputs", "stderr",
		}
		if err := c.start(bin, m, args); err != nil {
			c.stop()
			t.Fatalf("etcdtest: %v", err)
		}
		c.members = append(c.members, m)
	}
	t.Cleanup(c.stop)
	if err := c.waitHealthy(); err != nil {
		c.stop()
		t.Fatalf("etcdtest: cluster not healthy after %s: %v%s", healthyTimeout, err, c.logs())
	}
	return c
}

// Endpoints returns the client URLs of all members.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.clientURL
	}
	return eps
}

// Kill sends SIGKILL to member i and waits until it has exited.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	if i < 0 || i >= len(c.members) {
		c.t.Fatalf("etcdtest: no member %d in a cluster of %d", i, len(c.members))
	}
	c.members[i].kill()
}

func (c *Cluster) start(bin string, m *member, args []string) error {
	logf, err := os.Create(filepath.Join(m.dir, "etcd.log"))
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	m.cmd = exec.Command(bin, args...)
	m.cmd.Env = cleanEnv()
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	m.cmd.SysProcAttr = sysProcAttr()
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	m.done = make(chan struct{})
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	return nil
}

func (m *member) kill() {
	m.killOnce.Do(func() {
		if m.cmd == nil || m.done == nil {
			return
		}
		_ = m.cmd.Process.Kill()
		<-m.done
	})
}

func (c *Cluster) stop() {
	for _, m := range c.members {
		m.kill()
	}
}

// waitHealthy writes and reads a key until that works.
func (c *Cluster) waitHealthy() error {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), healthyTimeout)
	defer cancel()
	for {
		err = putGet(ctx, cli)
		if err == nil {
			return nil
		}
		for _, m := range c.members {
			select {
			case <-m.done:
				return fmt.Errorf("member %s exited: %v", m.name, m.cmd.ProcessState)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func putGet(ctx context.Context, cli *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "etcdtest/health", "ok"); err != nil {
		return err
	}
	resp, err := cli.Get(ctx, "etcdtest/health")
	if err != nil {
		return err
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "ok" {
		return fmt.Errorf("read back %v", resp.Kvs)
	}
	return nil
}

// logs returns the tail of every member's log, for failure messages.
func (c *Cluster) logs() string {
	var b strings.Builder
	for _, m := range c.members {
		data, _ := os.ReadFile(filepath.Join(m.dir, "etcd.log"))
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "\n--- %s log:\n%s", m.name, data)
	}
	return b.String()
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("etcdtest: free port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// cleanEnv is the environment without ETCD_* variables, which etcd would
// read as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD") {
			env = append(env, kv)
		}
	}
	return env
}
