package config

import (
	"fmt"
	"regexp"

	"github.com/envctl/envctl/internal/errs"
)

// MaxInstanceLength bounds an instance ID, so that the cluster name it
// suffixes stays short enough for every provider.
const MaxInstanceLength = 16

var instanceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidateInstance checks an instance ID (--instance, ENVCTL_INSTANCE):
// lowercase letters, digits and '-', at most MaxInstanceLength characters.
func ValidateInstance(id string) error {
	switch {
	case len(id) > MaxInstanceLength:
		return errs.Inputf("--instance %q: %d characters, at most %d allowed", id, len(id), MaxInstanceLength)
	case !instanceRE.MatchString(id):
		return errs.Inputf("--instance %q: use lowercase letters, digits and '-', starting and ending with a letter or digit (a CI job ID such as $CI_JOB_ID)", id)
	}
	return nil
}

// SetInstance makes the environment one instance of itself: its cluster
// is ClusterName suffixed with -ID, so that two CI jobs bringing up the
// same environment on one machine get a cluster, a kubeconfig context and
// an inventory each. Only a cluster envctl creates can be an instance; an
// existing cluster is shared by whoever points at it.
func (e *Environment) SetInstance(id string) error {
	if id == "" {
		return nil
	}
	if err := ValidateInstance(id); err != nil {
		return err
	}
	if p := e.Spec.Cluster.Provider; p == ProviderExisting {
		return errs.Inputf("--instance %s: environment %s uses an existing cluster (%s: spec.cluster.provider: existing); instances are clusters envctl creates (provider auto, embedded or kind)", id, e.Name(), e.File)
	}
	e.Instance = id
	if msgs := isClusterName(e.ClusterName()); msgs != "" {
		return errs.Inputf("--instance %s: cluster name %q of environment %s is not valid: %s; use a shorter instance ID or spec.cluster.name", id, e.ClusterName(), e.Name(), msgs)
	}
	return nil
}

// maxClusterName is the longest cluster name every provider takes (see
// cluster.MaxNameLength, which this package cannot import).
const maxClusterName = 40

// isClusterName says what is wrong with name as a cluster name; "" when
// nothing is.
func isClusterName(name string) string {
	if len(name) > maxClusterName {
		return fmt.Sprintf("%d characters, at most %d allowed", len(name), maxClusterName)
	}
	return ""
}

// UpCommand is the command that brings the environment (this instance of
// it) up, for messages.
func (e *Environment) UpCommand() string {
	if e.Instance != "" {
		return "envctl up " + e.Name() + " --instance " + e.Instance
	}
	return "envctl up " + e.Name()
}
