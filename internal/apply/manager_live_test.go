package apply

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/envctl/envctl/internal/object"
)

func labelled(obj *unstructured.Unstructured, component string) *unstructured.Unstructured {
	obj.SetLabels(map[string]string{"envctl.dev/environment": "ci", "envctl.dev/component": component})
	return obj
}

// TestLiveForSharedRead checks that an Apply given a Live read for every
// component sees exactly its own component's live objects and makes no
// request when the Live covers all its kinds: the Manager here has no
// client, so any request would panic.
func TestLiveForSharedRead(t *testing.T) {
	web := labelled(newObject("apps/v1", "Deployment", "ml", "web"), "serving")
	cfg := labelled(newObject("v1", "ConfigMap", "ml", "web"), "serving")
	grafana := labelled(newObject("apps/v1", "Deployment", "monitoring", "grafana"), "monitoring")
	moved := labelled(newObject("v1", "ConfigMap", "ml", "moved"), "monitoring")
	shared := &Live{
		objs: map[object.Key]*unstructured.Unstructured{},
		kinds: map[schema.GroupVersionKind]bool{
			{Group: "apps", Version: "v1", Kind: "Deployment"}: true,
			{Version: "v1", Kind: "ConfigMap"}:                 true,
		},
	}
	for _, o := range []*unstructured.Unstructured{web, cfg, grafana, moved} {
		shared.objs[object.RefOf(o).Key()] = o
	}
	m := &Manager{}

	tests := []struct {
		name      string
		objs      []*unstructured.Unstructured
		selector  string
		wantNames []string
	}{
		{
			name:      "the component's objects only",
			objs:      []*unstructured.Unstructured{web, cfg},
			selector:  "envctl.dev/component=serving,envctl.dev/environment=ci",
			wantNames: []string{"ml/web", "ml/web"},
		},
		{
			// Rendered now in serving, still labelled monitoring on the
			// cluster: not serving's live object, so it is applied, as it
			// was when each component listed its own.
			name:      "an object labelled for another component",
			objs:      []*unstructured.Unstructured{labelled(newObject("v1", "ConfigMap", "ml", "moved"), "serving")},
			selector:  "envctl.dev/component=serving,envctl.dev/environment=ci",
			wantNames: []string{"ml/web", "ml/web"},
		},
		{
			name:      "another component",
			objs:      []*unstructured.Unstructured{grafana},
			selector:  "envctl.dev/component=monitoring,envctl.dev/environment=ci",
			wantNames: []string{"ml/moved", "monitoring/grafana"},
		},
		{
			name:      "no selector reads nothing",
			objs:      []*unstructured.Unstructured{web},
			selector:  "",
			wantNames: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live, err := m.liveFor(context.Background(), tt.objs, Options{Selector: tt.selector, Live: shared})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range live {
				got = append(got, o.GetNamespace()+"/"+o.GetName())
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.wantNames, got); diff != "" {
				t.Errorf("live objects (-want +got):\n%s", diff)
			}
		})
	}
}
