package daemon

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/notify"
)

// The notifiers' secrets go into the Secret and reach the daemon as files;
// the other notification flags are passed through as given; no argument
// carries a secret.
func TestReadNotifyIntoTheDeployment(t *testing.T) {
	var f notify.Flags
	fs := pflag.NewFlagSet("install", pflag.ContinueOnError)
	f.Bind(fs)
	if err := fs.Parse([]string{"--github-status", "--notify-webhook", "https://hooks.example/envctl", "--notify-repeat-interval", "30m"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		notify.EnvGitHubToken:   "ghp-token",
		notify.EnvWebhookSecret: "whsec-value",
		notify.EnvSlackWebhook:  "https://hooks.slack.com/services/T/B/SLACKSECRET",
	}
	var c manifests.Credentials
	args, err := ReadNotify(&c, &f, "https://github.com/acme/platform.git", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if string(c.GitHubToken) != "ghp-token" || string(c.NotifyWebhookSecret) != "whsec-value" || !strings.HasSuffix(string(c.Slack), "SLACKSECRET") || c.GitLabToken != nil {
		t.Errorf("credentials = %+v", c)
	}
	want := []string{"--github-status=true", "--notify-webhook", "https://hooks.example/envctl", "--notify-repeat-interval", "30m0s"}
	if !slices.Equal(args, want) {
		t.Errorf("args = %q, want %q", args, want)
	}

	objs, err := manifests.Build(manifests.Options{Environment: "staging", Git: manifests.Git{URL: "https://github.com/acme/platform.git"}, Credentials: c, NotifyArgs: args})
	if err != nil {
		t.Fatal(err)
	}
	var daemonArgs []string
	var secretKeys []string
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, a := range cs[0].(map[string]any)["args"].([]any) {
				daemonArgs = append(daemonArgs, a.(string))
			}
		case "Secret":
			data, _, _ := unstructured.NestedMap(o.Object, "data")
			for k := range data {
				secretKeys = append(secretKeys, k)
			}
		}
	}
	line := strings.Join(daemonArgs, " ")
	for _, w := range []string{
		"--github-token-file /etc/envctl/credentials/github-token",
		"--notify-webhook-secret-file /etc/envctl/credentials/notify-webhook-secret",
		"--slack-webhook-url-file /etc/envctl/credentials/slack-webhook-url",
		"--github-status=true --notify-webhook https://hooks.example/envctl",
	} {
		if !strings.Contains(line, w) {
			t.Errorf("daemon args %q lack %q", line, w)
		}
	}
	if strings.Contains(line, "gitlab-token") || strings.Contains(line, "ghp-token") || strings.Contains(line, "SLACKSECRET") || strings.Contains(line, "whsec-value") {
		t.Errorf("daemon args carry a secret or an unset token: %q", line)
	}
	slices.Sort(secretKeys)
	if got := strings.Join(secretKeys, ","); got != "github-token,notify-webhook-secret,slack-webhook-url" {
		t.Errorf("Secret keys = %s", got)
	}
}

func TestReadNotifyProblems(t *testing.T) {
	var f notify.Flags
	fs := pflag.NewFlagSet("install", pflag.ContinueOnError)
	f.Bind(fs)
	if err := fs.Parse([]string{"--gitlab-status", "--notify-webhook", "https://hooks.example/x"}); err != nil {
		t.Fatal(err)
	}
	_, err := ReadNotify(&manifests.Credentials{}, &f, "https://gitlab.com/g/p.git", func(string) string { return "" })
	if err == nil {
		t.Fatal("no error without the GitLab token and the webhook secret")
	}
	for _, w := range []string{notify.EnvGitLabToken, notify.EnvWebhookSecret} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %s", err, w)
		}
	}
}
