package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"corral/internal/api"
)

// maxResponse is the most of a response body read; a _bulk answer for
// 50,000 documents is well below it.
const maxResponse = 64 << 20

// httpOutput posts bodies to one URL with the spec's headers, basic auth
// and compression.
type httpOutput struct {
	url         string
	contentType string
	client      *http.Client
	headers     map[string]string
	user, pass  string
	gzip        bool
	zbuf        bytes.Buffer
	zw          *gzip.Writer
}

// newHTTPOutput makes the poster of an elasticsearch or loki output. path
// is appended to the URL's path unless it already ends with it.
func newHTTPOutput(spec api.LogOutputSpec, o Options, path, contentType string) (*httpOutput, error) {
	u, err := url.Parse(spec.URL)
	if err != nil {
		return nil, fmt.Errorf("log output %s: url: %w", spec.Name, err)
	}
	if !strings.HasSuffix(u.Path, path) {
		u.Path = strings.TrimRight(u.Path, "/") + path
		u.RawPath = ""
	}
	client := o.HTTPClient
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if spec.TLSSkipVerify {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the spec asks for it
		}
		client = &http.Client{Transport: t, Timeout: o.Timeout}
	}
	return &httpOutput{url: u.String(), contentType: contentType, client: client, headers: spec.Headers,
		user: spec.Username, pass: spec.Password, gzip: spec.Gzip}, nil
}

// post sends body. It returns the response body of a 2xx answer; a
// non-empty rejectAll when the output refused the whole request for good
// (400, 413, 415, 422: sending it again cannot help); or an error for
// anything worth retrying (no connection, 429, 5xx, and also 401, 403 and
// 404, which an operator can fix while the spool keeps the entries).
func (h *httpOutput) post(ctx context.Context, body []byte) (resp []byte, rejectAll string, err error) {
	if h.gzip {
		h.zbuf.Reset()
		if h.zw == nil {
			h.zw = gzip.NewWriter(&h.zbuf)
		} else {
			h.zw.Reset(&h.zbuf)
		}
		h.zw.Write(body) // writes to a bytes.Buffer do not fail
		if err := h.zw.Close(); err != nil {
			return nil, "", fmt.Errorf("gzip: %w", err)
		}
		body = h.zbuf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", h.contentType)
	if h.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	if h.user != "" {
		req.SetBasicAuth(h.user, h.pass)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, "", fmt.Errorf("read response: %w", err)
	}
	switch st := res.StatusCode; {
	case st >= 200 && st < 300:
		return b, "", nil
	case st == 400 || st == 413 || st == 415 || st == 422:
		return nil, fmt.Sprintf("%s: %s", res.Status, snippet(b)), nil
	default:
		return nil, "", fmt.Errorf("%s: %s", res.Status, snippet(b))
	}
}

// snippet returns the start of a response body for an error message.
func snippet(b []byte) string {
	const n = 300
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
		return strings.TrimSpace(string(b)) + "..."
	}
	return strings.TrimSpace(string(b))
}
