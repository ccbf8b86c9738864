package notify

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Variables that carry the notifiers' secrets: never flags, whose values
// show in ps and in the daemon's Deployment.
const (
	EnvGitHubToken    = config.EnvPrefix + "GITHUB_TOKEN"
	EnvGitLabToken    = config.EnvPrefix + "GITLAB_TOKEN"
	EnvWebhookSecret  = config.EnvPrefix + "NOTIFY_WEBHOOK_SECRET"
	EnvSlackWebhook   = config.EnvPrefix + "SLACK_WEBHOOK_URL"
	flagGitHubToken   = "github-token-file"
	flagGitLabToken   = "gitlab-token-file"
	flagWebhookSecret = "notify-webhook-secret-file"
	flagSlackWebhook  = "slack-webhook-url-file"
)

// FlagNames are the notification flags, in help order; each is also read
// from its ENVCTL_* variable (the flag upper-cased, dashes as
// underscores) when the command line does not give it.
var FlagNames = []string{
	"events", "github-status", "github-url", flagGitHubToken, "gitlab-status", "gitlab-url", flagGitLabToken,
	"notify-webhook", flagWebhookSecret, flagSlackWebhook, "notify-repeat-interval",
}

// Flags are the operator's notification settings, for sync and the
// daemon.
type Flags struct {
	// Events records Kubernetes Events (on by default).
	Events bool
	// GitHubStatus and GitLabStatus set commit statuses on the --git
	// repository, through the API at GitHubURL and GitLabURL.
	GitHubStatus, GitLabStatus bool
	GitHubURL, GitLabURL       string
	// Files holding the secrets, besides their variables.
	GitHubTokenFile, GitLabTokenFile string
	WebhookSecretFile, SlackFile     string
	// Webhook is the generic webhook's URL.
	Webhook string
	// Repeat is how long one state is not sent again.
	Repeat time.Duration

	fs *pflag.FlagSet
}

// Bind adds the notification flags to fs.
func (f *Flags) Bind(fs *pflag.FlagSet) {
	f.fs = fs
	fs.BoolVar(&f.Events, "events", true, "record Kubernetes Events (reconciled, failed, drift corrected, fights, prune held) on the sync record envctl-system/envctl-sync-ENV")
	fs.BoolVar(&f.GitHubStatus, "github-status", false, "set a commit status (context envctl/ENV) on the applied commit of the --git repository on GitHub; token from "+EnvGitHubToken+" or --"+flagGitHubToken)
	fs.StringVar(&f.GitHubURL, "github-url", DefaultGitHubURL, "GitHub API root for --github-status (GitHub Enterprise: https://HOST/api/v3); the token is sent there only")
	fs.StringVar(&f.GitHubTokenFile, flagGitHubToken, "", "file holding the GitHub token for --github-status")
	fs.BoolVar(&f.GitLabStatus, "gitlab-status", false, "set a commit status (name envctl/ENV) on the applied commit of the --git repository on GitLab; token from "+EnvGitLabToken+" or --"+flagGitLabToken)
	fs.StringVar(&f.GitLabURL, "gitlab-url", DefaultGitLabURL, "GitLab root for --gitlab-status (self-hosted: https://HOST); the token is sent there only")
	fs.StringVar(&f.GitLabTokenFile, flagGitLabToken, "", "file holding the GitLab token for --gitlab-status")
	fs.StringVar(&f.Webhook, "notify-webhook", "", "POST every event as JSON to this URL, signed with HMAC-SHA256 in "+HeaderSignature+" (secret from "+EnvWebhookSecret+" or --"+flagWebhookSecret+")")
	fs.StringVar(&f.WebhookSecretFile, flagWebhookSecret, "", "file holding the signing secret of --notify-webhook")
	fs.StringVar(&f.SlackFile, flagSlackWebhook, "", "file holding a Slack-compatible incoming webhook URL (a secret; or "+EnvSlackWebhook+")")
	fs.DurationVar(&f.Repeat, "notify-repeat-interval", DefaultRepeat, "do not send the same state to a notifier again within this time")
	for _, name := range FlagNames {
		fl := fs.Lookup(name)
		fl.Usage += " (env " + config.FlagEnv(name) + ")"
	}
}

// Build reads the variables (with lookup; os.LookupEnv when nil) and the
// secret files and returns the notifiers the flags enable. gitURL is the
// --git repository, whose owner/name the commit statuses are set on. No
// error names a secret's value.
func (f *Flags) Build(gitURL string, lookup func(string) (string, bool)) ([]Notifier, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if f.fs != nil {
		if err := config.FlagsFromEnv(f.fs, FlagNames, lookup); err != nil {
			return nil, err
		}
	}
	if f.Repeat < 0 {
		return nil, errs.Inputf("--notify-repeat-interval must not be negative, got %s", f.Repeat)
	}
	var out []Notifier
	var problems []error
	add := func(n Notifier, err error) {
		if err != nil {
			problems = append(problems, err)
		} else {
			out = append(out, n)
		}
	}
	if f.GitHubStatus {
		add(f.github(gitURL, lookup))
	}
	if f.GitLabStatus {
		add(f.gitlab(gitURL, lookup))
	}
	secret, err := Secret(lookup, EnvWebhookSecret, f.WebhookSecretFile, flagWebhookSecret)
	switch {
	case err != nil:
		problems = append(problems, err)
	case f.Webhook != "":
		add(NewWebhook(f.Webhook, secret))
	case len(secret) > 0 && f.WebhookSecretFile != "":
		problems = append(problems, errors.New("--"+flagWebhookSecret+" is given but no --notify-webhook"))
	}
	slack, err := Secret(lookup, EnvSlackWebhook, f.SlackFile, flagSlackWebhook)
	switch {
	case err != nil:
		problems = append(problems, err)
	case len(slack) > 0:
		add(NewSlack(string(slack)))
	}
	if len(problems) > 0 {
		return nil, errs.Input(errors.Join(problems...))
	}
	return out, nil
}

