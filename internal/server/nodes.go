package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/store"
)

// nodeList serves GET /api/v1/nodes from memory: the JSON (and its gzip) is
// built once per change of the node or liveness mirrors, not per request.
type nodeList struct {
	nodes, alive *store.Mirror

	mu         sync.Mutex
	gen        [2]uint64
	body, gzip []byte
	etag       string
}

func newNodeList(nodes, alive *store.Mirror) *nodeList {
	return &nodeList{nodes: nodes, alive: alive}
}

// currentNodes returns every node, sorted by name.
func currentNodes(nodes, alive *store.Mirror) ([]api.Node, [2]uint64) {
	vals, ng := nodes.Values()
	live, ag := alive.Snapshot()
	out := make([]api.Node, 0, len(vals))
	for _, v := range vals {
		n := v.(store.NodeRecord)
		_, ok := live[n.Name]
		out = append(out, n.API(ok))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, [2]uint64{ng, ag}
}

func (l *nodeList) encoded() (body, gz []byte, etag string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ng, _ := l.nodes.Gen()
	ag, _ := l.alive.Gen()
	if l.body != nil && l.gen == [2]uint64{ng, ag} {
		return l.body, l.gzip, l.etag, nil
	}
	nodes, gen := currentNodes(l.nodes, l.alive)
	b, err := json.Marshal(nodes)
	if err != nil {
		return nil, nil, "", err
	}
	b = append(b, '\n')
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	l.body, l.gzip, l.gen = b, buf.Bytes(), gen
	l.etag = `"n` + strconv.FormatUint(gen[0], 10) + "-" + strconv.FormatUint(gen[1], 10) + `"`
	return l.body, l.gzip, l.etag, nil
}

func (s *Server) handleListNodes(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	body, gz, etag, err := s.nodeLst.encoded()
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", etag)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = gz
	}
	_, err = w.Write(body)
	return err
}

func (s *Server) nodeAPI(rec store.NodeRecord) api.Node {
	_, alive := s.alive.Get(rec.Name)
	n := rec.API(alive)
	if v, ok := s.seen.Load(rec.Name); ok {
		at := v.(agentSeen).at
		n.LastSeen = &at
	}
	return n
}

// agentSeen is what this server last heard from an agent.
type agentSeen struct {
	at    time.Time
	spool api.SpoolStats
}

// spoolCollector exports the report spools of the agents heartbeating to
// this server: the sum over all of them (node=""), and each node whose spool
// holds unacknowledged reports or has dropped some.
type spoolCollector struct{ seen *sync.Map }

var (
	spoolBytesDesc   = prometheus.NewDesc("corral_agent_spool_bytes", "Bytes of unacknowledged reports in an agent's spool.", []string{"node"}, nil)
	spoolBudgetDesc  = prometheus.NewDesc("corral_agent_spool_budget_bytes", "The disk budget of an agent's spool.", []string{"node"}, nil)
	spoolRecordsDesc = prometheus.NewDesc("corral_agent_spool_records", "Unacknowledged reports in an agent's spool.", []string{"node"}, nil)
	spoolDroppedDesc = prometheus.NewDesc("corral_agent_spool_dropped_total", "Reports an agent dropped because its spool budget was full.", []string{"node"}, nil)
)

func (c *spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- spoolBytesDesc
	ch <- spoolBudgetDesc
	ch <- spoolRecordsDesc
	ch <- spoolDroppedDesc
}

func (c *spoolCollector) Collect(ch chan<- prometheus.Metric) {
	var total api.SpoolStats
	c.seen.Range(func(k, v any) bool {
		node, sp := k.(string), v.(agentSeen).spool
		total.Records += sp.Records
		total.Bytes += sp.Bytes
		total.BudgetBytes += sp.BudgetBytes
		total.Dropped += sp.Dropped
		if sp.Records == 0 && sp.Dropped == 0 {
			return true // a series per node only where there is something to see
		}
		ch <- prometheus.MustNewConstMetric(spoolBytesDesc, prometheus.GaugeValue, float64(sp.Bytes), node)
		ch <- prometheus.MustNewConstMetric(spoolBudgetDesc, prometheus.GaugeValue, float64(sp.BudgetBytes), node)
		ch <- prometheus.MustNewConstMetric(spoolRecordsDesc, prometheus.GaugeValue, float64(sp.Records), node)
		ch <- prometheus.MustNewConstMetric(spoolDroppedDesc, prometheus.CounterValue, float64(sp.Dropped), node)
		return true
	})
	ch <- prometheus.MustNewConstMetric(spoolBytesDesc, prometheus.GaugeValue, float64(total.Bytes), "")
	ch <- prometheus.MustNewConstMetric(spoolBudgetDesc, prometheus.GaugeValue, float64(total.BudgetBytes), "")
	ch <- prometheus.MustNewConstMetric(spoolRecordsDesc, prometheus.GaugeValue, float64(total.Records), "")
	ch <- prometheus.MustNewConstMetric(spoolDroppedDesc, prometheus.CounterValue, float64(total.Dropped), "")
}

