package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// contextsFile, in a cluster's state directory, lists the kubeconfig files
// envctl wrote the cluster's context to: deleting the cluster removes the
// context from those, not from whichever kubeconfig is the default by then.
const contextsFile = "kubeconfigs.json"

// contextsRecord is the content of contextsFile.
type contextsRecord struct {
	// Kubeconfigs are absolute paths, in the order they were first written.
	Kubeconfigs []string `json:"kubeconfigs"`
}

// stateful is a provider that keeps a state directory per cluster, which
// exists for as long as the cluster does (embedded, kind).
type stateful interface {
	// ClusterDir is the state directory of cluster name.
	ClusterDir(name string) (string, error)
}

// stateDir is the state directory of cluster name of p, when p keeps one
// and it exists.
func stateDir(p Provider, name string) (string, bool) {
	s, ok := p.(stateful)
	if !ok {
		return "", false
	}
	dir, err := s.ClusterDir(name)
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(dir)
	return dir, err == nil && fi.IsDir()
}

// recordContext adds file to the kubeconfig files recorded for cluster name
// of p. It never creates the state directory: that would make a cluster
// that is gone look as if it existed.
func recordContext(p Provider, name, file string) error {
	dir, ok := stateDir(p, name)
	if !ok || file == "" {
		return nil
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	files, _ := readContexts(dir) // an unreadable record is replaced
	if slices.Contains(files, abs) {
		return nil
	}
	data, err := json.MarshalIndent(contextsRecord{Kubeconfigs: append(files, abs)}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, contextsFile), append(data, '\n')); err != nil {
		return fmt.Errorf("record that cluster %s's context is in %s: %w", name, abs, err)
	}
	return nil
}

// readContexts reads the kubeconfig files recorded in dir; none when
// nothing is recorded.
func readContexts(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, contextsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r contextsRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, contextsFile), err)
	}
	return r.Kubeconfigs, nil
}

// contextFiles are the kubeconfig files to remove cluster name's context
// from when it is deleted: named (a file the user named, "" for none) and
// those recorded for it. With neither, as for a cluster created before
// envctl kept the record, it is kubectl's files (""). It must be called
// before the cluster, and with it its state directory, is deleted.
func contextFiles(p Provider, name, named string) []string {
	var files []string
	if named != "" {
		if abs, err := filepath.Abs(named); err == nil {
			named = abs
		}
		files = append(files, named)
	}
	if dir, ok := stateDir(p, name); ok {
		recorded, _ := readContexts(dir) // unreadable: as if none were recorded
		for _, f := range recorded {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		return []string{""}
	}
	return files
}

// writeAtomic replaces the file at path with data, owner-only, so that a
// reader never sees half of it.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
