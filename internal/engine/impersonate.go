package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/render"
)

// Impersonate returns a client like c that acts as service account sa
// (NAMESPACE:NAME): what an engine whose Config.ServiceAccount is sa
// writes objects with. The caller's own credentials must allow the
// impersonate verb on that service account.
func Impersonate(c *kube.Client, sa string) (*kube.Client, error) {
	if err := config.CheckServiceAccount(sa); err != nil {
		return nil, errs.Input(err)
	}
	ns, name, _ := config.ServiceAccount(sa)
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + name}
	out, err := kube.New(cfg)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	return out, nil
}

// checkServiceAccount refuses an environment that names another service
// account than the one the engine writes as: the environment file is in
// the repository, and only the operator chooses whom envctl acts as.
func (e *Engine) checkServiceAccount(d *Declared) error {
	declared := d.Env.Spec.ServiceAccountName
	switch {
	case e.setupErr != nil:
		return e.setupErr
	case declared == "" || declared == e.serviceAccount:
		return nil
	case e.serviceAccount == "":
		return errs.Inputf("environment %s: spec.serviceAccountName %s: the daemon acts as that service account only when the operator says so "+
			"(envctl daemon install %s --service-account %s); it was not told to",
			d.Env.Name(), declared, d.Env.Name(), declared)
	default:
		return errs.Inputf("environment %s: spec.serviceAccountName %s is not the service account envctl was told to act as (%s); "+
			"the operator's choice stands: change the environment file, or install the daemon with --service-account %s",
			d.Env.Name(), declared, e.serviceAccount, declared)
	}
}

// checkAccess asks the API server, as the service account the run writes
// as, whether it may apply every object and hook rendered, before any is
// written: an object beyond its RBAC stops the run with an error naming
// it, and nothing is applied. A run that does not impersonate checks
// nothing.
func (r *run) checkAccess(ctx context.Context, rendered *render.Result) error {
	if r.opts.ServiceAccount == "" {
		return nil
	}
	var objs []*unstructured.Unstructured
	for _, c := range rendered.Components {
		objs = append(objs, c.Objects...)
		for _, h := range c.Hooks {
			objs = append(objs, h.Object)
		}
	}
	reviews := r.opts.Client.Clientset.AuthorizationV1().SelfSubjectAccessReviews()
	may := func(verb string, o *unstructured.Unstructured, mapping *meta.RESTMapping, name string) (bool, error) {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: verb, Group: mapping.Resource.Group, Resource: mapping.Resource.Resource,
				Namespace: o.GetNamespace(), Name: name,
			},
		}}
		out, err := reviews.Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return false, errs.Cluster(fmt.Errorf("ask whether service account %s may write %s: %w", r.opts.ServiceAccount, object.RefOf(o), err))
		}
		return out.Status.Allowed, nil
	}
	var denied []string
	listed := map[string]bool{}
	for _, o := range objs {
		mapping, err := r.opts.Client.Mapper.Mapping(ctx, o.GroupVersionKind())
		if err != nil {
			continue // a kind not served yet (its CRD comes first): the apply reports it
		}
		o = apply.InScope(o, mapping)
		// The apply lists each kind in each namespace to read the live
		// objects.
		if where := o.GetKind() + " in " + cmp.Or(o.GetNamespace(), "the cluster"); !listed[where] {
			listed[where] = true
			if ok, err := may("list", o, mapping, ""); err != nil {
				return err
			} else if !ok {
				denied = append(denied, where+" (list)")
			}
		}
		var refused []string
		// Server-side apply is a patch, which creates the object when
		// it is missing.
		for _, verb := range []string{"patch", "create"} {
			ok, err := may(verb, o, mapping, o.GetName())
			if err != nil {
				return err
			}
			if !ok {
				refused = append(refused, verb)
			}
		}
		if len(refused) > 0 {
			denied = append(denied, fmt.Sprintf("%s (%s)", object.RefOf(o), strings.Join(refused, ", ")))
		}
	}
	if len(denied) == 0 {
		return nil
	}
	return errs.Input(errors.New("service account " + r.opts.ServiceAccount + ", which environment " + r.env +
		" is applied as, may not write: " + strings.Join(denied, "; ") + "; nothing was applied. Grant it those objects, or remove them from the environment"))
}
