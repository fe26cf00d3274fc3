// Package fetch downloads a task's fetch URIs into its sandbox before the
// start, as Marathon's fetcher: http(s):// and file:// URIs, archives
// (.tar, .tar.gz, .tgz, .zip) extracted with their executable bits kept,
// entries that would escape the sandbox rejected. The exec driver imports it;
// every error wraps driver.ErrStartFailed (a bad URI is the task's fault).
package fetch

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"corral/internal/driver"
)

// MaxBytes caps one download (and the total size extracted from one archive).
const MaxBytes = 2 << 30

// DefaultTimeout bounds one http(s) download when the client has none.
const DefaultTimeout = 5 * time.Minute

// Into downloads every item into sandbox in order. client may be nil (a
// client with DefaultTimeout is used).
func Into(ctx context.Context, sandbox string, items []driver.Fetch, client *http.Client) error {
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	for _, it := range items {
		if err := one(ctx, sandbox, it, client); err != nil {
			return fmt.Errorf("%w: fetch %s: %w", driver.ErrStartFailed, it.URI, err)
		}
	}
	return nil
}

func one(ctx context.Context, sandbox string, it driver.Fetch, client *http.Client) error {
	u, err := url.Parse(it.URI)
	if err != nil {
		return err
	}
	base := path.Base(u.Path)
	if base == "/" || base == "." || base == "" {
		return errors.New("URI has no file name")
	}
	extract := IsArchive(base)
	if it.Extract != nil {
		extract = *it.Extract && IsArchive(base)
	}
	var body io.ReadCloser
	switch u.Scheme {
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, it.URI, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("HTTP %s", resp.Status)
		}
		body = resp.Body
	case "file", "":
		f, err := os.Open(u.Path)
		if err != nil {
			return err
		}
		body = f
	default:
		return fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	defer body.Close()
	if extract {
		dest := sandbox
		if it.DestPath != "" {
			if dest, err = Within(sandbox, it.DestPath); err != nil {
				return err
			}
		}
		return Extract(body, base, dest)
	}
	rel := base
	if it.DestPath != "" {
		rel = it.DestPath
	}
	dest, err := Within(sandbox, rel)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if it.Executable {
		mode = 0o755
	}
	return writeFile(dest, io.LimitReader(body, MaxBytes+1), mode)
}

// IsArchive says whether a file name has an extension Extract understands.
func IsArchive(name string) bool {
	n := strings.ToLower(name)
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".zip"} {
		if strings.HasSuffix(n, ext) {
			return true
		}
	}
	return false
}

// Within joins rel under root and rejects a result outside root ("../x",
// absolute paths).
func Within(root, rel string) (string, error) {
	if filepath.IsAbs(rel) || !filepath.IsLocal(filepath.FromSlash(rel)) {
		return "", fmt.Errorf("path %q escapes the sandbox", rel)
	}
	return filepath.Join(root, filepath.FromSlash(rel)), nil
}

func writeFile(dest string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > MaxBytes {
		err = fmt.Errorf("larger than %d bytes", int64(MaxBytes))
	}
	if err == nil {
		err = os.Chmod(dest, mode) // umask may have cleared bits
	}
	return err
}

// Extract unpacks an archive named name (its extension picks the format)
// from r into dir.
func Extract(r io.Reader, name, dir string) error {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".zip"):
		return extractZip(r, dir)
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		return extractTar(zr, dir)
	case strings.HasSuffix(n, ".tar"):
		return extractTar(r, dir)
	}
	return fmt.Errorf("%s: not an archive", name)
}

func extractTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		dest, err := Within(dir, h.Name)
		if err != nil {
			if strings.Trim(h.Name, "./") == "" {
				continue // the archive's own "./"
			}
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			total += h.Size
			if total > MaxBytes {
				return fmt.Errorf("archive larger than %d bytes", int64(MaxBytes))
			}
			if err := writeFile(dest, tr, fileMode(os.FileMode(h.Mode))); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if _, err := Within(filepath.Dir(h.Name), h.Linkname); err != nil || filepath.IsAbs(h.Linkname) {
				return fmt.Errorf("symlink %s -> %s escapes the sandbox", h.Name, h.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return err
			}
			os.Remove(dest)
			if err := os.Symlink(h.Linkname, dest); err != nil {
				return err
			}
		default:
			// devices, fifos, hard links: not needed in a sandbox
		}
	}
}

func extractZip(r io.Reader, dir string) error {
	// zip needs random access: spool to a temporary file in dir.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".fetch-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return err
	}
	if n > MaxBytes {
		return fmt.Errorf("archive larger than %d bytes", int64(MaxBytes))
	}
	zr, err := zip.NewReader(tmp, n)
	if err != nil {
		return err
	}
	var total uint64
	for _, f := range zr.File {
		dest, err := Within(dir, f.Name)
		if err != nil {
			return err
		}
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return err
			}
			continue
		}
		if !f.Mode().IsRegular() {
			continue
		}
		total += f.UncompressedSize64
		if total > MaxBytes {
			return fmt.Errorf("archive larger than %d bytes", int64(MaxBytes))
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		err = writeFile(dest, rc, fileMode(f.Mode()))
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// fileMode keeps the executable bits of an archive entry and makes the file
// readable and writable by its owner.
func fileMode(m os.FileMode) os.FileMode {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}