func (f *Flags) github(gitURL string, lookup func(string) (string, bool)) (Notifier, error) {
	repo, host, err := RepoOf(gitURL)
	if err != nil {
		return nil, fmt.Errorf("--github-status: %w", err)
	}
	if f.GitHubURL == DefaultGitHubURL && host != "github.com" {
		return nil, fmt.Errorf("--github-status: --git is on %s, not github.com: give its API root with --github-url (https://%s/api/v3)", host, host)
	}
	token, err := Secret(lookup, EnvGitHubToken, f.GitHubTokenFile, flagGitHubToken)
	if err != nil {
		return nil, err
	}
	return NewGitHub(f.GitHubURL, repo, string(token))
}

func (f *Flags) gitlab(gitURL string, lookup func(string) (string, bool)) (Notifier, error) {
	project, host, err := RepoOf(gitURL)
	if err != nil {
		return nil, fmt.Errorf("--gitlab-status: %w", err)
	}
	if f.GitLabURL == DefaultGitLabURL && host != "gitlab.com" {
		return nil, fmt.Errorf("--gitlab-status: --git is on %s, not gitlab.com: give its root with --gitlab-url (https://%s)", host, host)
	}
	token, err := Secret(lookup, EnvGitLabToken, f.GitLabTokenFile, flagGitLabToken)
	if err != nil {
		return nil, err
	}
	return NewGitLab(f.GitLabURL, project, string(token))
}

// Secret reads a secret from its variable or from the file a flag names
// (never both); errors name the variable or the flag and file.
func Secret(lookup func(string) (string, bool), env, file, flag string) ([]byte, error) {
	v, _ := lookup(env)
	switch {
	case v != "" && file != "":
		return nil, fmt.Errorf("%s and --%s both give the secret; give one", env, flag)
	case file == "":
		return []byte(strings.TrimSpace(v)), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("--%s %s is empty", flag, file)
	}
	return data, nil
}

// RepoOf is the repository path ("owner/name", "group/sub/name") and host
// of a Git URL: https://host/owner/name.git, ssh://git@host/owner/name.git
// or git@host:owner/name.git.
func RepoOf(gitURL string) (repo, host string, err error) {
	if gitURL == "" {
		return "", "", errors.New("commit statuses need --git (the repository whose commits get them)")
	}
	path := ""
	if u, perr := url.Parse(gitURL); perr == nil && u.Scheme != "" && u.Host != "" {
		host, path = u.Hostname(), u.Path
	} else if at := strings.Index(gitURL, "@"); at >= 0 && strings.Contains(gitURL[at:], ":") {
		rest := gitURL[at+1:]
		i := strings.Index(rest, ":")
		host, path = rest[:i], rest[i+1:]
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if host == "" || strings.Count(path, "/") < 1 || strings.Contains(path, "..") {
		return "", "", fmt.Errorf("cannot tell the repository (owner/name) of --git %s", gitURL)
	}
	return path, strings.ToLower(host), nil
}

// secretFlags name files of secrets: the daemon gets them from its Secret,
// not passed through.
var secretFlags = map[string]bool{flagGitHubToken: true, flagGitLabToken: true, flagWebhookSecret: true, flagSlackWebhook: true}

// PassThrough are the flags that carry no secret and differ from their
// defaults (set on the command line or by their variables), as arguments
// for the daemon.
func (f *Flags) PassThrough() []string {
	if f.fs == nil {
		return nil
	}
	var args []string
	for _, name := range FlagNames {
		fl := f.fs.Lookup(name)
		if fl == nil || secretFlags[name] || fl.Value.String() == fl.DefValue {
			continue
		}
		if fl.Value.Type() == "bool" {
			args = append(args, "--"+name+"="+fl.Value.String())
		} else {
			args = append(args, "--"+name, fl.Value.String())
		}
	}
	return args
}

// Describe lists the notifiers for a log line, without secrets.
func Describe(ns []Notifier) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name()+" "+n.Target())
	}
	return out
}

// LogEnabled logs which notifiers are on.
func LogEnabled(log *slog.Logger, ns []Notifier, events bool) {
	if len(ns) == 0 && !events {
		return
	}
	log.Info("notifications", "kubernetes-events", events, "notifiers", strings.Join(Describe(ns), ", "))
}
