package manifests

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/source"
)

var update = flag.Bool("update", false, "rewrite bases/envctl from the manifests")

// repoRoot is envctl's repository, whose staging environment the base is
// for.
const repoRoot = "../../.."

// TestBase fails when bases/envctl is not what the manifests make for this
// repository's staging environment; -update rewrites it. The base is then
// always what `envctl daemon install staging` would apply, less the Secret.
func TestBase(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	// Staging's model-serving Secret is a SOPS file; its test key is the
	// render package's.
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(repoRoot, "internal", "render", "testdata", "sops", "staging.agekey"))
	repo, err := config.Load(config.LoadOptions{Dir: repoRoot})
	if err != nil {
		t.Fatal(err)
	}
	env, err := repo.Environment(BaseEnvironment)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := source.Local(repo.Root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rendered, err := render.Render(ctx, render.Options{Source: snap, Environment: env, Settings: repo.Config.Spec.Render})
	if err != nil {
		t.Fatal(err)
	}
	scope, err := ScopeOf(ctx, rendered, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Environment: BaseEnvironment, Git: BaseGit, Resources: scope.Resources, Namespaces: scope.Namespaces,
		Roles: scope.Roles, ClusterRoles: scope.ClusterRoles, DecryptsSOPS: len(rendered.SOPSFiles()) > 0}
	objs, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	// Staging's model server takes its Secret from a SOPS file: the base's
	// daemon reads the keys for it from the Secret the user adds.
	for _, obj := range objs {
		if obj.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
		args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
		if !strings.Contains(strings.Join(args, " "), "--decryption-key-file /etc/envctl/credentials/sops-keys") {
			t.Errorf("the base's daemon for %s, which has SOPS files, is not given the Secret's sops-keys: %v", BaseEnvironment, args)
		}
	}
	files, err := Base(o, objs)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repo.Root, filepath.FromSlash(BaseDir))
	if *update {
		if err := WriteBase(dir, files); err != nil {
			t.Fatal(err)
		}
		return
	}
	onDisk, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var names []string
	for _, p := range onDisk {
		names = append(names, filepath.Base(p))
	}
	var want []string
	for n := range files {
		want = append(want, n)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("%s holds other files than the manifests make (-want +got); run go test ./internal/daemon/manifests -run TestBase -update:\n%s", BaseDir, diff)
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue // reported above
		}
		if diff := cmp.Diff(string(data), string(got)); diff != "" {
			t.Errorf("%s/%s is stale (-want +got); run go test ./internal/daemon/manifests -run TestBase -update:\n%s", BaseDir, name, diff)
		}
	}

	// kustomize builds the base into the same objects.
	built, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", BaseDir, err)
	}
	var got, wantIDs []string
	for _, r := range built.Resources() {
		got = append(got, r.CurId().String())
	}
	for _, o := range objs {
		wantIDs = append(wantIDs, o.GetKind()+"/"+o.GetName()+"."+o.GetNamespace())
	}
	if len(got) != len(objs) {
		t.Errorf("kustomize build %s: %d objects %v, want %d %v", BaseDir, len(got), got, len(objs), wantIDs)
	}
}

// The base holds no Secret, whatever the options say: credentials do not
// belong in Git.
func TestBaseRefusesSecret(t *testing.T) {
	o := fullOptions()
	objs, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Base(o, objs); err == nil {
		t.Error("Base wrote a Secret")
	}
}
