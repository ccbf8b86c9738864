package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/envctl/envctl/internal/render/decodecases"
)

// kubectlDecode reads data as `kubectl apply -f` does before it sends
// anything: cli-runtime's builder, without a cluster, Lists flattened.
func kubectlDecode(data []byte) ([]*unstructured.Unstructured, error) {
	infos, err := resource.NewLocalBuilder().Unstructured().ContinueOnError().
		Stream(bytes.NewReader(data), "fuzz").Flatten().Do().Infos()
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, 0, len(infos))
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("kubectl decoded a %T", info.Object)
		}
		out = append(out, u)
	}
	return out, nil
}

// endMarkersAsSeparators rewrites the "..." document end markers that
// envctl splits at as "---", which kubectl splits at: envctl's one
// deliberate difference in reading a stream (see decodeManifests).
func endMarkersAsSeparators(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		text := strings.TrimRight(string(l), "\r\n")
		if strings.HasPrefix(text, "...") && isSeparator(text) {
			lines[i] = append([]byte("---"), l[3:]...)
		}
	}
	return bytes.Join(lines, nil)
}

// applicable says whether the API server could take obj: it has an
// apiVersion, a kind and a name, and metadata that decodes (kubectl checks
// the metadata of a document, the server that of every object).
func applicable(obj *unstructured.Unstructured) bool {
	if obj.GetAPIVersion() == "" || obj.GetKind() == "" || obj.GetName() == "" {
		return false
	}
	j, err := json.Marshal(obj.Object)
	if err != nil {
		return false
	}
	return utiljson.Unmarshal(j, &metadataOnly{}) == nil
}

// FuzzDecodeAgainstKubectl compares envctl's decoding of a stream with
// kubectl's. Where kubectl reads objects the API server could take, envctl
// must read the same objects, as the same JSON but for the metadata it
// holds as the server stores it (normalizeMetadata); where kubectl refuses
// the stream, envctl must refuse it too. The seeds are the documents of
// the differential test (decodecases).
func FuzzDecodeAgainstKubectl(f *testing.F) {
	for _, c := range decodecases.Cases() {
		if len(c.Doc) < 16<<10 {
			f.Add([]byte(c.Doc))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeManifests(data, "fuzz.yaml")
		want, kerr := kubectlDecode(endMarkersAsSeparators(data))
		complete := kerr == nil
		for _, o := range want {
			complete = complete && applicable(o)
		}
		switch {
		case kerr != nil && err == nil:
			t.Fatalf("kubectl refuses the stream (%v); envctl reads %d objects", kerr, len(got))
		case complete && err != nil:
			t.Fatalf("kubectl reads %d objects the server could take; envctl refuses: %v", len(want), err)
		case kerr == nil && !complete && err == nil:
			t.Fatalf("kubectl reads an object the server cannot take; envctl accepts it")
		case !complete:
			return
		}
		if len(got) != len(want) {
			t.Fatalf("kubectl reads %d objects, envctl %d", len(want), len(got))
		}
		for i := range want {
			w := want[i].DeepCopy()
			normalizeMetadata(w)
			wj, _ := json.Marshal(w.Object)
			gj, _ := json.Marshal(got[i].Object)
			if !bytes.Equal(wj, gj) {
				t.Fatalf("object %d:\nkubectl: %s\nenvctl:  %s", i, wj, gj)
			}
		}
	})
}
