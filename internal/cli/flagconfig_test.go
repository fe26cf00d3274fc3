package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"corral/internal/agent"
	"corral/internal/server"
)

// testFlags is a FlagSet like the ones of server and agent.
type testFlags struct {
	fs       *pflag.FlagSet
	httpAddr string
	lease    time.Duration
	servers  []string
	labels   []string
	cpus     float64
	level    string
}

func newTestFlags() *testFlags {
	f := &testFlags{fs: pflag.NewFlagSet("test", pflag.ContinueOnError)}
	f.fs.String(configFlag, "", "")
	f.fs.StringVar(&f.httpAddr, "http-addr", ":7700", "")
	durationVar(f.fs, &f.lease, "lease-ttl", "")
	f.lease = 15 * time.Second
	f.fs.StringSliceVar(&f.servers, "server", []string{"127.0.0.1:7701"}, "")
	f.fs.StringArrayVar(&f.labels, "label", nil, "")
	f.fs.Float64Var(&f.cpus, "cpus", 0, "")
	f.fs.StringVar(&f.level, "log-level", "info", "")
	return f
}

func TestLoadFlagConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "corral.yaml")
	if err := os.WriteFile(file, []byte(`
http-addr: ":8800"
lease-ttl: 1m
server: [a:7701, b:7701]
label: [role=web, "note=a,b"]
cpus: 2.5
`), 0o600); err != nil {
		t.Fatal(err)
	}
	type want struct {
		httpAddr string
		lease    time.Duration
		servers  []string
		labels   []string
		cpus     float64
		level    string
	}
	defaults := want{":7700", 15 * time.Second, []string{"127.0.0.1:7701"}, nil, 0, "info"}
	fromFile := want{":8800", time.Minute, []string{"a:7701", "b:7701"}, []string{"role=web", "note=a,b"}, 2.5, "info"}

	tests := []struct {
		name string
		args []string
		vars map[string]string
		want want
	}{
		{name: "defaults", want: defaults},
		{name: "file over defaults", args: []string{"--config", file}, want: fromFile},
		{name: "config file from the environment", vars: map[string]string{"CORRAL_CONFIG": file}, want: fromFile},
		{
			name: "environment over file",
			args: []string{"--config", file},
			vars: map[string]string{"CORRAL_HTTP_ADDR": ":9900", "CORRAL_LABEL": "zone=a, role=db", "CORRAL_SERVER": "c:1", "CORRAL_LEASE_TTL": "1d", "CORRAL_LOG_LEVEL": "debug"},
			want: want{":9900", 24 * time.Hour, []string{"c:1"}, []string{"zone=a", "role=db"}, 2.5, "debug"},
		},
		{
			name: "flags over environment",
			args: []string{"--config", file, "--http-addr", ":1", "--label", "x=1", "--label", "y=2", "--server", "d:1,e:1"},
			vars: map[string]string{"CORRAL_HTTP_ADDR": ":9900", "CORRAL_LABEL": "zone=a"},
			want: want{":1", time.Minute, []string{"d:1", "e:1"}, []string{"x=1", "y=2"}, 2.5, "info"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFlags()
			if err := f.fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := loadFlagConfig(f.fs, func(k string) string { return tt.vars[k] }); err != nil {
				t.Fatal(err)
			}
			got := want{f.httpAddr, f.lease, f.servers, f.labels, f.cpus, f.level}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadFlagConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		file    string
		vars    map[string]string
		wantErr string
	}{
		{name: "unknown key", file: "http-addr: x\nhttp_addr: y\n", wantErr: `unknown key "http_addr"`},
		{name: "config in the file", file: "config: other.yaml\n", wantErr: `unknown key "config"`},
		{name: "list for a single value", file: "http-addr: [a, b]\n", wantErr: "http-addr: want a single value, not a list"},
		{name: "mapping", file: "http-addr: {a: b}\n", wantErr: "http-addr: want a string, number or boolean"},
		{name: "bad value in the file", file: "lease-ttl: soon\n", wantErr: `lease-ttl: invalid duration "soon"`},
		{name: "bad value in the environment", file: "", vars: map[string]string{"CORRAL_CPUS": "many"}, wantErr: "CORRAL_CPUS:"},
		{name: "not YAML", file: "http-addr: [\n", wantErr: "yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			f := newTestFlags()
			if err := f.fs.Parse([]string{"--config", file}); err != nil {
				t.Fatal(err)
			}
			err := loadFlagConfig(f.fs, func(k string) string { return tt.vars[k] })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.file != "" && !strings.Contains(err.Error(), file) {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
	f := newTestFlags()
	f.fs.Parse([]string{"--config", filepath.Join(dir, "missing.yaml")})
	if err := loadFlagConfig(f.fs, func(string) string { return "" }); err == nil {
		t.Error("a missing config file is not an error")
	}
}

// TestProcessFlags checks that the real server and agent flags land in their
// Configs through the file, the environment and the command line.
func TestProcessFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(file, []byte("label: [role=web, zone=a]\nport-range: 20000-20100\nmem-mb: 2048\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scfg, acfg := devDefaults()
	var af agentFlags
	var po processOptions
	fs := pflag.NewFlagSet("dev", pflag.ContinueOnError)
	addServerFlags(fs, &scfg, false)
	addAgentFlags(fs, &acfg, &af, false)
	po.addFlags(fs)
	if err := fs.Parse([]string{"--config", file, "--advertise", "a.example.com", "--advertise", "b.example.com", "--agent-cert-ttl", "7d"}); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"CORRAL_HTTP_ADDR": "127.0.0.1:0", "CORRAL_ETCD_ENDPOINTS": "http://e1:2379,http://e2:2379"}
	if err := loadFlagConfig(fs, func(k string) string { return vars[k] }); err != nil {
		t.Fatal(err)
	}
	if err := af.apply(&acfg); err != nil {
		t.Fatal(err)
	}
	wantS := func(got, want any, what string) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	wantS(scfg.HTTPAddr, "127.0.0.1:0", "HTTPAddr")
	wantS(scfg.AgentAddr, "127.0.0.1:7701", "AgentAddr")
	wantS(scfg.PlainHTTP, true, "PlainHTTP")
	wantS(scfg.EtcdEndpoints, []string{"http://e1:2379", "http://e2:2379"}, "EtcdEndpoints")
	wantS(scfg.AdvertiseHosts, []string{"a.example.com", "b.example.com"}, "AdvertiseHosts")
	wantS(scfg.AgentCertTTL, 7*24*time.Hour, "AgentCertTTL")
	wantS(scfg.LeaseTTL, server.Defaults().LeaseTTL, "LeaseTTL")
	wantS(acfg.Labels, map[string]string{"role": "web", "zone": "a"}, "Labels")
	wantS([2]int{acfg.PortFrom, acfg.PortTo}, [2]int{20000, 20100}, "port range")
	wantS(acfg.MemMB, int64(2048), "MemMB")
	wantS(acfg.SpoolBytes, agent.Defaults().SpoolBytes, "SpoolBytes")
	wantS(acfg.DNSAddr, "127.0.0.1:8600", "DNSAddr")

	for _, bad := range []string{"32000-31000", "x-y", "31000", "0-10"} {
		af := agentFlags{portRange: bad}
		if err := af.apply(&acfg); err == nil {
			t.Errorf("port range %q accepted", bad)
		}
	}
	if err := (&agentFlags{labels: []string{"role-"}, portRange: "1-2"}).apply(&acfg); err == nil {
		t.Error("--label role- accepted")
	}
}

func TestLogger(t *testing.T) {
	var b strings.Builder
	po := processOptions{logFormat: "json", logLevel: "warn"}
	l, err := po.logger(&b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	if !strings.HasPrefix(b.String(), "{") || strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"k":1`) {
		t.Errorf("log output %q", b.String())
	}
	for _, po := range []processOptions{{logFormat: "xml", logLevel: "info"}, {logFormat: "text", logLevel: "loud"}} {
		if _, err := po.logger(&b); err == nil {
			t.Errorf("%+v accepted", po)
		}
	}
}
