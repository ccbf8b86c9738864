package nodesim

import (
	"testing"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// FuzzValidate feeds arbitrary pool declarations to the validation that
// guards the simulator: it must never panic, must classify every rejection
// as bad input, and what it accepts must make nodes.
func FuzzValidate(f *testing.F) {
	f.Add("node", 2, "cpu", "8", "nvidia.com/gpu", "1", "zone", "a", "gpu", "NoSchedule", "10.244.0.0/16")
	f.Add("", 0, "memory", "-1Gi", "bad key", "x", "k", "not ok!", "", "Never", "10.0.0.0/8")
	f.Add("a-b", 300, "pods", "1e3", "cpu", "500m", "example.com/x", "", "t", "NoExecute", "10.0.0.0/25")
	f.Fuzz(func(t *testing.T, name string, count int, res1, q1, res2, q2, labelKey, labelValue, taintKey, effect, podCIDR string) {
		if count > 2000 || count < -10 {
			t.Skip("node counts are bounded by the config package")
		}
		opts := Options{
			PodCIDR: podCIDR,
			Pools: []config.NodePool{{
				Name:     name,
				Count:    count,
				Capacity: map[string]string{res1: q1, res2: q2},
				Labels:   map[string]string{labelKey: labelValue},
				Taints:   []config.Taint{{Key: taintKey, Effect: effect}},
			}},
		}
		err := Validate(opts)
		if err != nil {
			if errs.KindOf(err) != errs.KindInput {
				t.Fatalf("error not classified as input: %v", err)
			}
			return
		}
		sim, err := New(nil, opts)
		if err != nil {
			t.Fatalf("Validate accepted what New rejects: %v", err)
		}
		if len(sim.NodeNames()) != count && count > 0 {
			t.Fatalf("%d nodes for count %d", len(sim.NodeNames()), count)
		}
	})
}
