package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/manifest"
	"corral/internal/resource"
)

const manifestHelp = `Each -f is a file, a directory (its *.yaml, *.yml and *.json files, not
recursive) or - for stdin. A file holds YAML documents separated by ---, or
JSON (an object or an array of objects). Each document has kind:, its key
(name: for most kinds) and the kind's fields at the top level. A field
value_file: PATH is read into value (PATH relative to the file). A Role's
file and template resources with source: NAME get that file stored with the
role, read from the manifest's directory or its templates/ or files/ folder
(a chef-repo layout: corral apply -f roles/). The server never reads your
files.`

func (a *app) applyCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|- [-f ...]",
		Short: "Create or change resources from files",
		Long: "Create or change the resources described in files, all at once: if one\n" +
			"document is invalid, nothing is changed.\n\n" + manifestHelp,
		Example: `  corral apply -f secrets.yaml
  corral apply -f config/ -f extra.json
  corral apply -f roles/                  # roles with their templates/ and files/
  cat app.yaml | corral apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := a.apply(cmd.Context(), files, false)
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				for _, r := range resp.Results {
					switch r.Action {
					case api.ActionUnchanged:
						fmt.Fprintf(w, "%s unchanged\n", ref(r))
					default:
						fmt.Fprintf(w, "%s %s (version %d)\n", ref(r), r.Action, r.Version)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (stdin) to read (repeatable)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (a *app) diffCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR|- [-f ...]",
		Short: "Show what apply would change, without changing anything",
		Long:  "Show what \"corral apply\" would do with the same files. Secret values are\nredacted in the diff.\n\n" + manifestHelp,
		Example: `  corral diff -f secrets.yaml
  corral diff -f config/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := a.apply(cmd.Context(), files, true)
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				changes := 0
				for _, r := range resp.Results {
					switch r.Action {
					case api.ActionUnchanged:
						continue
					case api.ActionCreated:
						fmt.Fprintf(w, "%s would be created\n", ref(r))
					default:
						fmt.Fprintf(w, "%s would change (version %d)\n", ref(r), r.Version)
					}
					changes++
					if r.Diff != "" {
						d := strings.TrimRight(r.Diff, "\n")
						fmt.Fprintln(w, "  "+strings.ReplaceAll(d, "\n", "\n  "))
					}
				}
				if changes == 0 {
					fmt.Fprintln(w, "no changes")
				}
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (stdin) to read (repeatable)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// apply reads files and sends them to the server.
func (a *app) apply(ctx context.Context, files []string, dry bool) (api.ApplyResponse, error) {
	docs, err := manifest.Load(files, a.stdin, resource.Builtin())
	if err != nil {
		return api.ApplyResponse{}, err
	}
	if len(docs) == 0 {
		return api.ApplyResponse{}, errors.New("no documents found in " + strings.Join(files, ", "))
	}
	c, err := a.client()
	if err != nil {
		return api.ApplyResponse{}, err
	}
	return c.Apply(ctx, api.ApplyRequest{Documents: docs, DryRun: dry})
}

// ref names a resource as "secret/db-password", or "app /shop/api" for
// kinds named by a path.
func ref(r api.ApplyResult) string {
	if strings.HasPrefix(r.Name, "/") {
		return strings.ToLower(r.Kind) + " " + r.Name
	}
	return strings.ToLower(r.Kind) + "/" + r.Name
}
