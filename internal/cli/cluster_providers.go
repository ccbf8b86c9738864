package cli

// The providers built into envctl register themselves with package cluster
// when imported. The embedded provider registers from its own package,
// imported by cluster_serve.go.
import (
	_ "github.com/envctl/envctl/internal/cluster/existing"
	_ "github.com/envctl/envctl/internal/cluster/kind"
)
