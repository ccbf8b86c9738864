package kind

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/envctl/envctl/internal/cluster"
)

// resourceQuery asks each runtime family for the CPUs and the memory
// (bytes) its containers may use: on Docker Desktop, Podman and finch
// those of the VM, not the host's.
var resourceQuery = map[string]string{
	cluster.RuntimeDocker:  "{{.NCPU}} {{.MemTotal}}",
	cluster.RuntimeNerdctl: "{{.NCPU}} {{.MemTotal}}",
	cluster.RuntimePodman:  "{{.Host.CPUs}} {{.Host.MemTotal}}",
}

// runtimeResources returns the CPUs and memory the runtime gives its
// containers.
func runtimeResources(ctx context.Context, rt *cluster.Runtime) (cpus int64, memory int64, err error) {
	out, err := run(ctx, rt, nil, "info", "--format", resourceQuery[rt.Name])
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("%s info: unexpected answer %q", rt.Client(), out)
	}
	cpus, err1 := strconv.ParseInt(f[0], 10, 64)
	memory, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%s info: unexpected answer %q", rt.Client(), out)
	}
	return cpus, memory, nil
}

// preflight compares what the environment requires (spec.cluster.kind.
// requires) with what the runtime gives its containers and returns a
// warning when it gives less: every kind node sees those CPUs and that
// memory, and pods beyond them stay Pending. "" when it is enough, or the
// runtime could not say.
func preflight(ctx context.Context, rt *cluster.Runtime, requires map[string]string) string {
	if len(requires) == 0 {
		return ""
	}
	cpus, memory, err := runtimeResources(ctx, rt)
	if err != nil {
		return ""
	}
	have := map[string]*resource.Quantity{
		"cpu":    resource.NewQuantity(cpus, resource.DecimalSI),
		"memory": resource.NewQuantity(memory, resource.BinarySI),
	}
	var short []string
	for _, name := range []string{"cpu", "memory"} {
		want, err := resource.ParseQuantity(requires[name])
		if requires[name] == "" || err != nil {
			continue
		}
		if have[name].Cmp(want) < 0 {
			short = append(short, fmt.Sprintf("%s %s of the %s required", name, humanQuantity(name, have[name]), requires[name]))
		}
	}
	if len(short) == 0 {
		return ""
	}
	return fmt.Sprintf("%s gives its containers only %s (spec.cluster.kind.requires): pods may stay Pending; give it more in its settings (Docker Desktop: Resources; podman machine set --cpus/--memory)",
		rt.Client(), strings.Join(short, " and "))
}

// humanQuantity prints memory in GiB and CPUs as a count.
func humanQuantity(name string, q *resource.Quantity) string {
	if name == "memory" {
		return fmt.Sprintf("%.1fGi", float64(q.Value())/(1<<30))
	}
	return q.String()
}
