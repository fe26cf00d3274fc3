package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"corral/internal/client"
)

// target is where the user commands send their requests: the keys of the
// files written by `corral login` (config.yaml) and `corral dev` (dev.yaml).
type target struct {
	Addr   string `yaml:"addr"`
	Token  string `yaml:"token,omitempty"`
	CAFile string `yaml:"ca_file,omitempty"`
}

// Names of the files in the CLI's config directory.
const (
	loginFile = "config.yaml"
	devFile   = "dev.yaml"
)

var errNoServer = errors.New("no server configured: run `corral dev`, or `corral login --addr ...`, or set CORRAL_ADDR and CORRAL_TOKEN")

// configDir returns $XDG_CONFIG_HOME/corral, else ~/.config/corral, or ""
// when neither variable is set.
func (a *app) configDir() string {
	if x := a.getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "corral")
	}
	if h := a.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "corral")
	}
	return ""
}

// target finds the server: flags, then CORRAL_* variables, then the login
// file, then the dev file. A file's token and CA file are only used for the
// address of that file, so that a token never goes to another server.
func (a *app) target() (target, error) {
	t := target{
		Addr:   first(a.addr, a.getenv("CORRAL_ADDR")),
		Token:  first(a.token, a.getenv("CORRAL_TOKEN")),
		CAFile: first(a.caFile, a.getenv("CORRAL_CA_FILE")),
	}
	if dir := a.configDir(); dir != "" && (t.Addr == "" || t.Token == "" || t.CAFile == "") {
		for _, name := range []string{loginFile, devFile} {
			f, ok, err := readTarget(filepath.Join(dir, name))
			if err != nil {
				return target{}, err
			}
			if !ok || f.Addr == "" {
				continue
			}
			if t.Addr == "" {
				t.Addr = f.Addr
			} else if !sameAddr(t.Addr, f.Addr) {
				continue
			}
			t.Token = first(t.Token, f.Token)
			t.CAFile = first(t.CAFile, f.CAFile)
			break
		}
	}
	if t.Addr == "" {
		return target{}, errNoServer
	}
	return t, nil
}

// client returns an API client of the target.
func (a *app) client() (*client.Client, error) {
	t, err := a.target()
	if err != nil {
		return nil, err
	}
	return newClient(t)
}

func newClient(t target) (*client.Client, error) {
	var opts []client.Option
	if t.CAFile != "" {
		opts = append(opts, client.WithCAFile(t.CAFile))
	}
	return client.New(t.Addr, t.Token, opts...)
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func sameAddr(x, y string) bool {
	ux, err1 := client.ParseAddr(x)
	uy, err2 := client.ParseAddr(y)
	return err1 == nil && err2 == nil && ux.String() == uy.String()
}

// readTarget reads a login or dev file; ok is false when there is none.
func readTarget(path string) (t target, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return target{}, false, nil
	}
	if err != nil {
		return target{}, false, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil && err != io.EOF {
		return target{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	return t, true, nil
}

// writeTarget writes a login or dev file, readable by its owner only.
func writeTarget(path string, t target) error {
	b, err := yaml.Marshal(t)
	if err != nil {
		return err
	}
	return writePrivate(path, b)
}

// writePrivate replaces the file at path with data atomically, with mode 0600
// in a directory of mode 0700.
func writePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// tildePath shows path under the home directory as ~/...
func (a *app) tildePath(path string) string {
	if h := a.getenv("HOME"); h != "" {
		if rest, ok := strings.CutPrefix(path, h+string(filepath.Separator)); ok {
			return "~/" + rest
		}
	}
	return path
}
