package converge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// downloadSpec is `download: {url, path, sha256, mode, owner, group}`: a
// file fetched over HTTP(S) when the file at path does not have the
// sha256; the download is checked before it replaces the file.
type downloadSpec struct {
	URL    string `json:"url"`
	File   string `json:"path"`
	SHA256 string `json:"sha256"`
	Mode   string `json:"mode"`
	Owner  string `json:"owner"`
	Group  string `json:"group"`
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func decodeDownload(props json.RawMessage) (Provider, error) {
	var s downloadSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fieldErr("url", "must be an http or https URL, not %q", s.URL)
	}
	if err := absPath("path", s.File); err != nil {
		return nil, err
	}
	s.SHA256 = strings.ToLower(s.SHA256)
	if !hexSHA256.MatchString(s.SHA256) {
		return nil, fieldErr("sha256", "must be 64 hex digits")
	}
	if _, err := fileMode("mode", s.Mode); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *downloadSpec) Name() string { return s.File }

// fileSHA256 returns the hex sha256 of a file, "" when it is missing.
func fileSHA256(p, rel string) (string, error) {
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", rel, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", rel, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s *downloadSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	p := e.Path(s.File)
	fi, err := statFile(p, s.File)
	if err != nil {
		return Plan{}, err
	}
	m, err := e.resolveMeta(s.Mode, s.Owner, s.Group)
	if err != nil {
		return Plan{}, err
	}
	sum := ""
	if fi != nil {
		if sum, err = fileSHA256(p, s.File); err != nil {
			return Plan{}, err
		}
	}
	if sum == s.SHA256 {
		lines := e.metaDiff(fi, m)
		if len(lines) == 0 {
			return Plan{}, nil
		}
		return Plan{Changed: true, Diff: strings.Join(lines, "\n") + "\n", Apply: func(ctx context.Context) error { return applyMeta(p, m) }}, nil
	}
	diff := fmt.Sprintf("download %s\nto %s (sha256 %s)\n", redactURL(s.URL), s.File, s.SHA256)
	if sum != "" {
		diff += "replacing content with sha256 " + sum + "\n"
	}
	return Plan{Changed: true, Diff: diff, Apply: func(ctx context.Context) error {
		if !m.hasMode {
			m.mode, m.hasMode = 0o644, true
			if fi != nil {
				m.mode = fi.Mode() & permBits
			}
		}
		if fi != nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				if m.uid < 0 && int(st.Uid) != os.Geteuid() {
					m.uid = int(st.Uid)
				}
				if m.gid < 0 && int(st.Gid) != os.Getegid() {
					m.gid = int(st.Gid)
				}
			}
		}
		return s.fetch(ctx, e, p, m)
	}}, nil
}

// redactURL hides a password in a URL's user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// fetch downloads into a temporary file next to p, checks its sha256 and
// renames it over p.
func (s *downloadSpec) fetch(ctx context.Context, e *Env, p string, m meta) (err error) {
	client := e.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", redactURL(s.URL), err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", redactURL(s.URL), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: %s", redactURL(s.URL), resp.Status)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".corral-*")
	if err != nil {
		return fmt.Errorf("download to %s: %w", s.File, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	if _, err = io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return fmt.Errorf("download %s: %w", redactURL(s.URL), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256 {
		return fmt.Errorf("download %s: sha256 is %s, want %s; %s left as it was", redactURL(s.URL), got, s.SHA256, s.File)
	}
	if err = applyMeta(f.Name(), m); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("download to %s: %w", s.File, err)
	}
	if err = os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("download to %s: %w", s.File, err)
	}
	e.wrote(p)
	return nil
}
