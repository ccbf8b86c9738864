package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/envctl/envctl/internal/errs"
)

func newObject(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestClassify(t *testing.T) {
	deploy := newObject("apps/v1", "Deployment", "ml", "model-server")
	job := newObject("batch/v1", "Job", "ml", "migrate")
	svc := newObject("v1", "Service", "ml", "api")
	secret := newObject("v1", "Secret", "ml", "creds")
	const canary = "s3cr3t-canary-value"

	tests := []struct {
		name     string
		obj      *unstructured.Unstructured
		err      error
		kind     errs.Kind
		contains []string
		absent   []string
	}{
		{
			name: "apply conflict names field and manager",
			obj:  deploy,
			err: apierrors.NewApplyConflict([]metav1.StatusCause{{
				Type:    metav1.CauseTypeFieldManagerConflict,
				Message: `conflict with "kubectl-edit" using apps/v1 at 2026-01-01T00:00:00Z`,
				Field:   ".spec.replicas",
			}}, "Apply failed with 1 conflict"),
			kind:     errs.KindConflict,
			contains: []string{"apply Deployment.apps ml/model-server", ".spec.replicas", `"kubectl-edit"`, "--force-conflicts"},
		},
		{
			name: "immutable job template",
			obj:  job,
			err: apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "migrate", field.ErrorList{
				field.Invalid(field.NewPath("spec", "template"), "x", "field is immutable"),
			}),
			kind:     errs.KindConflict,
			contains: []string{"Job.batch ml/migrate", "spec.template", "immutable", "--force-recreate", "envctl.dev/force-recreate"},
		},
		{
			name: "service clusterIP may not change",
			obj:  svc,
			err: apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "api", field.ErrorList{
				field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), []string{"10.0.0.1"}, "may not change once set"),
			}),
			kind:     errs.KindConflict,
			contains: []string{"Service ml/api", "spec.clusterIPs[0]"},
		},
		{
			name: "invalid manifest is bad input",
			obj:  deploy,
			err: apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "model-server", field.ErrorList{
				field.Required(field.NewPath("spec", "selector"), ""),
			}),
			kind:     errs.KindInput,
			contains: []string{"Deployment.apps ml/model-server", "spec.selector"},
		},
		{
			name: "secret validation message is withheld",
			obj:  secret,
			err: apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "creds", field.ErrorList{
				field.Invalid(field.NewPath("data").Key("password"), canary, "bad"),
			}),
			kind:     errs.KindInput,
			contains: []string{"Secret ml/creds", "data[password]", "withheld"},
			absent:   []string{canary},
		},
		{
			name:     "missing namespace",
			obj:      deploy,
			err:      apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "ml"),
			kind:     errs.KindInput,
			contains: []string{"namespace"},
		},
		{
			name:     "server error is a cluster error",
			obj:      deploy,
			err:      apierrors.NewInternalError(errors.New("etcd unavailable")),
			kind:     errs.KindCluster,
			contains: []string{"Deployment.apps ml/model-server", "etcd unavailable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClassifyError(context.Background(), "apply", Describe(tt.obj), tt.obj, tt.err)
			if k := errs.KindOf(got); k != tt.kind {
				t.Errorf("kind = %v, want %v (%v)", k, tt.kind, got)
			}
			for _, s := range tt.contains {
				if !strings.Contains(got.Error(), s) {
					t.Errorf("error %q does not mention %q", got, s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(got.Error(), s) {
					t.Errorf("error %q contains %q", got, s)
				}
			}
		})
	}
}

func TestClassifyCanceled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	obj := newObject("v1", "ConfigMap", "ml", "c")
	got := ClassifyError(ctx, "apply", Describe(obj), obj, ctx.Err())
	if errs.KindOf(got) != errs.KindTimeout {
		t.Errorf("kind = %v, want timeout", errs.KindOf(got))
	}
}

func TestImmutableFieldsAndConflicts(t *testing.T) {
	err := apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "db", field.ErrorList{
		field.Invalid(field.NewPath("spec", "volumeClaimTemplates"), nil, "field is immutable"),
		field.Invalid(field.NewPath("spec", "selector"), nil, "field is immutable"),
		field.Required(field.NewPath("spec", "serviceName"), ""),
	})
	if diff := cmp.Diff([]string{"spec.selector", "spec.volumeClaimTemplates"}, immutableFields(err)); diff != "" {
		t.Errorf("immutableFields (-want +got):\n%s", diff)
	}
	conflict := apierrors.NewApplyConflict([]metav1.StatusCause{
		{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "hpa" with subresource "scale"`, Field: ".spec.replicas"},
		{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "kubectl" using v1`, Field: ".data.k"},
	}, "Apply failed with 2 conflicts")
	want := []FieldConflict{
		{Field: ".spec.replicas", Manager: `"hpa" with subresource "scale"`},
		{Field: ".data.k", Manager: `"kubectl"`},
	}
	if diff := cmp.Diff(want, fieldConflicts(conflict)); diff != "" {
		t.Errorf("fieldConflicts (-want +got):\n%s", diff)
	}
	if immutableFields(conflict) != nil || fieldConflicts(err) != nil {
		t.Error("an error was taken for the other kind")
	}
}
