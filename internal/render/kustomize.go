package render

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// openAPIMu serialises kustomize builds around kustomize's process-wide
// OpenAPI schema: a build whose kustomization sets `openapi:` replaces it for
// the duration of the build, so it runs alone; the others share.
var openAPIMu sync.RWMutex

// scanKustomize checks the kustomization tree of component c before it is
// built (remote references, paths leaving the repository, missing files),
// so that those errors name the kustomization file, line and entry rather
// than surfacing from deep inside kustomize.
func (r *renderer) scanKustomize(c config.Component) (*kscan, error) {
	dir := c.Kustomize
	abs, err := r.src.Resolve(dir)
	if err != nil {
		return nil, fmt.Errorf("kustomization %s: %w", dir, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, errs.Inputf("kustomization directory %q does not exist", dir)
	}
	sc := &kscan{root: r.src.Root, abs: abs, allowRemote: r.settings.AllowRemoteBases, seen: map[string]bool{}}
	if err := sc.dir(path.Clean(dir), ""); err != nil {
		return nil, err
	}
	return sc, nil
}

// buildKustomize renders the kustomization of component c, which sc has
// scanned.
func (r *renderer) buildKustomize(ctx context.Context, c config.Component, sc *kscan) ([]*unstructured.Unstructured, error) {
	dir, abs := c.Kustomize, sc.abs
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	if sc.openAPI {
		openAPIMu.Lock()
		defer openAPIMu.Unlock()
	} else {
		openAPIMu.RLock()
		defer openAPIMu.RUnlock()
	}
	cfs := newConfinedFS(r.src.Root, r.settings.AllowRemoteBases)
	if c.Decrypts() {
		// Resources, patches and generator files alike are decrypted as
		// kustomize reads them, in memory.
		cfs.decrypt = func(p string, data []byte) ([]byte, error) {
			return r.decrypt(c.Name, data, filepath.ToSlash(relOrAbs(r.src.Root, p)))
		}
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(cfs, abs)
	if err != nil {
		if esc := cfs.escape(); esc != nil {
			return nil, errs.Input(fmt.Errorf("kustomize build %s: %w", dir, esc))
		}
		if bad := sc.malformed(); bad != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", dir, bad)
		}
		return nil, errs.Inputf("kustomize build %s: %s", dir, r.relativize(err.Error()))
	}
	objs := make([]*unstructured.Unstructured, 0, resMap.Size())
	for _, res := range resMap.Resources() {
		obj, err := resourceObject(res.RNode.Map)
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, res.CurId(), err)
		}
		if err := prepareObject(obj); err != nil {
			return nil, errs.Inputf("kustomize build %s: %v", dir, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// resourceObject turns a kustomize resource into an unstructured object by
// decoding its YAML node directly, which is what a JSON round trip would
// give at a fraction of the cost: integers as int64, floats with an integral
// value as int64 too (JSON does not tell them apart), and only string-keyed
// maps. The decoder's own error is not passed on, since it quotes the whole
// resource, Secret data included.
func resourceObject(decode func() (map[string]any, error)) (*unstructured.Unstructured, error) {
	m, err := decode()
	if err != nil {
		return nil, errors.New("cannot decode the resource")
	}
	v, err := jsonValue(m)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: v.(map[string]any)}, nil
}

// jsonValue converts a YAML-decoded value to the types of decoded JSON.
func jsonValue(v any) (any, error) {
	switch t := v.(type) {
	case nil, string, bool, int64:
		return t, nil
	case time.Time:
		// An unquoted timestamp (2001-12-14): `kustomize build` writes it
		// as its JSON form, and so kubectl sends that.
		return t.Format(time.RFC3339Nano), nil
	case int:
		return int64(t), nil
	case uint64:
		if t > math.MaxInt64 {
			return float64(t), nil
		}
		return int64(t), nil
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<63 {
			return int64(t), nil
		}
		return t, nil
	case map[string]any:
		for k, e := range t {
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			t[k] = c
		}
		return t, nil
	case []any:
		for i, e := range t {
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			t[i] = c
		}
		return t, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("a map key of type %T; Kubernetes objects have string keys only", k)
			}
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	default:
		return nil, fmt.Errorf("a value of type %T, which has no JSON form", v)
	}
}

// relativize strips the repository root from paths in a tool's message, so
// that errors read the same on every machine and name repo paths.
func (r *renderer) relativize(msg string) string {
	return strings.ReplaceAll(msg, r.src.Root+"/", "")
}
