package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/preview"
	"github.com/envctl/envctl/internal/source/git/gittest"
)

// previewRepo is a Git repository of two commits for `diff --base`: the
// second changes a Deployment, removes one ConfigMap and adds another,
// changes a Secret's value, and adds environment qa. Its environments'
// cluster is a kubeconfig that does not exist: nothing may reach one.
type previewRepo struct {
	t      *testing.T
	dir    string
	first  string
	second string
	// canaries are the Secret's two values: no output may hold either.
	canaries []string
	home     string
	// tmp is envctl's TMPDIR.
	tmp string
}

func newPreviewRepo(t *testing.T) *previewRepo {
	t.Helper()
	gittest.NeedGit(t)
	r := &previewRepo{t: t, dir: t.TempDir(), home: t.TempDir(), tmp: t.TempDir()}
	r.canaries = []string{"canary-" + randomHex(t) + "-one", "canary-" + randomHex(t) + "-two"}
	gittest.Git(t, r.dir, "init", "-q", "-b", "main")
	r.write("config.yaml", "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: previews\nspec:\n  defaultEnvironment: dev\n")
	r.write("environments/dev.yaml", previewEnv("dev"))
	r.write("app/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n")
	r.write("app/deployment.yaml", previewDeployment("1.25", 1))
	r.write("app/old.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n  namespace: demo\ndata:\n  a: \"1\"\n")
	r.write("app/secret.yaml", previewSecret(r.canaries[0]))
	r.write("app/kustomization.yaml", "resources: [namespace.yaml, deployment.yaml, old.yaml, secret.yaml]\n")
	r.first = r.commit("first")

	r.write("app/deployment.yaml", previewDeployment("1.27", 3))
	r.remove("app/old.yaml")
	r.write("app/new.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\n  namespace: demo\ndata:\n  b: \"2\"\n")
	r.write("app/secret.yaml", previewSecret(r.canaries[1]))
	r.write("app/kustomization.yaml", "resources: [namespace.yaml, deployment.yaml, new.yaml, secret.yaml]\n")
	r.write("environments/qa.yaml", previewEnv("qa"))
	r.second = r.commit("second")
	return r
}

func previewEnv(name string) string {
	return "apiVersion: envctl.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: " + name + `
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: /nonexistent/kubeconfig
  components:
    - name: app
      kustomize: app
`
}

