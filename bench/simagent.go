package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"corral/internal/api"
	"corral/internal/pki"
)

// simAgent is one simulated agent in the benchmark process. It speaks the
// agent channel as internal/agent does: join with a join token over a
// pinned TLS connection, then its own mutual-TLS transport (one HTTP/2
// connection, one TLS session) carrying hello, a long-lived watch stream and
// heartbeats.
type simAgent struct {
	name   string
	base   string // https://host:port of the agent channel
	client *http.Client
	tr     *http.Transport
}

// joinSim joins a new node: a fresh key and CSR, POST /agent/v1/join.
func joinSim(ctx context.Context, agentAddr, joinToken, name string) (*simAgent, error) {
	jt, err := pki.ParseJoinToken(joinToken)
	if err != nil {
		return nil, err
	}
	key, keyPEM, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	csr, err := pki.NewCSR(key, name)
	if err != nil {
		return nil, err
	}
	base := "https://" + agentAddr
	jtr := &http.Transport{TLSClientConfig: pki.PinnedTLSConfig(jt.CAFingerprint)}
	defer jtr.CloseIdleConnections()
	var cr api.CertResponse
	if err := postJSON(ctx, &http.Client{Transport: jtr}, base+"/agent/v1/join",
		api.JoinRequest{Protocol: api.ProtocolVersion, Token: jt.Token.String(), CSR: string(csr)}, &cr); err != nil {
		return nil, fmt.Errorf("join %s: %w", name, err)
	}
	tlsCfg, err := pki.ClientTLSConfig([]byte(cr.CA), []byte(cr.Cert), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", name, err)
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second}
	return &simAgent{name: name, base: base, client: &http.Client{Transport: tr}, tr: tr}, nil
}

// hello registers the node with plausible facts; it returns the heartbeat
// interval the server asks for.
func (a *simAgent) hello(ctx context.Context, i int) (time.Duration, error) {
	var hr api.HelloResponse
	if err := postJSON(ctx, a.client, a.base+"/agent/v1/hello", api.HelloRequest{Protocol: api.ProtocolVersion,
		Facts: simFacts(a.name, i), Labels: map[string]string{"zone": "zone-" + strconv.Itoa(i%3), "role": "web"},
		Resources: api.NodeResources{CPUs: 8, MemMB: 32 << 10, DiskMB: 400 << 10, PortFrom: 31000, PortTo: 32000},
	}, &hr); err != nil {
		return 0, fmt.Errorf("hello %s: %w", a.name, err)
	}
	return time.Duration(hr.HeartbeatInterval), nil
}

// simFacts are the facts of a typical cloud VM.
func simFacts(name string, i int) api.Facts {
	ip := fmt.Sprintf("10.%d.%d.%d", 1+i/65536, (i/256)%256, i%256)
	return api.Facts{
		Hostname: name, IPv4: []string{ip, "172.17.0.1"}, IPv6: []string{"fe80::1:" + strconv.FormatInt(int64(i), 16)},
		PrivateIP: ip, OS: "linux", Platform: "debian", PlatformVer: "12.11", Kernel: "6.1.0-37-cloud-amd64",
		Arch: "x86_64", CPUs: 8, MemoryBytes: 32 << 30, CorralVersion: "bench",
		Disks: []api.Disk{
			{Mount: "/", Device: "/dev/nvme0n1p1", FSType: "ext4", TotalBytes: 500 << 30, FreeBytes: 420 << 30},
			{Mount: "/boot/efi", Device: "/dev/nvme0n1p15", FSType: "vfat", TotalBytes: 124 << 20, FreeBytes: 112 << 20},
		},
	}
}

// postJSON POSTs in as JSON and decodes a 200 answer into out, as the agent
// does, with the agent's 30 s bound.
func postJSON(ctx context.Context, c *http.Client, url string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}

// fleet runs many simulated agents and counts what they see.
type fleet struct {
	hbOK, hbErr, hbNotReady atomic.Int64
	watchEnds               atomic.Int64
	watchLines              atomic.Int64
	watching                atomic.Int64

	mu        sync.Mutex
	recording bool
	hbLat     []time.Duration
	firstErr  error
}

func (f *fleet) noteErr(err error) {
	f.mu.Lock()
	if f.firstErr == nil {
		f.firstErr = err
	}
	f.mu.Unlock()
}

// record starts (or stops) keeping heartbeat latencies and returns the ones
// kept so far.
func (f *fleet) record(on bool) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.hbLat
	f.recording, f.hbLat = on, nil
	return out
}

// watch keeps the node's assignment stream open until ctx ends, resuming
// from the last revision after a disconnect, as the agent does; on, when
// not nil, sees every line.
func (a *simAgent) watch(ctx context.Context, f *fleet, on func(api.Assignment) error) {
	var rev int64
	for ctx.Err() == nil {
		err := a.watchOnce(ctx, f, &rev, on)
		if ctx.Err() != nil {
			return
		}
		f.watchEnds.Add(1)
		f.noteErr(fmt.Errorf("watch %s: %v", a.name, err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (a *simAgent) watchOnce(ctx context.Context, f *fleet, rev *int64, on func(api.Assignment) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/agent/v1/watch?rev="+strconv.FormatInt(*rev, 10), nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("watch: %s", resp.Status)
	}
	f.watching.Add(1)
	defer f.watching.Add(-1)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var as api.Assignment
		if err := json.Unmarshal(sc.Bytes(), &as); err != nil {
			return err
		}
		f.watchLines.Add(1)
		if as.Type == "reset" {
			*rev = 0
			return fmt.Errorf("watch reset: start over with a snapshot")
		}
		if on != nil {
			if err := on(as); err != nil {
				return err
			}
		}
		if as.Rev > *rev {
			*rev = as.Rev
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// heartbeats POSTs /agent/v1/heartbeat every interval at phase after epoch
// (mod interval) until ctx ends.
func (a *simAgent) heartbeats(ctx context.Context, f *fleet, epoch time.Time, phase, interval time.Duration) {
	next := epoch.Add(phase)
	if now := time.Now(); next.Before(now) {
		next = next.Add((now.Sub(next)/interval + 1) * interval)
	}
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		var hb api.HeartbeatResponse
		err := postJSON(ctx, a.client, a.base+"/agent/v1/heartbeat", api.HeartbeatRequest{
			Spool: api.SpoolStats{BudgetBytes: 256 << 20}}, &hb)
		lat := time.Since(start)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			f.hbErr.Add(1)
			f.noteErr(fmt.Errorf("heartbeat %s: %v", a.name, err))
		default:
			f.hbOK.Add(1)
			if hb.Status != api.NodeReady {
				f.hbNotReady.Add(1)
			}
		}
		f.mu.Lock()
		if f.recording {
			f.hbLat = append(f.hbLat, lat)
		}
		f.mu.Unlock()
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) { // fell behind: skip, as a ticker would
			next = next.Add((now.Sub(next)/interval + 1) * interval)
		}
		t.Reset(time.Until(next))
	}
}

// close drops the agent's connection.
func (a *simAgent) close() { a.tr.CloseIdleConnections() }
