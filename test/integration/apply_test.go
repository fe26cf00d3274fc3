package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyInvalidDocumentStoresNothing runs `corral apply` on a file with
// one invalid document among valid ones: nothing is stored, and the error
// names the document and the field.
func TestApplyInvalidDocumentStoresNothing(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	dir := t.TempDir()
	env := CLIEnv{Home: srv.Home, Dir: dir}
	flags := srv.CLIFlags(srv.AdminToken())
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("file.yaml", `kind: Secret
name: alpha-secret
value: one
---
kind: Secret
name: beta-secret
---
kind: Secret
name: gamma-secret
value: three
`)
	stdout, stderr, code := RunCLI(t, env, append([]string{"apply", "-f", "file.yaml"}, flags...)...)
	if code == 0 {
		t.Fatalf("corral apply of an invalid document: exit 0, stdout:\n%s", stdout)
	}
	for _, want := range []string{"documents[1] (file.yaml#2).value", "is required", "nothing was applied"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("corral apply stderr does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "documents[0]") || strings.Contains(stderr, "documents[2]") {
		t.Errorf("corral apply blames a valid document:\n%s", stderr)
	}

	stdout, _, code = RunCLI(t, env, append([]string{"get", "secret"}, flags...)...)
	if code != 0 {
		t.Fatalf("corral get secret: exit %d", code)
	}
	for _, name := range []string{"alpha-secret", "beta-secret", "gamma-secret"} {
		if strings.Contains(stdout, name) {
			t.Errorf("corral get secret shows %s after a refused apply:\n%s", name, stdout)
		}
	}
	rs, err := srv.Admin(t).Resources(testCtx(t), "Secret")
	if err != nil || len(rs) != 0 {
		t.Errorf("secrets after a refused apply: %+v, %v", rs, err)
	}

	// With the document fixed, all three are applied.
	write("file.yaml", `kind: Secret
name: alpha-secret
value: one
---
kind: Secret
name: beta-secret
value_file: beta.txt
---
kind: Secret
name: gamma-secret
value: three
`)
	write("beta.txt", "two")
	stdout, _, code = RunCLI(t, env, append([]string{"apply", "-f", "file.yaml"}, flags...)...)
	if code != 0 {
		t.Fatalf("corral apply: exit %d", code)
	}
	if strings.Count(stdout, "created") != 3 {
		t.Errorf("corral apply did not create three secrets:\n%s", stdout)
	}
	stdout, _, code = RunCLI(t, env, append([]string{"get", "secret"}, flags...)...)
	for _, name := range []string{"alpha-secret", "beta-secret", "gamma-secret"} {
		if code != 0 || !strings.Contains(stdout, name) {
			t.Errorf("corral get secret does not show %s:\n%s", name, stdout)
		}
	}
	if strings.Contains(stdout, "two") || strings.Contains(stdout, "three") {
		t.Errorf("corral get secret shows secret values:\n%s", stdout)
	}
	stdout, _, code = RunCLI(t, env, append([]string{"get", "secret", "beta-secret", "--reveal"}, flags...)...)
	if code != 0 || !strings.Contains(stdout, "value: two") {
		t.Errorf("corral get secret beta-secret --reveal: exit %d:\n%s", code, stdout)
	}
}
