package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	orasregistry "oras.land/oras-go/v2/registry"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/errs"
)

// DefaultChartCacheDir is where charts pulled from repositories and
// registries are kept: $XDG_CACHE_HOME/envctl/charts, or the platform's
// equivalent.
func DefaultChartCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("chart cache: %w", err)
	}
	return filepath.Join(dir, "envctl", "charts"), nil
}

// maxChartSize bounds what a chart download may weigh, so that a broken
// server cannot fill the disk.
const maxChartSize = 64 << 20

// chartCache pulls remote charts once and serves them from disk afterwards,
// so that only the first render of a remote chart needs the network. Entries
// are keyed by repository (or registry and repository), chart and exact
// version; a version is never re-downloaded.
type chartCache struct {
	dir  string
	http *http.Client
	log  *slog.Logger
	// credentialsFile overrides Helm's registry credentials file (tests).
	credentialsFile string

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func newChartCache(dir string, log *slog.Logger) *chartCache {
	return &chartCache{
		dir:   dir,
		http:  &http.Client{Timeout: 2 * time.Minute},
		log:   log,
		locks: map[string]*sync.Mutex{},
	}
}

// lock serialises pulls of one cache entry, so that two components using the
// same chart download it once.
func (c *chartCache) lock(key string) func() {
	c.mu.Lock()
	l, ok := c.locks[key]
	if !ok {
		l = &sync.Mutex{}
		c.locks[key] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// offlineHint is appended to network failures.
func (c *chartCache) offlineHint() string {
	return fmt.Sprintf("the first render of a remote chart needs network access; later renders use the cache in %s", c.dir)
}

// pullRepo returns the files of chart name at version (an exact version or
// a semver constraint) from the HTTP chart repository at repoURL.
func (c *chartCache) pullRepo(ctx context.Context, repoURL, name, version string, creds *credentials) ([]*loader.BufferedFile, error) {
	u, err := url.Parse(repoURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.Inputf("chart repository %q is not an http(s) URL", repoURL)
	}
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, errs.Inputf("chart name %q in repository %s is not a chart name", name, repoURL)
	}
	dir := filepath.Join(c.dir, "repo", cacheKey(u.Host+u.Path), name)
	unlock := c.lock(dir)
	defer unlock()

	// An exact version already in the cache needs no index.
	if v, err := semver.StrictNewVersion(strings.TrimPrefix(version, "v")); err == nil {
		if files, ok := c.cached(filepath.Join(dir, name+"-"+v.Original()+".tgz")); ok {
			return files, nil
		}
		if files, ok := c.cached(filepath.Join(dir, name+"-"+version+".tgz")); ok {
			return files, nil
		}
	}

	idx, err := c.index(ctx, repoURL, creds)
	if err != nil {
		return nil, err
	}
	cv, err := idx.Get(name, version)
	if err != nil {
		return nil, errs.Inputf("chart %q version %q is not in repository %s", name, version, repoURL)
	}
	file := filepath.Join(dir, name+"-"+cv.Version+".tgz")
	if files, ok := c.cached(file); ok {
		return files, nil
	}
	if len(cv.URLs) == 0 {
		return nil, errs.Inputf("chart %s %s in repository %s has no download URL", name, cv.Version, repoURL)
	}
	chartURL, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, errs.Inputf("chart %s %s in repository %s: %v", name, cv.Version, repoURL, err)
	}
	c.log.Info("pulling chart", "repo", repoURL, "chart", name, "version", cv.Version)
	data, err := c.get(ctx, chartURL, creds.forURL(chartURL))
	if err != nil {
		return nil, fmt.Errorf("download chart %s %s: %w (%s)", name, cv.Version, err, c.offlineHint())
	}
	if cv.Digest != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, cv.Digest) {
			return nil, errs.Inputf("chart %s %s from %s: digest mismatch: the repository index says sha256:%s, the download is sha256:%s",
				name, cv.Version, chartURL, cv.Digest, got)
		}
	}
	files, err := loader.LoadArchiveFiles(bytes.NewReader(data))
	if err != nil {
		return nil, errs.Inputf("chart %s %s from %s: %v", name, cv.Version, chartURL, err)
	}
	if err := writeAtomic(file, data); err != nil {
		return nil, fmt.Errorf("chart cache: %w", err)
	}
	return files, nil
}

