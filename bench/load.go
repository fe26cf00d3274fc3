package bench

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult is what an open-loop run saw.
type LoadResult struct {
	Sent, OK, Errors int
	Wall             time.Duration // from the first scheduled request to the last answer
	Latency          Dist          // from each request's scheduled time to its last body byte
	Service          Dist          // from each request's actual send to its last body byte
	Bytes            int64         // body bytes of the answers that succeeded, as sent on the wire
	Encoding         string        // Content-Encoding of the answers
	FirstErr         error
	MaxLag           time.Duration // worst delay of a send behind its schedule
}

// pool is a fixed set of keep-alive connections to one server, each its own
// transport (and so its own TCP connection and TLS session), used in turn.
type pool struct {
	clients []*http.Client
	next    atomic.Uint64
}

// newPool returns n clients trusting caPEM. With gzip they send
// Accept-Encoding: gzip, as Go's transport and browsers do; the body is read
// as it comes, not inflated (the generator shares the server's two cores).
// Without, they ask for the identity encoding.
func newPool(n int, caPEM []byte) (*pool, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate")
	}
	p := &pool{}
	for range n {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
			DisableCompression: true}
		p.clients = append(p.clients, &http.Client{Transport: tr})
	}
	return p, nil
}

func (p *pool) get() *http.Client {
	return p.clients[int(p.next.Add(1)%uint64(len(p.clients)))]
}

func (p *pool) close() {
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}

// warm opens every connection of the pool with one request each and returns
// the body size of the last answer.
func (p *pool) warm(ctx context.Context, newReq func(context.Context) (*http.Request, error)) (int64, error) {
	var n int64
	for _, c := range p.clients {
		req, err := newReq(ctx)
		if err != nil {
			return 0, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		n, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("warm-up: %s", resp.Status)
		}
	}
	return n, nil
}

// openLoop sends rate requests a second for d, each at its scheduled time
// whether or not earlier ones were answered (no coordinated omission), and
// times each from its schedule to its last body byte. Every request has
// timeout to finish.
func openLoop(ctx context.Context, p *pool, rate int, d, timeout time.Duration,
	newReq func(context.Context) (*http.Request, error)) LoadResult {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	svc := make([]time.Duration, n)
	ok := make([]bool, n)
	var (
		wg       sync.WaitGroup
		bytes    atomic.Int64
		mu       sync.Mutex
		firstErr error
		encoding string
		maxLag   time.Duration
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	start := time.Now().Add(10 * time.Millisecond)
	sent := 0
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		maxLag = max(maxLag, time.Since(at))
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			req, err := newReq(rctx)
			if err != nil {
				fail(err)
				return
			}
			sent := time.Now()
			resp, err := p.get().Do(req)
			if err != nil {
				fail(err)
				return
			}
			defer resp.Body.Close()
			nb, err := io.Copy(io.Discard, resp.Body)
			lat[i], svc[i] = time.Since(at), time.Since(sent)
			if err != nil {
				fail(fmt.Errorf("read body: %w", err))
				return
			}
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("answer %s", resp.Status))
				return
			}
			ok[i] = true
			bytes.Add(nb)
			mu.Lock()
			if encoding == "" {
				encoding = cmp.Or(resp.Header.Get("Content-Encoding"), "identity")
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := LoadResult{Sent: sent, Wall: time.Since(start), Bytes: bytes.Load(), FirstErr: firstErr, MaxLag: maxLag,
		Encoding: encoding}
	var good, goodSvc []time.Duration
	for i := range sent {
		if ok[i] {
			good, goodSvc = append(good, lat[i]), append(goodSvc, svc[i])
		}
	}
	r.OK, r.Errors = len(good), sent-len(good)
	r.Latency, r.Service = distOf(good), distOf(goodSvc)
	return r
}

// closedLoop runs one request after another on each connection of p for d
// and reports what got through: the capacity of the server (and of this
// process, which shares the machine).
func closedLoop(ctx context.Context, p *pool, d, timeout time.Duration,
	newReq func(context.Context) (*http.Request, error)) LoadResult {
	var (
		mu  sync.Mutex
		r   LoadResult
		lat []time.Duration
		wg  sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for _, c := range p.clients {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				t := time.Now()
				rctx, cancel := context.WithTimeout(ctx, timeout)
				n, enc, err := fetch(rctx, c, newReq)
				cancel()
				took := time.Since(t)
				mu.Lock()
				r.Sent++
				if err != nil {
					r.Errors++
					if r.FirstErr == nil {
						r.FirstErr = err
					}
				} else {
					r.OK++
					r.Bytes += n
					r.Encoding = enc
					lat = append(lat, took)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.Wall = time.Since(start)
	r.Latency = distOf(lat)
	r.Service = r.Latency
	return r
}

// fetch does one request and reads its body.
func fetch(ctx context.Context, c *http.Client, newReq func(context.Context) (*http.Request, error)) (int64, string, error) {
	req, err := newReq(ctx)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return n, "", fmt.Errorf("answer %s", resp.Status)
	}
	return n, cmp.Or(resp.Header.Get("Content-Encoding"), "identity"), nil
}
