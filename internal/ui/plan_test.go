package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/plan"
)

func samplePlan() *plan.Plan {
	cm := object.Ref{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: "model-config"}
	dep := object.Ref{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ml", Name: "server"}
	sec := object.Ref{Version: "v1", Kind: "Secret", Namespace: "ml", Name: "db"}
	return &plan.Plan{
		Environment: "ci",
		Warnings:    []string{"the apply would prune nothing: refusing to prune"},
		Items: []plan.Item{
			{Ref: cm, Component: "serving", Action: plan.Change, Diff: "--- ConfigMap ml/model-config (live)\n+++ ConfigMap ml/model-config (after apply)\n@@ -1,3 +1,3 @@\n data:\n-  batch: \"8\"\n+  batch: \"16\"\n kind: ConfigMap\n"},
			{Ref: sec, Component: "serving", Action: plan.Change, Diff: "--- Secret ml/db (live)\n+++ Secret ml/db (after apply)\n@@ -1,2 +1,2 @@\n data:\n-  password: (sensitive value)\n+  password: (sensitive value changed)\n"},
			{Ref: dep, Component: "serving", Action: plan.Unchanged},
			{Ref: object.Ref{Group: "ml.dev", Version: "v1", Kind: "Model", Namespace: "ml", Name: "resnet"}, Component: "serving", Action: plan.Create,
				Note: "its kind is defined by CustomResourceDefinition models.ml.dev, which this apply creates or updates; shown as rendered, without a dry-run",
				Diff: "--- /dev/null\n+++ Model.ml.dev ml/resnet (after apply)\n@@ -0,0 +1,2 @@\n+apiVersion: ml.dev/v1\n+kind: Model\n"},
			{Ref: object.Ref{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: "old"}, Component: "serving", Action: plan.Prune},
			{Ref: object.Ref{Version: "v1", Kind: "Namespace", Name: "legacy"}, Component: "platform", Action: plan.Orphan, Note: "not deleted: a Namespace"},
			{Ref: object.Ref{Version: "v1", Kind: "Service", Namespace: "ml", Name: "bad"}, Component: "serving", Action: plan.Error, Error: "dry-run Service ml/bad (component serving): Service \"bad\" is invalid: spec.ports: Required value"},
		},
	}
}

func TestWritePlanText(t *testing.T) {
	for _, tt := range []struct {
		name  string
		color bool
	}{
		{name: "diff-plain.golden"},
		{name: "diff-color.golden", color: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			p := samplePlan()
			p.Revision = "main@sha1:0123456789abcdef0123456789abcdef01234567"
			if err := WritePlan(&out, &errOut, p, "text", tt.color); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, out.Bytes())
			if hasColor := strings.Contains(out.String(), "\x1b["); hasColor != tt.color {
				t.Errorf("colour escapes present = %v, want %v", hasColor, tt.color)
			}
			wantErr := "Warning: the apply would prune nothing: refusing to prune\n" +
				"Environment ci at main@sha1:0123456789abcdef0123456789abcdef01234567: 1 to create, 2 to change, 1 to prune, 1 unchanged, 1 left in the cluster untracked, 1 failed.\n"
			if diff := cmp.Diff(wantErr, errOut.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWritePlanJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := WritePlan(&out, &errOut, samplePlan(), "json", true); err != nil {
		t.Fatal(err)
	}
	var items []DiffItem
	if err := json.Unmarshal(out.Bytes(), &items); err != nil {
		t.Fatalf("-o json printed no JSON list: %v\n%s", err, out.String())
	}
	if len(items) != len(samplePlan().Items) || items[0].Action != plan.Change || items[2].Action != plan.Unchanged {
		t.Errorf("-o json items = %+v; want every item of the plan, unchanged ones included", items)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Error("-o json has colour escapes")
	}
}