// index fetches and parses a repository's index.yaml.
func (c *chartCache) index(ctx context.Context, repoURL string, creds *credentials) (*repo.IndexFile, error) {
	indexURL := strings.TrimSuffix(repoURL, "/") + "/index.yaml"
	data, err := c.get(ctx, indexURL, creds.forURL(indexURL))
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.code == http.StatusNotFound {
			return nil, errs.Inputf("chart repository %s has no index.yaml (%s answered 404)", repoURL, indexURL)
		}
		if errors.As(err, &se) && (se.code == http.StatusUnauthorized || se.code == http.StatusForbidden) {
			return nil, errs.Inputf("chart repository %s refused the request (%d %s): %s", repoURL, se.code, http.StatusText(se.code), creds.hint())
		}
		return nil, fmt.Errorf("fetch index of chart repository %s: %w (%s)", repoURL, err, c.offlineHint())
	}
	idx := &repo.IndexFile{}
	if err := yaml.Unmarshal(data, idx); err != nil {
		return nil, errs.Inputf("index of chart repository %s: %v", repoURL, err)
	}
	if idx.APIVersion == "" {
		return nil, errs.Inputf("index of chart repository %s has no apiVersion", repoURL)
	}
	idx.SortEntries()
	return idx, nil
}

type statusError struct {
	url  string
	code int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.code, http.StatusText(e.code))
}

func (c *chartCache) get(ctx context.Context, u string, creds *credentials) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	client := c.http
	if user, password, ok := creds.basic(); ok {
		req.SetBasicAuth(user, password)
	}
	if creds != nil && creds.client != nil {
		client = creds.client
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{url: u, code: resp.StatusCode}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxChartSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(data) > maxChartSize {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", u, maxChartSize)
	}
	return data, nil
}

// cached loads a cache entry; a missing or unreadable entry is a miss.
func (c *chartCache) cached(file string) ([]*loader.BufferedFile, bool) {
	f, err := os.Open(file)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	files, err := loader.LoadArchiveFiles(f)
	if err != nil {
		c.log.Warn("ignoring unreadable chart in cache", "file", file, "err", err)
		return nil, false
	}
	c.log.Debug("chart from cache", "file", file)
	return files, true
}

// ociRef is a parsed oci:// chart reference.
type ociRef struct {
	Registry   string
	Repository string
	Tag        string
}

func (r ociRef) String() string { return r.Registry + "/" + r.Repository + ":" + r.Tag }

// parseOCIRef parses chart (oci://registry/repository) and version into a
// reference. The version is the tag, with '+' written as '_' as Helm pushes
// it; a tag or digest in the reference itself is refused, since the version
// field is where envctl reads it from.
func parseOCIRef(chart, version string) (ociRef, error) {
	rest, ok := strings.CutPrefix(chart, "oci://")
	if !ok {
		return ociRef{}, errs.Inputf("chart %q is not an oci:// reference", chart)
	}
	if version == "" {
		return ociRef{}, errs.Inputf("chart %s: a version is required for OCI charts", chart)
	}
	if strings.Contains(rest, "@") {
		return ociRef{}, errs.Inputf("chart %s: give the version in the version field, not as a digest in the reference", chart)
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		return ociRef{}, errs.Inputf("chart %s: give the version in the version field, not as a tag in the reference", chart)
	}
	tag := strings.ReplaceAll(version, "+", "_")
	ref, err := orasregistry.ParseReference(rest + ":" + tag)
	if err != nil {
		return ociRef{}, errs.Inputf("chart %s version %s: invalid OCI reference: %v", chart, version, err)
	}
	return ociRef{Registry: ref.Registry, Repository: ref.Repository, Tag: ref.Reference}, nil
}

func isOCI(chart string) bool { return strings.HasPrefix(chart, "oci://") }

