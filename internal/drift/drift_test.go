package drift

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/kube"
)

func entry(manager string, op metav1.ManagedFieldsOperationType, sub, fields string) metav1.ManagedFieldsEntry {
	e := metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Subresource: sub, APIVersion: "apps/v1", FieldsType: "FieldsV1"}
	if fields != "" {
		e.FieldsV1 = &metav1.FieldsV1{Raw: []byte(fields)}
	}
	return e
}

const (
	apply  = metav1.ManagedFieldsOperationApply
	update = metav1.ManagedFieldsOperationUpdate
)

func TestKubectlLike(t *testing.T) {
	tests := []struct {
		e    metav1.ManagedFieldsEntry
		want bool
	}{
		{entry("kubectl-edit", update, "", ""), true},
		{entry("kubectl-set", update, "", ""), true},
		{entry("kubectl-patch", update, "", ""), true},
		{entry("kubectl-label", update, "", ""), true},
		{entry("kubectl-client-side-apply", update, "", ""), true},
		{entry("kubectl", update, "", ""), true},
		{entry("before-first-apply", update, "", ""), true},
		{entry("kubectl-scale", update, "scale", ""), true},
		// A server-side apply by a person names its own manager and keeps it.
		{entry("kubectl", apply, "", ""), false},
		{entry("kubectl-edit", update, "status", ""), false},
		{entry("kubectlish", update, "", ""), false},
		{entry("kube-controller-manager", update, "", ""), false},
		{entry("envctl", apply, "", ""), false},
	}
	for _, tt := range tests {
		if got := KubectlLike(tt.e); got != tt.want {
			t.Errorf("KubectlLike(%s %s %q) = %v, want %v", tt.e.Manager, tt.e.Operation, tt.e.Subresource, got, tt.want)
		}
	}
}

func TestFieldsHashMatchesKube(t *testing.T) {
	// The server's spacing and key order must not matter.
	raw := `{"f:metadata":{"f:labels":{"f:b":{},"f:a":{}}},"f:data":{".":{},"f:k":{}}}`
	e := entry("envctl", apply, "", raw)
	var fields map[string]any
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"managedFields": []any{map[string]any{
			"manager": "envctl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields,
		}}},
	}}
	want := kube.FieldsHash(obj, "envctl")
	if got := FieldsHash([]metav1.ManagedFieldsEntry{entry("other", update, "", `{"f:x":{}}`), e}, "envctl"); got != want || got == "" {
		t.Errorf("FieldsHash = %q, kube.FieldsHash = %q", got, want)
	}
	if got := FieldsHash([]metav1.ManagedFieldsEntry{entry("other", update, "", `{}`)}, "envctl"); got != "" {
		t.Errorf("FieldsHash without an entry of the owner = %q, want empty", got)
	}
}