func previewDeployment(tag string, replicas int) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: ` + string(rune('0'+replicas)) + `
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:` + tag + "\n"
}

// previewSecret holds value once as stringData and once encoded as data.
func previewSecret(value string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: demo\nstringData:\n  password: " + value +
		"\ndata:\n  token: " + base64.StdEncoding.EncodeToString([]byte(value)) + "\n"
}

func (r *previewRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *previewRepo) remove(rel string) {
	r.t.Helper()
	if err := os.Remove(filepath.Join(r.dir, rel)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *previewRepo) commit(msg string) string {
	r.t.Helper()
	gittest.Git(r.t, r.dir, "add", "-A")
	gittest.Git(r.t, r.dir, "commit", "-q", "-m", msg)
	return gittest.Git(r.t, r.dir, "rev-parse", "HEAD")
}

// run runs envctl as a process of its own in the repository, with no
// cluster to reach: KUBECONFIG names a file that does not exist.
func (r *previewRepo) run(args ...string) (stdout, stderr string, code int) {
	r.t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = r.dir
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "ENVCTL_") && k != "HOME" && k != "KUBECONFIG" && k != "XDG_CACHE_HOME" && k != "TMPDIR" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, asCLIEnv+"=1", "HOME="+r.home, "KUBECONFIG="+filepath.Join(r.home, "no-such-kubeconfig"),
		"XDG_CACHE_HOME="+filepath.Join(r.home, "cache"), "TMPDIR="+r.tmp)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		r.t.Fatal(err)
	}
	r.t.Logf("envctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	for _, c := range r.canaries {
		for _, form := range []string{c, base64.StdEncoding.EncodeToString([]byte(c))} {
			if strings.Contains(out.String()+errOut.String(), form) {
				r.t.Errorf("envctl %s printed a Secret value", strings.Join(args, " "))
			}
		}
	}
	return out.String(), errOut.String(), code
}

func (r *previewRepo) mustRun(want int, args ...string) (stdout, stderr string) {
	r.t.Helper()
	stdout, stderr, code := r.run(args...)
	if code != want {
		r.t.Fatalf("envctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

func containsAll(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// TestDiffPreview previews the second commit against the first, without a
// cluster, in every format, and checks the exit codes.
func TestDiffPreview(t *testing.T) {
	r := newPreviewRepo(t)

	stdout, stderr := r.mustRun(diffExitChanges, "diff", "dev", "--base", "HEAD~1")
	containsAll(t, "the text preview", stdout,
		"~ changed Deployment.apps demo/web (environment dev, component app)\n",
		"-  replicas: 1\n+  replicas: 3\n",
		"-      - image: nginx:1.25\n+      - image: nginx:1.27\n",
		"+ added ConfigMap demo/new (environment dev, component app)\n",
		"- removed ConfigMap demo/old (environment dev, component app)\n",
		"~ changed Secret demo/creds (environment dev, component app)\n",
		"+  password: (sensitive value changed)\n",
		"+  token: (sensitive value changed)\n")
	containsAll(t, "the summary", stderr,
		"Environment dev, HEAD~1 (HEAD~1@sha1:"+r.first+") → work tree (sha1:"+r.second+"): 1 added, 1 removed, 2 changed, 1 unchanged.")

	stdout, _ = r.mustRun(diffExitChanges, "diff", "--base", r.first, "-o", "markdown")
	containsAll(t, "the markdown preview", stdout,
		"<!-- envctl-diff: dev -->\n### envctl diff `dev`: 1 added, 1 removed, 2 changed\n",
		"`"+r.first+"` (`sha1:"+r.first+"`) → `work tree` (`sha1:"+r.second+"`)",
		"<details>\n<summary><b>app</b>: 1 added, 1 removed, 2 changed</summary>\n",
		"**changed** `Deployment.apps demo/web`\n\n```diff\n",
		"**removed** `ConfigMap demo/old`\n",
		"</details>\n")

	stdout, _ = r.mustRun(diffExitChanges, "diff", "dev", "--base", "main~1", "-o", "json")
	var rep preview.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	env := rep.Environments[0]
	if rep.Base.Revision != "main~1@sha1:"+r.first || rep.Head.Revision != "sha1:"+r.second || rep.Head.Ref != "work tree" ||
		env.Name != "dev" || env.Counts != (preview.Counts{Added: 1, Removed: 1, Changed: 2, Unchanged: 1}) {
		t.Errorf("-o json: base %+v, head %+v, environment %s %+v", rep.Base, rep.Head, env.Name, env.Counts)
	}

	// --component limits both sides.
	_, stderr = r.mustRun(diffExitChanges, "diff", "dev", "--base", "HEAD~1", "--component", "app")
	containsAll(t, "the summary of one component", stderr, ": 1 added, 1 removed, 2 changed, 1 unchanged.")

	// No change: exit 0 and nothing on stdout.
	stdout, stderr = r.mustRun(diffExitNoChanges, "diff", "dev", "--base", "HEAD")
	if stdout != "" || !strings.Contains(stderr, ": no changes, 4 unchanged.") {
		t.Errorf("a preview without changes printed:\n%s\n%s", stdout, stderr)
	}
	// The base snapshots were temporary: none is left behind.
	if left, _ := filepath.Glob(filepath.Join(r.tmp, "envctl-base-*")); len(left) > 0 {
		t.Errorf("base snapshots left behind: %v", left)
	}
	// An uncommitted edit counts: the work tree is the head.
	r.write("app/deployment.yaml", previewDeployment("1.28", 3))
	stdout, _ = r.mustRun(diffExitChanges, "diff", "dev", "--base", "HEAD")
	containsAll(t, "the work tree's preview", stdout, "+      - image: nginx:1.28\n")

	// Errors: exit 2, saying what is wrong.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", "dev", "--base", "no-such-branch"}, "--base no-such-branch: no such commit in the repository of"},
		{[]string{"diff", "dev", "--base", "HEAD", "--kubeconfig", "/tmp/k"}, "--kubeconfig is for a diff against a cluster"},
		{[]string{"diff", "dev", "-o", "markdown"}, "-o markdown is for a preview"},
		{[]string{"diff", "--all-environments"}, "--all-environments is for a preview"},
		{[]string{"diff", "nosuch", "--base", "HEAD"}, `environment "nosuch" exists neither at HEAD nor at work tree`},
		{[]string{"diff", "dev", "--base", "HEAD", "--component", "app,nosuch"}, `--component: unknown component "nosuch" at HEAD and at work tree; known components: app`},
	} {
		_, stderr, code := r.run(tt.args...)
		if code != diffExitError || !strings.Contains(stderr, tt.want) {
			t.Errorf("envctl %s: exit %d, want %d saying %q:\n%s", strings.Join(tt.args, " "), code, diffExitError, tt.want, stderr)
		}
	}
	// A head that does not render: exit 2 naming the side and the file.
	r.write("app/kustomization.yaml", "resources: [namespace.yaml, missing.yaml]\n")
	_, stderr, code := r.run("diff", "dev", "--base", "HEAD")
	if code != diffExitError || !strings.Contains(stderr, "at work tree: component app:") || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("a head that does not render: exit %d:\n%s", code, stderr)
	}
}

