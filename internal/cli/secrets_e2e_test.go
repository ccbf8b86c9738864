package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/testenv"
)

func newCanary(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "canary" + hex.EncodeToString(b)
}

// noCanary fails t when text holds canary in any form envctl could leak it.
func noCanary(t *testing.T, what, text, canary string) {
	t.Helper()
	for _, form := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))} {
		if i := strings.Index(text, form); i >= 0 {
			lo, hi := max(0, i-200), min(len(text), i+len(form)+80)
			t.Errorf("%s shows a secret value (%q):\n...%s...", what, form, text[lo:hi])
		}
	}
}

// The fingerprint of a Secret, which the inventory ConfigMap and the
// Secret's annotation hold, is a keyed HMAC whose key is itself in a Secret;
// diff still finds the Secret unchanged.
func TestSecretFingerprintsAreKeyed(t *testing.T) {
	e := newE2E(t, "keyed")
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: NS\nstringData:\n  password: hunter2\n"
	e.overlay(map[string]string{"ns.yaml": nsYAML, "secret.yaml": secret, "cm.yaml": cmYAML("plain")}, "")
	e.mustRun(ExitOK, "apply")

	te := testenv.Get(t)
	live, err := te.Clientset().CoreV1().Secrets(e.ns).Get(t.Context(), "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := live.Annotations[kube.DigestAnnotation]; !strings.HasPrefix(d, kube.SecretDigestPrefix) {
		t.Errorf("the Secret's digest annotation is %q, want a keyed %s digest", d, kube.SecretDigestPrefix)
	}
	inv, err := e.storedInventory()
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range inv.Entries {
		switch {
		case en.Kind == "Secret" && !strings.HasPrefix(en.Digest, kube.SecretDigestPrefix):
			t.Errorf("the inventory records the Secret's digest %q, want a keyed one", en.Digest)
		case en.Kind == "ConfigMap" && strings.HasPrefix(en.Digest, kube.SecretDigestPrefix):
			t.Errorf("a ConfigMap's digest is keyed: %q", en.Digest)
		}
	}
	key, err := te.Clientset().CoreV1().Secrets(inventory.Namespace).Get(t.Context(), inventory.KeySecret, metav1.GetOptions{})
	if err != nil || len(key.Data["key"]) < 16 {
		t.Fatalf("the fingerprint key Secret: %v", err)
	}

	// Unchanged, and found so: diff reports nothing and the next apply
	// writes nothing.
	e.mustRun(diffExitNoChanges, "diff")
	stdout, _ := e.mustRun(ExitOK, "apply")
	mustContain(t, "the second apply", stdout, "0 writes")

	// A changed value is seen.
	e.overlay(map[string]string{"ns.yaml": nsYAML, "secret.yaml": strings.Replace(secret, "hunter2", "hunter3", 1), "cm.yaml": cmYAML("plain")}, "")
	stdout, _ = e.mustRun(diffExitChanges, "diff")
	mustContain(t, "diff", stdout, "password: (sensitive value changed)")
}

// A value a chart's lookup copies from a Secret into a ConfigMap is masked
// in diff as a Secret's value is.
func TestLookupCopiedSecretIsMaskedInDiff(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "lookleak")
	te := testenv.Get(t)
	ctx := context.Background()
	if _, err := te.Clientset().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Clientset().CoreV1().Secrets(e.ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "upstream"},
		Data:       map[string][]byte{"token": []byte(canary)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.write("config.yaml", "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: e2e\nspec:\n  defaultEnvironment: lookleak\n  render:\n    allowChartLookup: true\n")
	e.write("environments/lookleak.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: lookleak
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: `+e.kubeconfig+`
  components:
    - name: app
      helm:
        chart: charts/copier
        release: copier
        namespace: `+e.ns+`
`)
	e.write("charts/copier/Chart.yaml", "apiVersion: v2\nname: copier\nversion: 0.1.0\n")
	e.write("charts/copier/templates/configmap.yaml", `{{- $s := lookup "v1" "Secret" .Release.Namespace "upstream" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: copied
  namespace: {{ .Release.Namespace }}
data:
  plain: {{ if $s }}{{ $s.data.token | b64dec | quote }}{{ else }}"none"{{ end }}
  encoded: {{ if $s }}{{ $s.data.token | quote }}{{ else }}"none"{{ end }}
  note: visible
`)
	stdout, stderr := e.mustRun(diffExitChanges, "diff")
	noCanary(t, "diff", stdout+stderr, canary)
	mustContain(t, "diff", stdout, "ConfigMap "+e.ns+"/copied", "plain: (sensitive value)", "note: visible")
	stdout, stderr = e.mustRun(diffExitChanges, "diff", "-o", "json", "-vv")
	noCanary(t, "diff -o json", stdout+stderr, canary)
}
