package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBuildLinksNoCloudSDK: envctl reaches cloud KMS and Vault keys only
// through sops key services; it links no cloud SDK, nor sops' key sources
// and key service server that bring them.
func TestBuildLinksNoCloudSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("lists envctl's dependencies with go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list with")
	}
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-tags", strings.Join(makeTags(t), ","), "./cmd/envctl")
	cmd.Dir = platformRepo
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	banned := []string{"github.com/aws/", "github.com/Azure/", "cloud.google.com/", "google.golang.org/api/",
		"github.com/hashicorp/vault/", "github.com/huaweicloud/",
		"github.com/getsops/sops/v3/keyservice", "github.com/getsops/sops/v3/kms", "github.com/getsops/sops/v3/gcpkms",
		"github.com/getsops/sops/v3/azkv", "github.com/getsops/sops/v3/hcvault", "github.com/getsops/sops/v3/hckms"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, b := range banned {
			if strings.HasPrefix(pkg, b) {
				t.Errorf("envctl links %s", pkg)
			}
		}
	}
}
