package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"corral/internal/agent"
	"corral/internal/server"
)

// devDefaults returns the configs of `corral dev`: everything on loopback,
// the API in plain HTTP.
func devDefaults() (server.Config, agent.Config) {
	s := server.Defaults()
	s.HTTPAddr = "127.0.0.1:7700"
	s.AgentAddr = "127.0.0.1:7701"
	s.CarbonAddr = "127.0.0.1:2003"
	s.PickleAddr = "127.0.0.1:2004"
	s.EtcdClientAddr = "127.0.0.1:2379"
	s.EtcdPeerAddr = "127.0.0.1:2380"
	s.PlainHTTP = true

	g := agent.Defaults()
	if h, err := os.Hostname(); err == nil {
		g.Name = h
	}
	g.StatsdAddr = "127.0.0.1:8125"
	g.SyslogAddr = "127.0.0.1:5514"
	g.JSONLogsAddr = "127.0.0.1:5545"
	g.BeatsAddr = "127.0.0.1:5044"
	g.DNSAddr = "127.0.0.1:8600"
	return s, g
}

func (a *app) devCmd() *cobra.Command {
	scfg, acfg := devDefaults()
	dataDir := "./corral-data"
	var af agentFlags
	var po processOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a server and an agent in one process, for trying Corral on this machine",
		Long: `Run a Corral server and one agent in one process, everything on loopback and
the API in plain HTTP. The server keeps its state in --data-dir, the agent in
<data-dir>/agent; run it again to carry on where you stopped.

It prints the API address and the admin token, and writes dev.yaml in the
CLI's config directory so that the other commands (corral node ls, ...) reach
it without flags. Ctrl-C stops both.

dev takes the server's and the agent's flags (but not --server and
--join-token: it joins its agent itself).
` + processEnvHelp,
		Example: `  corral dev
  corral dev --data-dir /tmp/corral --http-addr 127.0.0.1:8800 --label role=laptop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := loadFlagConfig(cmd.LocalFlags(), a.getenv); err != nil {
				return err
			}
			if err := af.apply(&acfg); err != nil {
				return err
			}
			logger, err := po.logger(a.stderr)
			if err != nil {
				return err
			}
			scfg.Logger, acfg.Logger = logger, logger
			scfg.Version, acfg.Version = versionString(), versionString()
			if scfg.TLSCert != "" {
				scfg.PlainHTTP = false // dev serves HTTPS when given a certificate
			}
			scfg.DataDir = dataDir
			acfg.DataDir = filepath.Join(dataDir, "agent")
			return a.runDev(cmd.Context(), scfg, acfg)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data-dir", dataDir, "directory of the state: the server's in it, the agent's in <data-dir>/agent")
	addServerFlags(fs, &scfg, false)
	addAgentFlags(fs, &acfg, &af, false)
	po.addFlags(fs)
	return cmd
}

// runDev runs a server and an agent joined to it until ctx ends or either
// fails.
func (a *app) runDev(ctx context.Context, scfg server.Config, acfg agent.Config) error {
	if err := os.MkdirAll(acfg.DataDir, 0o700); err != nil {
		return err
	}
	srv, err := server.New(scfg)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return stopped(gctx, "server", srv.Run(gctx))
	})
	stop := func(err error) error {
		if werr := g.Wait(); werr != nil {
			return werr
		}
		return err
	}
	select {
	case <-srv.Ready():
	case <-gctx.Done():
		// The server failed (g.Wait has its error) or we were interrupted.
		return stop(nil)
	}

	// The agent needs a join token until it has its certificate.
	if _, err := os.Stat(filepath.Join(acfg.DataDir, "agent.crt")); errors.Is(err, fs.ErrNotExist) {
		tok, err := srv.JoinToken(gctx, "dev-agent", 10*time.Minute)
		if err != nil {
			return stop(fmt.Errorf("create the agent's join token: %w", err))
		}
		acfg.JoinToken = tok
	}
	addrs := srv.Addrs()
	acfg.Servers = []string{addrs.Agent}
	ag, err := agent.New(acfg)
	if err != nil {
		return stop(fmt.Errorf("agent: %w", err))
	}
	g.Go(func() error {
		return stopped(gctx, "agent", ag.Run(gctx))
	})

	if err := a.announceDev(scfg, addrs); err != nil {
		fmt.Fprintf(a.stderr, "Warning: %v\n", err)
	}
	return g.Wait()
}

// stopped is the error of a half of dev whose Run returned err: none when
// ctx ended, and one when it stopped by itself, so that the other half stops
// too.
func stopped(ctx context.Context, what string, err error) error {
	if err = quiet(ctx, err); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if ctx.Err() == nil {
		return fmt.Errorf("%s stopped by itself", what)
	}
	return nil
}

// announceDev writes dev.yaml for the CLI and tells the user where things are.
func (a *app) announceDev(scfg server.Config, addrs server.Addrs) error {
	scheme := addrs.HTTPScheme
	if scheme == "" {
		scheme = "http"
	}
	apiURL := scheme + "://" + dialable(addrs.HTTP)
	tokenFile := scfg.AdminTokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(scfg.DataDir, "admin.token")
	}
	b, tokErr := os.ReadFile(tokenFile)
	token := strings.TrimSpace(string(b))
	if tokErr != nil {
		token = "(unknown)"
	}
	devPath := "(not written: set HOME or XDG_CONFIG_HOME)"
	var werr error
	if dir := a.configDir(); dir != "" {
		p := filepath.Join(dir, devFile)
		werr = writeTarget(p, target{Addr: apiURL, Token: strings.TrimSpace(string(b))})
		devPath = a.tildePath(p)
	}
	fmt.Fprintf(a.stdout, "Corral dev is running\n"+
		"  API: %s/\n"+
		"  admin token: %s (in %s)\n"+
		"  CLI: corral node ls (configured via %s)\n"+
		"Press Ctrl-C to stop.\n", apiURL, token, tokenFile, devPath)
	if tokErr != nil {
		return fmt.Errorf("read the admin token: %w", tokErr)
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", devPath, werr)
	}
	return nil
}

// dialable turns a listening address into one a client can dial: a wildcard
// host becomes loopback.
func dialable(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