func (s *Server) handleGetNode(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	name := r.PathValue("name")
	v, ok := s.nodes.Value(name)
	if !ok {
		// The mirror may lag a just-joined node by a moment: ask etcd.
		rec, err := s.store.GetNode(r.Context(), name)
		if errors.Is(err, store.ErrNotFound) {
			return api.NotFound("node", name)
		} else if err != nil {
			return err
		}
		v = rec
	}
	return httpapi.JSON(w, http.StatusOK, s.nodeAPI(v.(store.NodeRecord)))
}

func (s *Server) handleLabelNode(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	name := r.PathValue("name")
	var req api.LabelRequest
	if err := httpapi.Decode(r, &req); err != nil {
		return err
	}
	var fe api.FieldErrors
	for k, v := range req.Set {
		if _, _, _, err := api.ParseLabel(k + "=" + v); err != nil {
			fe.Add("set."+k, "%v", err)
		}
	}
	for _, k := range req.Remove {
		if _, _, _, err := api.ParseLabel(k + "="); err != nil {
			fe.Add("remove", "%v", err)
		}
	}
	if err := fe.Err("invalid labels"); err != nil {
		return err
	}
	rec, err := s.store.UpdateNode(r.Context(), name, func(n *store.NodeRecord) error {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		for _, k := range req.Remove {
			delete(n.Labels, k)
			if _, agentHas := n.AgentLabels[k]; agentHas && !slices.Contains(n.Removed, k) {
				n.Removed = append(n.Removed, k)
			}
		}
		for k, v := range req.Set {
			n.Labels[k] = v
			n.Removed = slices.DeleteFunc(n.Removed, func(v string) bool { return v == k })
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return api.NotFound("node", name)
	} else if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusOK, s.nodeAPI(rec))
}

func (s *Server) handleDrainNode(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	name := r.PathValue("name")
	var req api.DrainRequest
	if err := httpapi.Decode(r, &req); err != nil {
		return err
	}
	rec, err := s.store.UpdateNode(r.Context(), name, func(n *store.NodeRecord) error {
		n.Drain = req.Drain
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return api.NotFound("node", name)
	} else if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusOK, s.nodeAPI(rec))
}

func (s *Server) handleRemoveNode(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	name := r.PathValue("name")
	if _, alive := s.alive.Get(name); alive {
		return api.Conflict("node %q is alive: stop its agent first", name)
	}
	if err := s.store.DeleteNode(r.Context(), name); errors.Is(err, store.ErrNotFound) {
		return api.NotFound("node", name)
	} else if err != nil {
		return err
	}
	s.seen.Delete(name)
	s.leases.Delete(name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nodeCollector exports the number of nodes by status.
type nodeCollector struct {
	nodes, alive *store.Mirror
	desc         *prometheus.Desc
}

func newNodeCollector(nodes, alive *store.Mirror) *nodeCollector {
	return &nodeCollector{nodes: nodes, alive: alive,
		desc: prometheus.NewDesc("corral_nodes", "Nodes by status.", []string{"status"}, nil)}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	vals, _ := c.nodes.Values()
	live, _ := c.alive.Snapshot()
	counts := map[string]int{api.NodeReady: 0, api.NodeDraining: 0, api.NodeDown: 0}
	for name, v := range vals {
		_, alive := live[name]
		switch {
		case !alive:
			counts[api.NodeDown]++
		case v.(store.NodeRecord).Drain:
			counts[api.NodeDraining]++
		default:
			counts[api.NodeReady]++
		}
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), st)
	}
}
