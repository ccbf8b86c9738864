package kind

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
)

// record is what envctl keeps about a kind cluster it created, in
// <state>/clusters/kind/NAME/cluster.json. Its presence is what makes a
// kind cluster envctl's: envctl lists, and deletes, only the kind clusters
// it created, never one made with the kind CLI.
type record struct {
	Name string `json:"name"`
	// Runtime is the client of the runtime the cluster was created on
	// (docker, podman, nerdctl, finch, nerdctl.lima): the cluster is
	// always reached through it.
	Runtime string    `json:"runtime"`
	Created time.Time `json:"created"`
	// Adopted is when envctl took the cluster back after its record was
	// lost; zero for a cluster it created.
	Adopted time.Time `json:"adopted,omitzero"`
	// Registry is the local registry's host address, when it has one.
	Registry string `json:"registry,omitempty"`
}

const recordFile = "cluster.json"

// dir is the state directory of cluster name.
func (p *Provider) dir(name string) (string, error) {
	return cluster.ClusterDir(p.opts.StateDir, config.ProviderKind, name)
}

// ClusterDir is the state directory of cluster name, where package cluster
// records the kubeconfig files the cluster's context was written to.
func (p *Provider) ClusterDir(name string) (string, error) { return p.dir(name) }

// stateDir is where the record of cluster name is kept, for messages.
func (p *Provider) stateDir(name string) string {
	d, _ := p.dir(name)
	return d
}

// kindKubeconfig is the file kind itself writes its kind-NAME context to.
// envctl keeps it out of the user's kubeconfig, which gets only the
// envctl-NAME context, the same for every provider.
func (p *Provider) kindKubeconfig(name string) (string, error) {
	d, err := p.dir(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "kind-kubeconfig"), nil
}

// lockFile is the file whose flock(2) one envctl holds while it ensures or
// deletes cluster name; it sits beside the cluster's directory, which
// delete removes.
func (p *Provider) lockFile(name string) (string, error) {
	d, err := p.dir(name)
	if err != nil {
		return "", err
	}
	return d + ".lock", nil
}

// lock takes the cluster's lock; spec, when not nil, hears that another
// envctl holds it and this one waits.
func (p *Provider) lock(ctx context.Context, name string, spec *cluster.Spec) (func(), error) {
	path, err := p.lockFile(name)
	if err != nil {
		return nil, err
	}
	l, err := cluster.LockFile(ctx, path, func(holder int) {
		if spec != nil {
			spec.Note("another envctl (pid %d) is creating or starting kind cluster %s; waiting for it", holder, name)
		}
	})
	if err != nil {
		return nil, err
	}
	return l.Unlock, nil
}

// readRecord reads the record of cluster name; nil when there is none.
func (p *Provider) readRecord(name string) (*record, error) {
	d, err := p.dir(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d, recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state of kind cluster %s: %w", name, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("state of kind cluster %s (%s) is corrupt: %w", name, filepath.Join(d, recordFile), err)
	}
	return &r, nil
}

func (p *Provider) writeRecord(r record) error {
	d, err := p.dir(r.Name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("save state of kind cluster %s: %w", r.Name, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, recordFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save state of kind cluster %s: %w", r.Name, err)
	}
	return nil
}

func (p *Provider) removeRecord(name string) error {
	d, err := p.dir(name)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(d); err != nil {
		return fmt.Errorf("remove state of kind cluster %s: %w", name, err)
	}
	return nil
}

// records lists the kind clusters envctl created, sorted by name.
func (p *Provider) records() ([]record, error) {
	root, err := cluster.ClusterDir(p.opts.StateDir, config.ProviderKind, "")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list kind clusters in %s: %w", root, err)
	}
	var out []record
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		r, err := p.readRecord(e.Name())
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b record) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
