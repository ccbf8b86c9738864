package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// maxDependencyDepth bounds how deep subcharts' own dependencies are
// resolved, so that a dependency cycle between repositories ends.
const maxDependencyDepth = 5

// resolveDependencies adds to chrt every dependency its Chart.yaml lists and
// its charts/ directory lacks, as `helm dependency build` would but without
// writing into the repository: from file:// paths inside the repository,
// HTTP chart repositories and OCI registries, through the chart cache.
// With a Chart.lock, it must match Chart.yaml, and the locked versions are
// the ones fetched.
func (r *renderer) resolveDependencies(ctx context.Context, comp config.Component, chrt *chart.Chart, what string) error {
	dir := ""
	if comp.Helm.ChartKind() == config.ChartLocal {
		if abs, err := r.src.Resolve(comp.Helm.Chart); err == nil {
			if st, err := os.Stat(abs); err == nil && st.IsDir() {
				dir = abs
			}
		}
	}
	return r.addDependencies(ctx, comp, chrt, what, dir, 0)
}

func (r *renderer) addDependencies(ctx context.Context, comp config.Component, chrt *chart.Chart, what, dir string, depth int) error {
	reqs := chrt.Metadata.Dependencies
	if len(reqs) == 0 {
		return nil
	}
	if depth > maxDependencyDepth {
		return errs.Inputf("chart %s: dependencies nested more than %d levels deep", what, maxDependencyDepth)
	}
	locked := map[string]*chart.Dependency{}
	if chrt.Lock != nil {
		sum, err := lockDigest(reqs, chrt.Lock.Dependencies)
		if err != nil || sum != chrt.Lock.Digest {
			return errs.Inputf("chart %s: Chart.lock is out of sync with the dependencies in Chart.yaml; run `helm dependency update` and commit Chart.lock", what)
		}
		for _, d := range chrt.Lock.Dependencies {
			locked[d.Name+"\x00"+d.Repository] = d
		}
	}
	have := map[string]bool{}
	for _, sub := range chrt.Dependencies() {
		have[sub.Name()] = true
	}
	for _, req := range reqs {
		if have[req.Name] {
			continue // vendored in charts/
		}
		version := req.Version
		if l, ok := locked[req.Name+"\x00"+req.Repository]; ok {
			version = l.Version
		} else if chrt.Lock != nil {
			return errs.Inputf("chart %s: dependency %s is not in Chart.lock", what, req.Name)
		}
		sub, subWhat, subDir, err := r.fetchDependency(ctx, comp, req, version, what, dir)
		if err != nil {
			return err
		}
		if chrt.Lock != nil && sub.Metadata.Version != version {
			return errs.Inputf("chart %s: dependency %s is locked at %s in Chart.lock, but %s is %s", what, req.Name, version, subWhat, sub.Metadata.Version)
		}
		if err := r.addDependencies(ctx, comp, sub, subWhat, subDir, depth+1); err != nil {
			return err
		}
		chrt.AddDependency(sub)
		have[req.Name] = true
	}
	return nil
}

