package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/credential"
)

// TestCredentialFlags: the bindings of --helm-credential (or its
// variable) with their values from the environment, and a credentials
// file, reach the engine's configuration; a flag wins over its variable.
func TestCredentialFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "creds.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: envctl.dev/v1alpha1\nkind: HelmCredentials\ncredentials:\n  - name: registry\n    hosts: [registry.example.com]\n    username: robot\n    password: p2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"ENVCTL_HELM_CREDENTIAL":                 "ignored=other.example.com",
		"ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME": "reader",
		"ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD": "p1",
		"ENVCTL_HELM_CREDENTIALS_FILE":           file,
	}
	f := &Factory{Global: &GlobalOptions{HelmCredentials: []string{"charts=charts.example.com", "charts=charts-cdn.example.com"}},
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	if err := f.readCredentials(); err != nil {
		t.Fatal(err)
	}
	got := f.engineConfig("", "").Credentials
	want := credential.Set{
		"charts": {Name: "charts", Hosts: []string{"charts.example.com", "charts-cdn.example.com"}, Username: "reader", Password: "p1",
			From: "--helm-credential charts with $ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME and $ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD"},
		"registry": {Name: "registry", Hosts: []string{"registry.example.com"}, Username: "robot", Password: "p2", From: file},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("engine credentials (-want +got):\n%s", diff)
	}
}

// TestCredentialFlagsRefused: a binding that is wrong stops any command at
// its start with exit 2, naming the flag or variable and never a value.
func TestCredentialFlagsRefused(t *testing.T) {
	t.Setenv("ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME", "reader")
	t.Setenv("ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD", "")
	t.Setenv("ENVCTL_HELM_CREDENTIAL_DUP_USERNAME", "u")
	t.Setenv("ENVCTL_HELM_CREDENTIAL_DUP_PASSWORD", "dup-secret-91")
	dup := filepath.Join(t.TempDir(), "creds.yaml")
	if err := os.WriteFile(dup, []byte("apiVersion: envctl.dev/v1alpha1\nkind: HelmCredentials\ncredentials:\n  - name: dup\n    hosts: [x.example.com]\n    username: u\n    password: file-secret-92\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no password", []string{"--helm-credential", "charts=charts.example.com"}, "--helm-credential binds credential \"charts\", but ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD is not set"},
		{"a URL for a host", []string{"--helm-credential", "x=https://charts.example.com/stable"}, `is not a host: give the host name`},
		{"bound twice", []string{"--helm-credential", "dup=x.example.com", "--helm-credentials-file", dup}, `credential "dup" is bound twice`},
		{"no file", []string{"--helm-credentials-file", filepath.Join(t.TempDir(), "none.yaml")}, "--helm-credentials-file: open "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := Main(append(tt.args, "version"), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			if code != ExitInput {
				t.Errorf("exit %d, want %d", code, ExitInput)
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, errOut.String())
			}
			if strings.Contains(errOut.String()+out.String(), "secret-9") {
				t.Errorf("the output shows a password:\n%s%s", out.String(), errOut.String())
			}
		})
	}
}
