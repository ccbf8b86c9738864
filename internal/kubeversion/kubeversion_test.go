package kubeversion

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// The fallback version must follow go.mod: a test binary has no module
// information, so Embedded returns the constant here.
func TestKubernetesReleaseMatchesGoMod(t *testing.T) {
	f, err := os.Open("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var inGoMod string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == kubernetesModule {
			inGoMod = fields[1]
		}
		if len(fields) >= 3 && fields[0] == "require" && fields[1] == kubernetesModule {
			inGoMod = fields[2]
		}
	}
	if inGoMod == "" {
		t.Fatalf("go.mod does not require %s", kubernetesModule)
	}
	if kubernetesRelease != inGoMod {
		t.Errorf("kubernetesRelease = %s, go.mod requires %s %s: update kubeversion.go", kubernetesRelease, kubernetesModule, inGoMod)
	}
	if got := Embedded(); got != inGoMod {
		t.Errorf("Embedded() = %s, want %s", got, inGoMod)
	}
}