// TestDiffPreviewAllEnvironments previews every environment in one
// comment: dev changed, qa new.
func TestDiffPreviewAllEnvironments(t *testing.T) {
	r := newPreviewRepo(t)
	stdout, _ := r.mustRun(diffExitChanges, "diff", "--all-environments", "--base", "HEAD~1", "-o", "markdown")
	containsAll(t, "the markdown preview", stdout,
		"<!-- envctl-diff: all-environments -->\n### envctl diff, 2 environments: 5 added, 1 removed, 2 changed\n",
		"\n#### `dev`: 1 added, 1 removed, 2 changed\n",
		"\n#### `qa`: new environment, 4 added\n")
	if n := strings.Count(stdout, "<!-- envctl-diff"); n != 1 {
		t.Errorf("%d markers, want 1", n)
	}
	stdout, _ = r.mustRun(diffExitChanges, "diff", "--all-environments", "--base", "HEAD~1", "-o", "json")
	var rep preview.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.All || len(rep.Environments) != 2 || rep.Environments[1].Name != "qa" || rep.Environments[1].InBase || !rep.Environments[1].InHead {
		t.Errorf("-o json: %+v", rep)
	}
	r.mustRun(diffExitNoChanges, "diff", "--all-environments", "--base", "HEAD")
}

// TestDiffPreviewGit previews two refs of a --git repository.
func TestDiffPreviewGit(t *testing.T) {
	r := newPreviewRepo(t)
	bare := filepath.Join(t.TempDir(), "platform.git")
	gittest.Git(t, r.dir, "clone", "-q", "--bare", r.dir, bare)
	gittest.Git(t, bare, "branch", "base", r.first)
	stdout, _ := r.mustRun(diffExitChanges, "diff", "dev", "--git", "file://"+bare, "--branch", "main", "--base", "base", "-o", "json")
	var rep preview.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Base.Revision != "base@sha1:"+r.first || rep.Head.Revision != "main@sha1:"+r.second || rep.Head.Ref != "branch main" ||
		rep.Environments[0].Counts != (preview.Counts{Added: 1, Removed: 1, Changed: 2, Unchanged: 1}) {
		t.Errorf("-o json: base %+v, head %+v, %+v", rep.Base, rep.Head, rep.Environments)
	}
	// A commit hash as the base.
	r.mustRun(diffExitNoChanges, "diff", "dev", "--git", "file://"+bare, "--base", r.second)
}
