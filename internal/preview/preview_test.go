package preview

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/render"
)

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func result(comps ...*render.Component) *render.Result {
	return &render.Result{Environment: "dev", Components: comps}
}

const (
	deployV1 = `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: demo}, spec: {replicas: 1}}`
	deployV2 = `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: demo}, spec: {replicas: 3}}`
	cmOld    = `{apiVersion: v1, kind: ConfigMap, metadata: {name: old, namespace: demo}, data: {a: "1"}}`
	cmNew    = `{apiVersion: v1, kind: ConfigMap, metadata: {name: new, namespace: demo}, data: {b: "2"}}`
	secretA  = `{apiVersion: v1, kind: Secret, metadata: {name: creds, namespace: demo}, data: {password: Y2FuYXJ5LWFscGhh, user: YWRtaW4=}}`
	secretB  = `{apiVersion: v1, kind: Secret, metadata: {name: creds, namespace: demo}, data: {password: Y2FuYXJ5LWJyYXZv, user: YWRtaW4=}}`
	secretC  = `{apiVersion: v1, kind: Secret, metadata: {name: creds, namespace: demo, labels: {tier: db}}, data: {password: Y2FuYXJ5LWFscGhh, user: YWRtaW4=}}`
)

// secretValues are the values of the Secrets above, encoded and decoded:
// none may appear in any output.
var secretValues = []string{"Y2FuYXJ5LWFscGhh", "Y2FuYXJ5LWJyYXZv", "canary-alpha", "canary-bravo", "YWRtaW4=", "admin"}

func TestCompare(t *testing.T) {
	base := result(
		&render.Component{Name: "app", Objects: []*unstructured.Unstructured{obj(t, secretA), obj(t, cmOld), obj(t, deployV1)}},
		&render.Component{Name: "gone", Objects: []*unstructured.Unstructured{obj(t, cmOld)}},
	)
	head := result(
		&render.Component{Name: "fresh", Objects: []*unstructured.Unstructured{obj(t, cmNew)}},
		&render.Component{Name: "app", Objects: []*unstructured.Unstructured{obj(t, secretB), obj(t, cmNew), obj(t, deployV2)}},
	)
	comps, total, err := Compare(base, head, "main", "work tree")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Added: 2, Removed: 2, Changed: 2}); total != want {
		t.Errorf("counts %+v, want %+v", total, want)
	}
	var names []string
	for _, c := range comps {
		names = append(names, c.Name)
	}
	// The head's order, then what only the base has.
	if got := strings.Join(names, ","); got != "fresh,app,gone" {
		t.Errorf("components %s, want fresh,app,gone", got)
	}
	app := comps[1]
	var got []string
	for _, ch := range app.Changes {
		got = append(got, string(ch.Action)+" "+ch.Ref.String())
	}
	want := "changed Secret demo/creds|added ConfigMap demo/new|changed Deployment.apps demo/web|removed ConfigMap demo/old"
	if strings.Join(got, "|") != want {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "|"), want)
	}
	secret := app.Changes[0].Diff
	if !strings.Contains(secret, "-  password: (sensitive value)\n+  password: (sensitive value changed)\n") {
		t.Errorf("the changed Secret value is not shown as changed:\n%s", secret)
	}
	if !strings.Contains(app.Changes[2].Diff, "-  replicas: 1\n+  replicas: 3\n") {
		t.Errorf("deployment diff:\n%s", app.Changes[2].Diff)
	}
	if !strings.HasPrefix(app.Changes[3].Diff, "--- ConfigMap demo/old (main)\n+++ /dev/null\n") {
		t.Errorf("removed object's diff:\n%s", app.Changes[3].Diff)
	}

	// A Secret whose values are the same but whose labels changed: the
	// values read as unchanged.
	comps, _, err = Compare(result(&render.Component{Name: "app", Objects: []*unstructured.Unstructured{obj(t, secretA)}}),
		result(&render.Component{Name: "app", Objects: []*unstructured.Unstructured{obj(t, secretC)}}), "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	d := comps[0].Changes[0].Diff
	if strings.Contains(d, "changed)") || !strings.Contains(d, "+    tier: db") {
		t.Errorf("a label change on a Secret:\n%s", d)
	}
}

func TestCompareNoChangesAndOneSide(t *testing.T) {
	r := result(&render.Component{Name: "app", Objects: []*unstructured.Unstructured{obj(t, deployV1), obj(t, secretA)}})
	_, total, err := Compare(r, result(&render.Component{Name: "app", Objects: []*unstructured.Unstructured{obj(t, deployV1), obj(t, secretA)}}), "a", "b")
	if err != nil || total.Any() || total.Unchanged != 2 {
		t.Errorf("same renders: %+v, %v", total, err)
	}
	// A new environment: everything is added.
	comps, total, err := Compare(nil, r, "a", "b")
	if err != nil || total != (Counts{Added: 2}) {
		t.Fatalf("new environment: %+v, %v", total, err)
	}
	for _, v := range secretValues {
		if strings.Contains(comps[0].Changes[1].Diff, v) {
			t.Errorf("an added Secret's diff shows %q:\n%s", v, comps[0].Changes[1].Diff)
		}
	}
}