// pullOCI returns the files of the chart at chart (oci://...) and version
// (a tag, or a semver constraint resolved against the tags). The tag is
// resolved to a manifest digest on every render, so that a tag moved to
// another chart is seen, and the cache is keyed by digest. When the
// registry cannot be reached, the digest the tag last resolved to is used,
// with a warning. The registry client verifies every blob against its digest.
func (c *chartCache) pullOCI(ctx context.Context, chart, version string, creds *credentials) ([]*loader.BufferedFile, error) {
	// A semver constraint (a dependency's "^1.2.0") is resolved against the
	// repository's tags; anything else is the tag itself.
	constraint := ""
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(version, "v")); err != nil {
		if _, cerr := semver.NewConstraint(version); cerr == nil && strings.ContainsAny(version, "^~<>=*xX, |") {
			constraint, version = version, "0.0.0"
		}
	}
	ref, err := parseOCIRef(chart, version)
	if err != nil {
		return nil, err
	}
	client, err := c.registryClient(ref.Registry, creds)
	if err != nil {
		return nil, err
	}
	if constraint != "" {
		tag, err := c.resolveOCIConstraint(ctx, client, ref, constraint)
		if err != nil {
			return nil, err
		}
		ref.Tag = tag
	}
	dir := filepath.Join(c.dir, "oci", cacheKey(ref.Registry), filepath.FromSlash(ref.Repository))
	unlock := c.lock(dir)
	defer unlock()
	tagFile := filepath.Join(dir, ref.Tag+".digest")

	digest, err := ociCall(ctx, func() (string, error) {
		desc, err := client.Resolve(ref.String())
		return string(desc.Digest), err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last, rerr := os.ReadFile(tagFile)
		if rerr == nil {
			if files, ok := c.cached(filepath.Join(dir, digestFile(string(last)))); ok {
				c.log.Warn("registry unreachable; using the chart the tag resolved to last time", "ref", "oci://"+ref.String(), "digest", string(last), "err", err)
				return files, nil
			}
		}
		return nil, fmt.Errorf("resolve chart oci://%s in registry %s: %w (%s)", ref, ref.Registry, err, c.offlineHint())
	}
	file := filepath.Join(dir, digestFile(digest))
	if files, ok := c.cached(file); ok {
		_ = writeAtomic(tagFile, []byte(digest))
		return files, nil
	}

	c.log.Info("pulling chart", "ref", "oci://"+ref.String(), "digest", digest)
	res, err := ociCall(ctx, func() (*registry.PullResult, error) {
		return client.Pull(ref.Registry+"/"+ref.Repository+"@"+digest, registry.PullOptWithChart(true))
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pull chart oci://%s from registry %s: %w (%s)", ref, ref.Registry, err, c.offlineHint())
	}
	files, err := loader.LoadArchiveFiles(bytes.NewReader(res.Chart.Data))
	if err != nil {
		return nil, errs.Inputf("chart oci://%s: %v", ref, err)
	}
	if err := writeAtomic(file, res.Chart.Data); err != nil {
		return nil, fmt.Errorf("chart cache: %w", err)
	}
	if err := writeAtomic(tagFile, []byte(digest)); err != nil {
		return nil, fmt.Errorf("chart cache: %w", err)
	}
	return files, nil
}

// resolveOCIConstraint picks the highest tag of the repository that
// satisfies a semver constraint, as Helm does for OCI dependencies.
func (c *chartCache) resolveOCIConstraint(ctx context.Context, client *registry.Client, ref ociRef, constraint string) (string, error) {
	cons, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", errs.Inputf("chart oci://%s/%s: version %q is neither a tag nor a semver constraint", ref.Registry, ref.Repository, constraint)
	}
	tags, err := ociCall(ctx, func() ([]string, error) { return client.Tags(ref.Registry + "/" + ref.Repository) })
	if err != nil {
		return "", fmt.Errorf("list tags of oci://%s/%s: %w (%s)", ref.Registry, ref.Repository, err, c.offlineHint())
	}
	for _, t := range tags { // highest first
		if v, err := semver.NewVersion(t); err == nil && cons.Check(v) {
			return strings.ReplaceAll(t, "+", "_"), nil
		}
	}
	return "", errs.Inputf("no tag of oci://%s/%s satisfies version %q (tags: %s)", ref.Registry, ref.Repository, constraint, strings.Join(tags, ", "))
}

// registryClient builds a Helm registry client for a registry: the
// operator's credential from creds, else Helm's registry config with
// Docker's config as fallback; plain HTTP only to a registry on this
// machine, and never with a credential.
func (c *chartCache) registryClient(host string, creds *credentials) (*registry.Client, error) {
	hc := &http.Client{Timeout: 2 * time.Minute}
	if creds != nil && creds.client != nil {
		hc = creds.client
	}
	opts := []registry.ClientOption{
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptHTTPClient(hc),
	}
	user, password, withCredential := creds.basic()
	if isLoopback(host) && !withCredential && (creds == nil || creds.client == nil) {
		// Like container runtimes, talk plain HTTP to a registry on this
		// machine unless told of a CA; everything else needs TLS.
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	if withCredential {
		// Helm's client offers these to any host that asks; the guard of
		// creds.client lets them reach only the credential's hosts.
		opts = append(opts, registry.ClientOptBasicAuth(user, password))
	}
	if c.credentialsFile != "" {
		opts = append(opts, registry.ClientOptCredentialsFile(c.credentialsFile))
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	return client, nil
}

// ociCall runs a call of Helm's registry client, which takes no context:
// the HTTP client's timeout bounds it, and a cancelled render stops waiting.
func ociCall[T any](ctx context.Context, call func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	select {
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	case r := <-done:
		return r.v, r.err
	}
}

// digestFile is the cache file of a chart by manifest digest.
func digestFile(digest string) string {
	return strings.ReplaceAll(digest, ":", "-") + ".tgz"
}

func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// cacheKey turns a host and path into one safe directory name that stays
// readable: unsafe characters become '_' and a short hash keeps distinct
// inputs apart.
func cacheKey(s string) string {
	s = strings.TrimSuffix(s, "/")
	sum := sha256.Sum256([]byte(s))
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String() + "-" + hex.EncodeToString(sum[:4])
}

// writeAtomic writes data to file through a temporary file and a rename, so
// that a concurrent or interrupted render never reads half a chart.
func writeAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".pull-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
