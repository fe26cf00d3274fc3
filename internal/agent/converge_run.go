package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"corral/internal/api"
	"corral/internal/converge"
)

// Where a converge keeps its lock and backups, under the root.
const (
	convergeLockFile  = "/var/lib/corral/converge.lock"
	convergeBackupDir = "/var/lib/corral/backup"
)

// converge runs the catalog's resources (those of req.Only when set) and
// returns the report; an error means the run could not start (the secrets
// could not be fetched, another process holds the converge lock).
func (c *converger) converge(ctx context.Context, req runRequest, cat *catalogState) (api.ConvergeReport, error) {
	if err := c.loadSecrets(ctx, cat.cat.Secrets); err != nil {
		return api.ConvergeReport{}, err
	}
	env := c.env(ctx, cat)
	env.DryRun = req.DryRun
	env.Only = req.Only
	return c.runner.Run(ctx, env, cat.resources)
}

// loadSecrets fetches the secret values when the catalog's Secrets differ
// from those the values were fetched for. The values stay in memory.
func (c *converger) loadSecrets(ctx context.Context, want map[string]int64) error {
	if len(want) == 0 {
		c.secretVers, c.secretVals = map[string]int64{}, nil
		return nil
	}
	if sameSecrets(c.secretVers, want) {
		return nil
	}
	if c.opt.Secrets == nil {
		return fmt.Errorf("fetch secrets: no secrets source")
	}
	names := slices.Sorted(maps.Keys(want))
	vals, err := c.opt.Secrets(ctx, names)
	if err != nil {
		return fmt.Errorf("fetch secrets %v: %w", names, err)
	}
	keep := make(map[string]string, len(names))
	for _, n := range names {
		if v, ok := vals[n]; ok {
			keep[n] = v
		}
	}
	c.secretVers, c.secretVals = maps.Clone(want), keep
	c.log.Info("fetched secrets", "names", names)
	return nil
}

// convergeFactsMaxAge is how long the facts collected for a run serve the
// next ones (collecting them takes a good part of a second; the agent
// reports them to the server as often).
const convergeFactsMaxAge = 5 * time.Minute

// facts returns the node's facts, collected at most every
// convergeFactsMaxAge.
func (c *converger) facts(ctx context.Context) api.Facts {
	if c.opt.Facts == nil {
		return api.Facts{}
	}
	now := c.opt.Now()
	if c.factsAt.IsZero() || now.Sub(c.factsAt) >= convergeFactsMaxAge || now.Before(c.factsAt) {
		c.cachedFacts, c.factsAt = c.opt.Facts(ctx), now
	}
	return c.cachedFacts
}

// env is the converge Env of a run of cat.
func (c *converger) env(ctx context.Context, cat *catalogState) converge.Env {
	f := c.facts(ctx)
	nodes := make([]converge.NodeInfo, len(cat.nodes))
	me := converge.NodeInfo{Name: c.opt.Node, Hostname: f.Hostname, PrivateIP: f.PrivateIP, Labels: c.opt.Labels}
	for i, n := range cat.nodes {
		nodes[i] = converge.NodeInfo{Name: n.Name, Hostname: n.Hostname, PrivateIP: n.PrivateIP, Aliases: n.Aliases, Labels: n.Labels}
		if n.Name == c.opt.Node {
			me = nodes[i]
		}
	}
	sources := make(map[string][]byte, len(cat.cat.Files))
	for name, body := range cat.cat.Files {
		sources[name] = []byte(body)
	}
	vals := c.secretVals
	redact := make([]string, 0, len(vals))
	for _, v := range vals {
		redact = append(redact, v)
	}
	return converge.Env{
		Root:       c.opt.Root,
		Node:       me,
		Facts:      f,
		Attributes: cat.cat.Attributes,
		Secret: func(name string) (string, error) {
			v, ok := vals[name]
			if !ok {
				return "", fmt.Errorf("not among the secrets the server sent this node")
			}
			return v, nil
		},
		Redact:     redact,
		Nodes:      converge.NodesFrom(nodes),
		Sources:    sources,
		Exec:       c.opt.Exec,
		CorralPath: c.opt.CorralPath,
		BackupDir:  convergeBackupDir,
		LockFile:   convergeLockFile,
		NoSync:     c.opt.NoSync,
		Logger:     c.opt.Logger,
		Now:        c.opt.Now,
	}
}