func TestTakeOver(t *testing.T) {
	own := `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:env":{".":{},"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}}},"f:image":{}}}}}}}`
	setEnv := `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"EXTRA\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`
	scale := `{"f:spec":{"f:replicas":{}}}`
	controller := `{"f:metadata":{"f:annotations":{"f:deployment.kubernetes.io/revision":{}}}}`
	entries := []metav1.ManagedFieldsEntry{
		entry("envctl", apply, "", own),
		entry("kube-controller-manager", update, "", controller),
		entry("kubectl-set", update, "", setEnv),
		entry("kubectl-scale", update, "scale", scale),
		entry("kube-controller-manager", update, "status", `{"f:status":{}}`),
	}
	out, changed, err := TakeOver(entries, "envctl", "apps/v1")
	if err != nil || !changed {
		t.Fatalf("TakeOver = %v, %v", changed, err)
	}
	var managers []string
	for _, e := range out {
		managers = append(managers, e.Manager+"/"+string(e.Operation)+"/"+e.Subresource)
	}
	if diff := cmp.Diff([]string{"envctl/Apply/", "kube-controller-manager/Update/", "kube-controller-manager/Update/status"}, managers); diff != "" {
		t.Errorf("managers after TakeOver (-want +got):\n%s", diff)
	}
	var got map[string]any
	if err := json.Unmarshal(out[0].FieldsV1.Raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	for _, s := range []string{own, setEnv, scale} {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		mergeFields(want, m)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("envctl's fields after TakeOver (-want +got):\n%s", diff)
	}
	env := got["f:spec"].(map[string]any)["f:template"].(map[string]any)["f:spec"].(map[string]any)["f:containers"].(map[string]any)[`k:{"name":"app"}`].(map[string]any)["f:env"].(map[string]any)
	if _, ok := env[`k:{"name":"A"}`]; !ok {
		t.Errorf("envctl's own env var A lost in the merge: %v", env)
	}
	if _, ok := env[`k:{"name":"EXTRA"}`]; !ok {
		t.Errorf("kubectl's env var EXTRA not taken over: %v", env)
	}

	// Nothing kubectl-like: unchanged.
	same, changed, err := TakeOver(entries[:2], "envctl", "apps/v1")
	if err != nil || changed || len(same) != 2 {
		t.Errorf("TakeOver without kubectl managers = %d entries, changed %v, %v", len(same), changed, err)
	}

	// No entry of envctl's yet (its fields were all taken): one is made.
	out, changed, err = TakeOver([]metav1.ManagedFieldsEntry{entry("kubectl-edit", update, "", scale)}, "envctl", "apps/v1")
	if err != nil || !changed || len(out) != 1 || out[0].Manager != "envctl" || out[0].Operation != apply || out[0].APIVersion != "apps/v1" || string(out[0].FieldsV1.Raw) != scale {
		t.Errorf("TakeOver without an envctl entry = %+v, %v, %v", out, changed, err)
	}
}

func TestCheck(t *testing.T) {
	own := `{"f:data":{"f:k":{}}}`
	fields := FieldsHash([]metav1.ManagedFieldsEntry{entry("envctl", apply, "", own)}, "envctl")
	exp := Expected{Digest: "d1", Fields: fields, ResourceVersion: "100"}
	meta := func(rv string, ann map[string]string, entries ...metav1.ManagedFieldsEntry) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv, Annotations: ann, ManagedFields: entries}}
	}
	digest := map[string]string{kube.DigestAnnotation: "d1"}
	at := func(s int) *metav1.Time { t := metav1.NewTime(time.Unix(int64(s), 0)); return &t }
	later := entry("hpa-like", update, "", `{"f:data":{"f:k":{}}}`)
	later.Time = at(20)
	earlier := entry("someone", update, "", `{"f:x":{}}`)
	earlier.Time = at(10)
	tests := []struct {
		name string
		live *metav1.PartialObjectMetadata
		want Verdict
	}{
		{"as left", meta("100", digest, entry("envctl", apply, "", own)), Verdict{}},
		{"controller wrote other fields", meta("101", digest, entry("envctl", apply, "", own), entry("kube-controller-manager", update, "", `{"f:metadata":{}}`)), Verdict{}},
		{"deleted or unlabelled", nil, Verdict{Drifted: true, Reason: Deleted}},
		{"cache behind envctl's write", meta("99", nil), Verdict{Stale: true}},
		{"kubectl edit", meta("101", digest, entry("envctl", apply, "", own), entry("kubectl-edit", update, "", `{"f:data":{"f:other":{}}}`)), Verdict{Drifted: true, Reason: Edited, By: "kubectl-edit"}},
		{"declared field taken", meta("101", digest, entry("envctl", apply, "", `{}`), earlier, later), Verdict{Drifted: true, Reason: Changed, By: "hpa-like"}},
		{"digest changed", meta("101", map[string]string{kube.DigestAnnotation: "x"}, entry("envctl", apply, "", own)), Verdict{Drifted: true, Reason: Changed}},
		{"ignored", meta("101", map[string]string{IgnoreAnnotation: "ignore"}, entry("kubectl-edit", update, "", own)), Verdict{Ignored: true}},
		{"versions not integers", meta("abc", digest, entry("envctl", apply, "", own)), Verdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(tt.live, exp, "envctl"); got != tt.want {
				t.Errorf("Check = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := NewBackoff()
	now := time.Unix(1000, 0)
	type step struct {
		after     time.Duration // since the previous correction
		wantDelay time.Duration
		wantFight bool
	}
	// A controller that undoes every correction at once.
	steps := []step{
		{0, 0, false},
		{10 * time.Millisecond, time.Second, false},
		{10 * time.Millisecond, 2 * time.Second, true},
		{10 * time.Millisecond, 4 * time.Second, false},
		{10 * time.Millisecond, 8 * time.Second, false},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		d, fight := b.Delay("cm", now)
		if d != s.wantDelay || fight != s.wantFight {
			t.Fatalf("step %d: Delay = %v, fight %v; want %v, %v", i, d, fight, s.wantDelay, s.wantFight)
		}
		now = now.Add(d)
		b.Corrected("cm", now, d)
	}
	if !b.InFight("cm", now) {
		t.Error("InFight = false during a fight")
	}
	if d, _ := b.Delay("other", now); d != 0 {
		t.Errorf("another object waits %v, want 0", d)
	}
	// Quiet for longer than twice the last delay: a fresh start.
	now = now.Add(17 * time.Second)
	if d, fight := b.Delay("cm", now); d != 0 || fight {
		t.Errorf("after a quiet spell: Delay = %v, fight %v; want 0, false", d, fight)
	}
	if b.InFight("cm", now) {
		t.Error("InFight after a quiet spell")
	}

	// The cap.
	for range 20 {
		d, _ := b.Delay("cap", now)
		b.Corrected("cap", now, d)
	}
	if d, _ := b.Delay("cap", now); d != b.Max {
		t.Errorf("delay after 20 corrections = %v, want the cap %v", d, b.Max)
	}
}

// A fight is given up after GiveUpAfter corrections in a row: the object
// is left alone, however long it stays quiet, until Release.
func TestBackoffLeavesAFightAloneAfterItsBound(t *testing.T) {
	b := NewBackoff()
	b.GiveUpAfter = 4
	now := time.Unix(1000, 0)
	var last []bool
	for range 4 {
		d, _ := b.Delay("cm", now)
		now = now.Add(d + 10*time.Millisecond)
		last = append(last, b.Corrected("cm", now, d))
		if b.LeftAlone("other") {
			t.Fatal("another object is left alone")
		}
	}
	if want := []bool{false, false, false, true}; !slices.Equal(last, want) {
		t.Errorf("Corrected said last = %v, want %v", last, want)
	}
	if !b.LeftAlone("cm") {
		t.Fatal("not left alone after 4 corrections in a row")
	}
	if now = now.Add(time.Hour); !b.LeftAlone("cm") {
		t.Error("a quiet hour ended the giving up; only Release does")
	}
	if got := b.Release(); !slices.Equal(got, []string{"cm"}) {
		t.Errorf("Release = %v, want [cm]", got)
	}
	if b.LeftAlone("cm") {
		t.Error("still left alone after Release")
	}
	if d, fight := b.Delay("cm", now); d != 0 || fight {
		t.Errorf("after Release: Delay = %v, fight %v; want a fresh start", d, fight)
	}
}
