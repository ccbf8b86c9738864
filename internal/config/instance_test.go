package config

import (
	"strings"
	"testing"
)

func TestSetInstance(t *testing.T) {
	tests := []struct {
		name, provider, clusterName, id string
		want, wantErr                   string
	}{
		{name: "derived name", provider: ProviderAuto, id: "job-42", want: "envctl-ci-job-42"},
		{name: "named cluster", provider: ProviderEmbedded, clusterName: "ci-cluster", id: "7", want: "ci-cluster-7"},
		{name: "kind", provider: ProviderKind, id: "a1", want: "envctl-ci-a1"},
		{name: "no instance", provider: ProviderAuto, want: "envctl-ci"},
		{name: "existing cluster", provider: ProviderExisting, id: "1", wantErr: "uses an existing cluster"},
		{name: "upper case", provider: ProviderAuto, id: "Job1", wantErr: "lowercase letters"},
		{name: "too long", provider: ProviderAuto, id: strings.Repeat("a", 17), wantErr: "at most 16"},
		{name: "name too long", provider: ProviderAuto, clusterName: strings.Repeat("c", 30), id: "0123456789", wantErr: "41 characters, at most 40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Environment{Metadata: Metadata{Name: "ci"}, File: "environments/ci.yaml"}
			e.Spec.Cluster.Provider, e.Spec.Cluster.Name = tt.provider, tt.clusterName
			e.ApplyDefaults(DefaultSettings())
			err := e.SetInstance(tt.id)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SetInstance(%q) = %v, want an error saying %q", tt.id, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.ClusterName(); got != tt.want {
				t.Errorf("ClusterName() = %q, want %q", got, tt.want)
			}
			// Defaults applied again (a reload) do not suffix twice.
			e.ApplyDefaults(DefaultSettings())
			if got := e.ClusterName(); got != tt.want {
				t.Errorf("ClusterName() after ApplyDefaults = %q, want %q", got, tt.want)
			}
		})
	}
}
