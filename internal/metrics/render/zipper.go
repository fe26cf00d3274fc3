package render

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ansel1/merry"
	"github.com/go-graphite/carbonapi/expr/tags"
	"github.com/go-graphite/carbonapi/expr/types"
	zipper "github.com/go-graphite/carbonapi/zipper/interfaces"
	ztypes "github.com/go-graphite/carbonapi/zipper/types"
	pb "github.com/go-graphite/protocol/carbonapi_v3_pb"

	"corral/internal/metrics/index"
	"corral/internal/metrics/whisper"
)

// store is carbonapi's CarbonZipper over Corral's name index, tag index and
// Fetcher: it resolves a path expression (a glob or a seriesByTag(...) call)
// to series names and fetches each of them.
type store struct {
	index       *index.Index
	tags        *index.Tags
	fetcher     Fetcher
	concurrency int
	maxPoints   int64 // per request, 0: unlimited
}

var (
	_ zipper.CarbonZipper = (*store)(nil)
	_ Fetcher             = (*whisper.Cache)(nil)
	_ Fetcher             = (*whisper.Store)(nil)
)

// errTooManyPoints is returned (as a 400) when a request would fetch more
// than Options.MaxPoints points.
var errTooManyPoints = errors.New("too many points")

// resolve expands one path expression to sorted series names. Unknown
// series and bad globs yield no names, as graphite-web's find does.
func (s *store) resolve(expr string) ([]string, error) {
	if strings.HasPrefix(expr, "seriesByTag(") {
		if s.tags == nil {
			return nil, nil
		}
		args, err := seriesByTagArgs(expr)
		if err != nil {
			return nil, merry.WithHTTPCode(err, http.StatusBadRequest)
		}
		names, err := s.tags.FindSeries(args)
		if err != nil {
			return nil, merry.WithHTTPCode(fmt.Errorf("seriesByTag: %w", err), http.StatusBadRequest)
		}
		return names, nil
	}
	if index.IsTagged(expr) {
		// A literal tagged name, as aliasByTags and Grafana's tag
		// queries produce.
		canon, err := index.NormalizeTagged(expr)
		if err != nil || s.tags == nil {
			return nil, nil
		}
		if _, ok := s.tags.Lookup(canon); !ok {
			return nil, nil
		}
		return []string{canon}, nil
	}
	if s.index == nil {
		return nil, nil
	}
	names, err := s.index.Expand(expr, true)
	if err != nil {
		return nil, nil // graphite-web: a bad glob matches nothing
	}
	return names, nil
}

// seriesByTagArgs returns the quoted string arguments of a
// seriesByTag('a=b', "c!=d") call (carbonapi's parser keeps the whole call
// as a metric name).
func seriesByTagArgs(expr string) ([]string, error) {
	body, ok := strings.CutPrefix(strings.TrimSpace(expr), "seriesByTag(")
	if body, ok = strings.CutSuffix(body, ")"); !ok {
		return nil, fmt.Errorf("seriesByTag: cannot parse %q", expr)
	}
	var out []string
	for {
		body = strings.TrimLeft(body, " ")
		if body == "" {
			return out, nil
		}
		q := body[0]
		if q != '\'' && q != '"' {
			return nil, fmt.Errorf("seriesByTag: arguments must be quoted strings: %q", expr)
		}
		end := strings.IndexByte(body[1:], q)
		if end < 0 {
			return nil, fmt.Errorf("seriesByTag: missing quote in %q", expr)
		}
		out = append(out, body[1:1+end])
		body = strings.TrimLeft(body[2+end:], " ")
		if body == "" {
			return out, nil
		}
		if body[0] != ',' {
			return nil, fmt.Errorf("seriesByTag: expected ',' in %q", expr)
		}
		body = body[1:]
	}
}

// Find implements the zipper's glob lookup.
func (s *store) Find(_ context.Context, req pb.MultiGlobRequest) (*pb.MultiGlobResponse, *ztypes.Stats, merry.Error) {
	resp := &pb.MultiGlobResponse{}
	for _, q := range req.Metrics {
		g := pb.GlobResponse{Name: q}
		if strings.HasPrefix(q, "seriesByTag(") || s.index == nil {
			names, err := s.resolve(q)
			if err != nil {
				return nil, nil, merry.Wrap(err)
			}
			for _, n := range names {
				g.Matches = append(g.Matches, pb.GlobMatch{Path: n, IsLeaf: true})
			}
		} else if nodes, err := s.index.Find(q); err == nil {
			for _, n := range nodes {
				g.Matches = append(g.Matches, pb.GlobMatch{Path: n.Path, IsLeaf: n.Leaf})
			}
		}
		resp.Metrics = append(resp.Metrics, g)
	}
	return resp, nil, nil
}

