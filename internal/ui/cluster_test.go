package ui

import (
	"bytes"
	"testing"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
)

// TestReachNamesTheFileKubectlMustBeTold: a context written into a file the
// user named (up --kubeconfig FILE) is reached with --kubeconfig FILE, since
// kubectl reads only its own files otherwise; one in kubectl's files is not.
func TestReachNamesTheFileKubectlMustBeTold(t *testing.T) {
	for _, tt := range []struct {
		name    string
		written kubeconfig.Written
		want    string
	}{
		{"kubectl's file, current", kubeconfig.Written{Context: "envctl-ci", Path: "/home/u/.kube/config", Current: true},
			"reach the cluster with: kubectl --context envctl-ci get pods -A\n"},
		{"a named file, current", kubeconfig.Written{Context: "envctl-ci", Path: "/tmp/ci.kubeconfig", Named: true, Current: true},
			"reach the cluster with: kubectl --kubeconfig /tmp/ci.kubeconfig --context envctl-ci get pods -A\n"},
		{"a named file with a space, another context current", kubeconfig.Written{Context: "envctl-ci", Path: "/tmp/my dir/kc", Named: true, Previous: "prod"},
			"reach the cluster with: kubectl --kubeconfig '/tmp/my dir/kc' --context envctl-ci get pods -A\n" +
				"the current context is still prod; switch with: kubectl --kubeconfig '/tmp/my dir/kc' config use-context envctl-ci\n"},
	} {
		var b bytes.Buffer
		WriteReach(&b, tt.written)
		if b.String() != tt.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.name, b.String(), tt.want)
		}
	}
}