func sampleReport(t *testing.T) *Report {
	t.Helper()
	base := result(&render.Component{Name: "app", Objects: []*unstructured.Unstructured{obj(t, secretA), obj(t, cmOld), obj(t, deployV1)}},
		&render.Component{Name: "quiet", Objects: []*unstructured.Unstructured{obj(t, cmNew)}})
	head := result(&render.Component{Name: "app", Objects: []*unstructured.Unstructured{obj(t, secretB), obj(t, cmNew), obj(t, deployV2)}},
		&render.Component{Name: "quiet", Objects: []*unstructured.Unstructured{obj(t, cmNew)}})
	comps, total, err := Compare(base, head, "main", "work tree")
	if err != nil {
		t.Fatal(err)
	}
	return &Report{
		Base:         Side{Ref: "main", Revision: "main@sha1:1111"},
		Head:         Side{Ref: "work tree", Revision: "sha1:2222-dirty"},
		Environments: []Environment{{Name: "dev", Counts: total, Components: comps, InBase: true, InHead: true}},
	}
}

func TestWriteFormats(t *testing.T) {
	r := sampleReport(t)
	outputs := map[string]string{}
	for _, f := range []string{FormatText, FormatMarkdown, FormatJSON, FormatYAML} {
		var out, sum bytes.Buffer
		if err := Write(&out, &sum, r, f, false); err != nil {
			t.Fatal(err)
		}
		outputs[f] = out.String() + sum.String()
		for _, v := range secretValues {
			if strings.Contains(outputs[f], v) {
				t.Errorf("-o %s shows the Secret value %q", f, v)
			}
		}
	}
	md := outputs[FormatMarkdown]
	for _, want := range []string{
		"<!-- envctl-diff: dev -->\n### envctl diff `dev`: 1 added, 1 removed, 2 changed\n",
		"`main` (`main@sha1:1111`) → `work tree` (`sha1:2222-dirty`)",
		"<details>\n<summary><b>app</b>: 1 added, 1 removed, 2 changed</summary>\n",
		"**changed** `Deployment.apps demo/web`\n\n```diff\n--- Deployment.apps demo/web (main)\n",
		"</details>\n",
		"1 unchanged component(s).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "quiet") {
		t.Errorf("markdown shows the unchanged component:\n%s", md)
	}
	var back Report
	if err := json.Unmarshal([]byte(outputs[FormatJSON]), &back); err != nil {
		t.Fatal(err)
	}
	if back.Base.Revision != "main@sha1:1111" || back.Head.Revision != "sha1:2222-dirty" || back.Environments[0].Changed != 2 {
		t.Errorf("json: %+v", back)
	}
	text := outputs[FormatText]
	if !strings.Contains(text, "~ changed Deployment.apps demo/web (environment dev, component app)\n") ||
		!strings.Contains(text, "Environment dev, main (main@sha1:1111) → work tree (sha1:2222-dirty): 1 added, 1 removed, 2 changed, 1 unchanged.") {
		t.Errorf("text:\n%s", text)
	}
}

func TestMarkdownFenceAndSizeLimit(t *testing.T) {
	// A value with a run of backticks cannot close the diff's fence.
	withTicks := `{apiVersion: v1, kind: ConfigMap, metadata: {name: md, namespace: demo}, data: {readme: "use ` + "````" + `x"}}`
	comps, total, err := Compare(nil, result(&render.Component{Name: "docs", Objects: []*unstructured.Unstructured{obj(t, withTicks)}}), "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{Base: Side{Ref: "a"}, Head: Side{Ref: "b"}, Environments: []Environment{{Name: "dev", Counts: total, Components: comps}}}
	if md := Markdown(r, MaxComment); !strings.Contains(md, "`````diff\n") {
		t.Errorf("the fence is not longer than the content's backticks:\n%s", md)
	}

	// Too many diffs for one comment: the later ones are left out, their
	// objects still listed, and the comment says so.
	var objs []*unstructured.Unstructured
	big := strings.Repeat("x", 2000)
	for i := range 60 {
		objs = append(objs, obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: cm-`+strings.Repeat("a", i+1)+`, namespace: demo}, data: {v: "`+big+`"}}`))
	}
	comps, total, _ = Compare(nil, result(&render.Component{Name: "bulk", Objects: objs}), "a", "b")
	r.Environments[0] = Environment{Name: "dev", Counts: total, Components: comps}
	md := Markdown(r, MaxComment)
	if len(md) > MaxComment {
		t.Errorf("comment of %d characters, over %d", len(md), MaxComment)
	}
	if strings.Count(md, "**added**") != 60 || !strings.Contains(md, "diffs were left out and 0 objects not listed") {
		t.Errorf("the cut comment does not list every object or say it was cut:\n%s", md[len(md)-400:])
	}
	// Far too many objects: those past the limit are counted, not listed.
	md = Markdown(r, 5000)
	if len(md) > 5000 || !strings.Contains(md, "more objects._") || !strings.Contains(md, "</details>") {
		t.Errorf("a comment of %d characters, limit 5000:\n%s", len(md), md)
	}
}

func TestMarkerAllEnvironments(t *testing.T) {
	r := sampleReport(t)
	r.All = true
	r.Environments = append(r.Environments, Environment{Name: "qa", InHead: true, Counts: Counts{Added: 1}},
		Environment{Name: "prod", InBase: true, InHead: true, Error: "environment prod: at main: component x: boom"})
	md := Markdown(r, MaxComment)
	for _, want := range []string{
		"<!-- envctl-diff: all-environments -->\n### envctl diff, 3 environments: 2 added, 1 removed, 2 changed, 1 failed to render\n",
		"\n#### `dev`: 1 added, 1 removed, 2 changed\n",
		"\n#### `qa`: new environment, 1 added\n",
		"\n#### `prod`: failed to render\n\n**Failed to render:**\n\n```\nenvironment prod: at main: component x: boom\n```\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