// Info is not supported: Corral has one local store.
func (s *store) Info(context.Context, []string) (*pb.ZipperInfoResponse, *ztypes.Stats, merry.Error) {
	return &pb.ZipperInfoResponse{}, nil, nil
}

// RenderCompat fetches plain path expressions.
func (s *store) RenderCompat(ctx context.Context, metrics []string, from, until int64) ([]*types.MetricData, *ztypes.Stats, merry.Error) {
	req := pb.MultiFetchRequest{}
	for _, m := range metrics {
		req.Metrics = append(req.Metrics, pb.FetchRequest{Name: m, PathExpression: m, StartTime: from, StopTime: until})
	}
	return s.Render(ctx, req)
}

// fetchJob is one series to fetch for one request.
type fetchJob struct {
	req  *pb.FetchRequest
	name string
	out  *types.MetricData
}

// Render resolves and fetches every requested path expression. Series that
// do not exist are left out; other fetch errors fail the request.
func (s *store) Render(ctx context.Context, req pb.MultiFetchRequest) ([]*types.MetricData, *ztypes.Stats, merry.Error) {
	var jobs []fetchJob
	for i := range req.Metrics {
		r := &req.Metrics[i]
		names, err := s.resolve(r.PathExpression)
		if err != nil {
			return nil, nil, merry.Wrap(err)
		}
		for _, n := range names {
			jobs = append(jobs, fetchJob{req: r, name: n})
		}
	}
	if len(jobs) == 0 {
		return nil, nil, nil
	}
	var (
		points   atomic.Int64
		firstErr error
		errOnce  sync.Once
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	workers := min(s.concurrency, len(jobs))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) || ctx.Err() != nil {
					return
				}
				j := &jobs[i]
				md, err := s.fetchOne(j.req, j.name)
				if err == nil && md != nil && s.maxPoints > 0 && points.Add(int64(len(md.Values))) > s.maxPoints {
					err = merry.WithHTTPCode(fmt.Errorf("%w: the targets select more than %d points; narrow them or the time range", errTooManyPoints, s.maxPoints), http.StatusBadRequest)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					next.Store(int64(len(jobs))) // stop the other workers
					return
				}
				j.out = md
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, nil, merry.Wrap(firstErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, merry.Wrap(err)
	}
	out := make([]*types.MetricData, 0, len(jobs))
	for _, j := range jobs {
		if j.out != nil {
			out = append(out, j.out)
		}
	}
	return out, nil, nil
}

// fetchError is a storage failure while reading a series.
type fetchError struct {
	name string
	err  error
}

func (e *fetchError) Error() string { return "fetch " + e.name + ": " + e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// fetchOne reads one series; a missing series is (nil, nil).
func (s *store) fetchOne(r *pb.FetchRequest, name string) (*types.MetricData, error) {
	ser, err := s.fetcher.Fetch(name, r.StartTime, r.StopTime)
	if errors.Is(err, whisper.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, &fetchError{name, err}
	}
	if ser.Step <= 0 {
		return nil, nil // outside the retention: no series, as graphite-web
	}
	step := ser.Step
	return &types.MetricData{
		FetchResponse: pb.FetchResponse{
			Name:              name,
			PathExpression:    r.PathExpression,
			ConsolidationFunc: "average",
			StartTime:         ser.Start,
			StopTime:          ser.Start + int64(len(ser.Values))*step,
			StepTime:          step,
			Values:            ser.Values,
			RequestStartTime:  r.StartTime,
			RequestStopTime:   r.StopTime,
		},
		Tags: tags.ExtractTags(name),
	}, nil
}

// TagNames answers carbonapi's tag name autocompletion; query is a URL
// query string with expr, tagPrefix and limit.
func (s *store) TagNames(_ context.Context, query string, limit int64) ([]string, merry.Error) {
	if s.tags == nil {
		return nil, nil
	}
	q, _ := url.ParseQuery(query)
	out, err := s.tags.AutoCompleteTags(q["expr"], q.Get("tagPrefix"), int(limit))
	if err != nil {
		return nil, merry.WithHTTPCode(err, http.StatusBadRequest)
	}
	return out, nil
}

// TagValues answers carbonapi's tag value autocompletion.
func (s *store) TagValues(_ context.Context, query string, limit int64) ([]string, merry.Error) {
	if s.tags == nil {
		return nil, nil
	}
	q, _ := url.ParseQuery(query)
	out, err := s.tags.AutoCompleteValues(q["expr"], q.Get("tag"), q.Get("valuePrefix"), int(limit))
	if err != nil {
		return nil, merry.WithHTTPCode(err, http.StatusBadRequest)
	}
	return out, nil
}

// ScaleToCommonStep is false: like graphite-web, functions that combine
// series normalise steps themselves.
func (s *store) ScaleToCommonStep() bool { return false }

// itoa is strconv.FormatInt for int64.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
