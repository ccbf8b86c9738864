package kind

import (
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
	Name    string    `json:"name"`
	Runtime string    `json:"runtime"`
	Created time.Time `json:"created"`
}

const recordFile = "cluster.json"

// dir is the state directory of cluster name.
func (p *Provider) dir(name string) (string, error) {
	return cluster.ClusterDir(p.opts.StateDir, config.ProviderKind, name)
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
