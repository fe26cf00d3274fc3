package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"corral/internal/api"
)

// configFlag names the flag (and CORRAL_CONFIG the variable) of the config
// file of server, agent and dev.
const configFlag = "config"

// envName is the environment variable of a flag: CORRAL_HTTP_ADDR for
// --http-addr.
func envName(flag string) string {
	return "CORRAL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// loadFlagConfig fills the flags of fs that were not given on the command
// line, from their CORRAL_* environment variable or else from the YAML config
// file (--config FILE or CORRAL_CONFIG), whose keys are the flag names. So the
// precedence is: defaults < file < environment < flags. List flags take a
// YAML list, or a comma-separated string as in the environment. An unknown
// key in the file is an error.
func loadFlagConfig(fs *pflag.FlagSet, getenv func(string) string) error {
	var path string
	if f := fs.Lookup(configFlag); f != nil {
		path = f.Value.String()
		if !f.Changed {
			if v := getenv(envName(configFlag)); v != "" {
				path = v
			}
		}
	}
	file, err := readFlagFile(path, fs)
	if err != nil {
		return err
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == configFlag || f.Name == "help" {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := setFlag(f, v, true); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
			return
		}
		v, ok := file[f.Name]
		if !ok || v == nil {
			return
		}
		if err := setFlagYAML(f, v); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %s: %w", path, f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// readFlagFile reads the config file at path (none when path is "") and
// checks that its keys are flags of fs.
func readFlagFile(path string, fs *pflag.FlagSet) (map[string]any, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var m map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil && err != io.EOF {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var unknown []string
	for k := range m {
		if k == configFlag || k == "help" || fs.Lookup(k) == nil {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file %s: unknown key %q (the keys are the command's flag names, e.g. data-dir)", path, unknown[0])
	}
	return m, nil
}

// setFlag sets f from a string; list flags take a comma-separated list when
// split is true.
func setFlag(f *pflag.Flag, v string, split bool) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		var items []string
		if split {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
		} else {
			items = []string{v}
		}
		return sv.Replace(items)
	}
	return f.Value.Set(v)
}

// setFlagYAML sets f from a value of the config file.
func setFlagYAML(f *pflag.Flag, v any) error {
	if list, ok := v.([]any); ok {
		sv, isSlice := f.Value.(pflag.SliceValue)
		if !isSlice {
			return errors.New("want a single value, not a list")
		}
		items := make([]string, 0, len(list))
		for _, e := range list {
			s, err := scalarString(e)
			if err != nil {
				return err
			}
			items = append(items, s)
		}
		return sv.Replace(items)
	}
	s, err := scalarString(v)
	if err != nil {
		return err
	}
	return setFlag(f, s, true)
}

func scalarString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case uint64:
		return strconv.FormatUint(t, 10), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case time.Time:
		return t.Format(time.RFC3339), nil
	}
	return "", fmt.Errorf("want a string, number or boolean, not %T", v)
}

// durationValue is a time.Duration flag that also takes days ("30d").
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := api.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) Type() string { return "duration" }

func (d *durationValue) String() string {
	v := time.Duration(*d)
	if v != 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return v.String()
}

// durationVar defines a duration flag that takes days too.
func durationVar(fs *pflag.FlagSet, p *time.Duration, name string, usage string) {
	fs.Var((*durationValue)(p), name, usage)
}