// fetchDependency loads one dependency of the chart what (in directory dir,
// "" when it is not a directory of the repository).
func (r *renderer) fetchDependency(ctx context.Context, comp config.Component, req *chart.Dependency, version, what, dir string) (*chart.Chart, string, string, error) {
	repoURL := req.Repository
	switch {
	case strings.HasPrefix(repoURL, "file://"):
		if dir == "" {
			return nil, "", "", errs.Inputf("chart %s: dependency %s is a file:// path, which only a chart directory in the repository can have", what, req.Name)
		}
		rel := strings.TrimPrefix(repoURL, "file://")
		relRoot, err := filepath.Rel(r.src.Root, filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, "", "", errs.Inputf("chart %s: dependency %s: %v", what, req.Name, err)
		}
		name := filepath.ToSlash(relRoot)
		abs, err := r.src.Resolve(name)
		if err != nil {
			return nil, "", "", fmt.Errorf("chart %s: dependency %s: %w", what, req.Name, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, "", "", errs.Inputf("chart %s: dependency %s: %s does not exist", what, req.Name, name)
		}
		subDir := ""
		if st.IsDir() {
			if err := source.CheckTree(r.src.Root, abs); err != nil {
				return nil, "", "", fmt.Errorf("chart %s: dependency %s: %w", what, req.Name, err)
			}
			subDir = abs
		}
		sub, err := loader.Load(abs)
		if err != nil {
			return nil, "", "", errs.Inputf("chart %s: dependency %s: %s", what, req.Name, r.relativize(err.Error()))
		}
		if c, err := semver.NewConstraint(version); version != "" && err == nil {
			if v, err := semver.NewVersion(sub.Metadata.Version); err == nil && !c.Check(v) {
				return nil, "", "", errs.Inputf("chart %s: dependency %s wants version %s, but %s is %s", what, req.Name, version, name, sub.Metadata.Version)
			}
		}
		return sub, name, subDir, nil
	case strings.HasPrefix(repoURL, "oci://"):
		ref := strings.TrimSuffix(repoURL, "/") + "/" + req.Name
		creds, err := r.depAuth(comp, repoURL)
		if err != nil {
			return nil, "", "", err
		}
		files, err := r.charts.pullOCI(ctx, ref, version, creds)
		if err != nil {
			return nil, "", "", fmt.Errorf("chart %s: dependency %s: %w", what, req.Name, err)
		}
		sub, err := loader.LoadFiles(files)
		if err != nil {
			return nil, "", "", errs.Inputf("chart %s: dependency %s from %s: %v", what, req.Name, ref, err)
		}
		return sub, ref + ":" + sub.Metadata.Version, "", nil
	case strings.HasPrefix(repoURL, "http://") || strings.HasPrefix(repoURL, "https://"):
		creds, err := r.depAuth(comp, repoURL)
		if err != nil {
			return nil, "", "", err
		}
		files, err := r.charts.pullRepo(ctx, repoURL, req.Name, version, creds)
		if err != nil {
			return nil, "", "", fmt.Errorf("chart %s: dependency %s: %w", what, req.Name, err)
		}
		sub, err := loader.LoadFiles(files)
		if err != nil {
			return nil, "", "", errs.Inputf("chart %s: dependency %s from %s: %v", what, req.Name, repoURL, err)
		}
		return sub, fmt.Sprintf("%s %s from %s", req.Name, sub.Metadata.Version, repoURL), "", nil
	case repoURL == "":
		return nil, "", "", errs.Inputf("chart %s: dependency %s has no repository and is not in the chart's charts/ directory", what, req.Name)
	default:
		return nil, "", "", errs.Inputf("chart %s: dependency %s names repository %q; envctl has no repository list: write its URL (https://, oci:// or file://) in Chart.yaml", what, req.Name, repoURL)
	}
}

// depAuth gives a dependency the credentials of its release: the named
// credential where the operator bound it (plain http to such a host is
// refused), and the repository's caFile on the host of the release's chart.
func (r *renderer) depAuth(comp config.Component, repoURL string) (*credentials, error) {
	h := comp.Helm
	if h.RepoAuth == nil {
		return nil, nil
	}
	if h.RepoAuth.Credential == "" {
		own := h.Repo
		if isOCI(h.Chart) {
			own = h.Chart
		}
		if own == "" || hostOf(own) != hostOf(repoURL) {
			return nil, nil
		}
	}
	return r.auth(h.RepoAuth, repoURL, true)
}

func hostOf(u string) string {
	p, err := url.Parse(strings.Replace(u, "oci://", "https://", 1))
	if err != nil {
		return ""
	}
	return p.Host
}

// lockDigest is the digest Helm writes into Chart.lock for the dependencies
// of Chart.yaml and the locked ones: sha256 of their JSON, as a pair.
func lockDigest(req, lock []*chart.Dependency) (string, error) {
	data, err := json.Marshal([2][]*chart.Dependency{req, lock})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
