package config

import (
	"strings"
	"testing"
)

func TestKindRegistryShortFormAndValidation(t *testing.T) {
	var e Environment
	if _, err := decodeFile("environments/local.yaml", []byte("spec:\n  cluster:\n    kind:\n      registry: true\n"), &e); err != nil {
		t.Fatal(err)
	}
	if r := e.Spec.Cluster.Kind.Registry; r == nil || !r.Enabled {
		t.Errorf("registry: true decoded as %+v", r)
	}
	e = Environment{}
	if _, err := decodeFile("environments/local.yaml", []byte("spec:\n  cluster:\n    kind:\n      registry: {port: 5002}\n"), &e); err != nil {
		t.Fatal(err)
	}
	if r := e.Spec.Cluster.Kind.Registry; r == nil || !r.Enabled || r.Port != 5002 {
		t.Errorf("registry mapping decoded as %+v", r)
	}
	p := &problems{file: "environments/local.yaml", pos: positions{}}
	validateKindExtras(&KindSpec{
		APIServerAddress: "localhost",
		Registry:         &KindRegistry{Enabled: true, Port: 70000, Name: "Bad_Name"},
		Mirrors:          []RegistryMirror{{Registry: "docker.io/library"}, {Registry: "ghcr.io", Endpoints: []string{"ftp://x"}}},
		Requires:         map[string]string{"cpu": "four", "gpu": "1"},
	}, "spec.cluster.kind", p)
	err := p.err()
	if err == nil {
		t.Fatal("no problems reported")
	}
	for _, want := range []string{
		`apiServerAddress "localhost" is not an IP address`,
		"port must be 1 to 65535, got 70000",
		`registry name "Bad_Name" is not valid`,
		`registry "docker.io/library": want a registry host`,
		"endpoints are missing",
		`endpoint "ftp://x": want an http:// or https:// URL`,
		`"four" is not a quantity`,
		`unknown requirement "gpu"; want cpu or memory`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not say %q:\n%v", want, err)
		}
	}
}
