package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Default API addresses; GitHub Enterprise and self-hosted GitLab set
// their own.
const (
	DefaultGitHubURL = "https://api.github.com"
	DefaultGitLabURL = "https://gitlab.com"
)

// statusContext names envctl's commit status of environment env, so that
// each environment has its own check on a commit.
func statusContext(env string) string { return "envctl/" + env }

// commitStatusWanted: commit statuses report a revision's progress and
// outcome, and only of a Git commit.
func commitStatusWanted(e Event) bool {
	switch e.Kind {
	case Progressing, Reconciled, Failed:
		return e.Commit() != ""
	}
	return false
}

// description is the status text: at most 140 characters (GitHub's limit).
func description(e Event) string {
	d := e.Message
	if e.Component != "" && !strings.Contains(d, "component "+e.Component) {
		d = "component " + e.Component + ": " + d
	}
	if r := []rune(d); len(r) > 140 {
		d = string(r[:139]) + "…"
	}
	return d
}

// GitHub sets commit statuses with the REST API: POST
// {base}/repos/{owner}/{repo}/statuses/{sha}.
type GitHub struct {
	base  *url.URL
	repo  string
	token string
}

// NewGitHub is the GitHub notifier of repository owner/repo at base (the
// API root: https://api.github.com, or https://HOST/api/v3).
func NewGitHub(base, repo, token string) (*GitHub, error) {
	u, err := parseTarget("--github-url", base, true)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, fmt.Errorf("--github-status: no token (set %s or --github-token-file)", EnvGitHubToken)
	}
	return &GitHub{base: u, repo: repo, token: token}, nil
}

func (g *GitHub) Name() string       { return "github" }
func (g *GitHub) Target() string     { return g.base.Host + " " + g.repo }
func (g *GitHub) Wants(e Event) bool { return commitStatusWanted(e) }
func (g *GitHub) endpoint(sha string) *url.URL {
	return g.base.JoinPath("repos", g.repo, "statuses", sha)
}

// Send sets the status of e's commit: pending, success or failure.
func (g *GitHub) Send(ctx context.Context, e Event) error {
	state := map[Kind]string{Progressing: "pending", Reconciled: "success", Failed: "failure"}[e.Kind]
	body, _ := json.Marshal(map[string]string{
		"state": state, "context": statusContext(e.Environment), "description": description(e),
	})
	_, _, err := post(ctx, g.Name(), g.Target(), g.endpoint(e.Commit()), body, map[string]string{
		"Authorization":        "Bearer " + g.token,
		"Accept":               "application/vnd.github+json",
		"X-GitHub-Api-Version": "2022-11-28",
	})
	return err
}

// GitLab sets commit statuses with the REST API: POST
// {base}/api/v4/projects/{id}/statuses/{sha}.
type GitLab struct {
	base    *url.URL
	project string
	token   string
}

// NewGitLab is the GitLab notifier of project (its path, group/name, or
// its number) at base (https://gitlab.com or a self-hosted root).
func NewGitLab(base, project, token string) (*GitLab, error) {
	u, err := parseTarget("--gitlab-url", base, true)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, fmt.Errorf("--gitlab-status: no token (set %s or --gitlab-token-file)", EnvGitLabToken)
	}
	return &GitLab{base: u, project: project, token: token}, nil
}

func (g *GitLab) Name() string       { return "gitlab" }
func (g *GitLab) Target() string     { return g.base.Host + " " + g.project }
func (g *GitLab) Wants(e Event) bool { return commitStatusWanted(e) }

// endpoint is the statuses URL; the project path is one escaped segment
// (group%2Fname), as the API wants it.
func (g *GitLab) endpoint(sha string) *url.URL {
	u := *g.base
	prefix := strings.TrimSuffix(u.Path, "/")
	u.Path = prefix + "/api/v4/projects/" + g.project + "/statuses/" + sha
	u.RawPath = prefix + "/api/v4/projects/" + url.PathEscape(g.project) + "/statuses/" + sha
	return &u
}

// Send sets the status of e's commit: running, success or failed.
func (g *GitLab) Send(ctx context.Context, e Event) error {
	state := map[Kind]string{Progressing: "running", Reconciled: "success", Failed: "failed"}[e.Kind]
	body, _ := json.Marshal(map[string]string{
		"state": state, "name": statusContext(e.Environment), "description": description(e),
	})
	status, answer, err := post(ctx, g.Name(), g.Target(), g.endpoint(e.Commit()), body, map[string]string{
		"PRIVATE-TOKEN": g.token,
	})
	// GitLab refuses to set a status to the state it already has; the
	// status is as wanted.
	if status == http.StatusBadRequest && strings.Contains(string(answer), "Cannot transition status") {
		return nil
	}
	return err
}
