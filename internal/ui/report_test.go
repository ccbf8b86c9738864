package ui

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/syncstate"
)

func TestWriteSuspended(t *testing.T) {
	for _, tt := range []struct {
		format  string
		suspend bool
		st      *syncstate.Status
		want    string
	}{
		{"text", true, &syncstate.Status{Holder: "envctl daemon (pid 1 on pod)"}, "environment dev suspended (acknowledged by envctl daemon (pid 1 on pod))\n"},
		{"text", false, nil, "environment dev resumed; no sync or daemon runs now, the next one starts resumed\n"},
		{"json", true, nil, "{\n  \"acknowledged\": false,\n  \"environment\": \"dev\",\n  \"suspended\": true\n}\n"},
	} {
		var b bytes.Buffer
		if err := WriteSuspended(&b, tt.format, "dev", tt.suspend, tt.st); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, b.String()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.format, diff)
		}
	}
}

func TestDownPlan(t *testing.T) {
	ref := func(group, kind, ns, name string) inventory.Entry {
		return inventory.Entry{Ref: object.Ref{Group: group, Version: "v1", Kind: kind, Namespace: ns, Name: name}}
	}
	inv := &inventory.Inventory{Entries: []inventory.Entry{
		ref("", "Namespace", "", "ml"), ref("apps", "Deployment", "ml", "web"), ref("", "ConfigMap", "ml", "a"), ref("", "ConfigMap", "tools", "b"),
	}}
	p := PlanDown("ci", inv, &cluster.Target{Name: "envctl-ci"}, true)
	var b bytes.Buffer
	p.Write(&b)
	want := `envctl down ci deletes, on cluster envctl-ci:
  2  ConfigMap
  1  Deployment.apps
  1  Namespace
  4 objects in all, in namespaces ml, tools
  and then the cluster envctl-ci itself, with everything in it
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if p.What() != "4 objects and cluster envctl-ci" || p.Empty() {
		t.Errorf("What = %q, Empty = %v", p.What(), p.Empty())
	}
	// A cluster reached through a kubeconfig is named by its server.
	if p := PlanDown("ci", nil, &cluster.Target{Name: "envctl-ci", Config: &rest.Config{Host: "https://10.0.0.1"}}, false); p.Cluster != "https://10.0.0.1" || !p.Empty() {
		t.Errorf("plan of nothing = %+v", p)
	}
}

func TestHumanAge(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m", 5 * time.Hour: "5h", 80 * time.Hour: "3d"} {
		if got := HumanAge(d); got != want {
			t.Errorf("HumanAge(%v) = %q, want %q", d, got, want)
		}
	}
}
