package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestObjects(t *testing.T) {
	conflict := Conflict(errors.New("apply ConfigMap ml/a: conflict"))
	input := Input(errors.New("apply ConfigMap ml/b: invalid\nsecond line"))
	tests := []struct {
		name     string
		list     []error
		wantNil  bool
		wantMsg  string
		wantKind Kind
	}{
		{name: "none", wantNil: true},
		{name: "one is itself", list: []error{input}, wantMsg: input.Error(), wantKind: KindInput},
		{
			name:     "several, one per line, classified by the first",
			list:     []error{conflict, input},
			wantMsg:  "2 objects failed:\n  apply ConfigMap ml/a: conflict\n  apply ConfigMap ml/b: invalid\n  second line",
			wantKind: KindConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Objects("failed", tt.list)
			if tt.wantNil {
				if err != nil {
					t.Fatalf("Objects = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantMsg {
				t.Errorf("Objects = %q, want %q", err, tt.wantMsg)
			}
			if k := KindOf(err); k != tt.wantKind {
				t.Errorf("KindOf = %v, want %v", k, tt.wantKind)
			}
			for _, e := range tt.list {
				if !errors.Is(err, e) {
					t.Errorf("errors.Is(%v) = false", e)
				}
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	net := errors.New("GET https://charts.example.com/index.yaml: 503 Service Unavailable")
	bad := Inputf("kustomize build overlays/app: no such file")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"bad input", bad, false},
		{"bad input, wrapped", fmt.Errorf("render environment ci: %w", bad), false},
		{"not classified (a network failure)", fmt.Errorf("fetch index: %w", net), true},
		{"cluster", Cluster(net), true},
		{"timeout", Timeout(net), true},
		{"unhealthy", Unhealthy(net), true},
		{"conflict", Conflict(net), true},
		{"every one of several is bad input", errors.Join(bad, fmt.Errorf("component b: %w", bad)), false},
		{"one of several is not bad input", errors.Join(bad, fmt.Errorf("component b: %w", net)), true},
		{"several, wrapped whole as bad input", Input(errors.Join(bad, net)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
