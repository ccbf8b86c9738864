package embedded

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Files of a detached cluster's state directory, next to what Start keeps
// there (etcd/, pki/, *.kubeconfig).
const (
	// stateFile records the cluster: written by Ensure before the first
	// start, updated by the serve process whenever it starts serving.
	stateFile = "cluster.json"
	// pidFile names the running serve process; it exists only while one
	// runs (or after one was killed without a chance to remove it).
	pidFile = "serve.pid"
	// serveLockFile is held with flock by the serve process for as long
	// as it runs, so that a cluster never has two.
	serveLockFile = "serve.lock"
	// lockFile is held by the commands that start or delete the cluster,
	// so that two of them never race.
	lockFile = "lock"
	// logFile receives the serve process's stdout, stderr and slog output.
	logFile = "serve.log"
	// adminKubeconfig is the cluster-admin kubeconfig Start writes.
	adminKubeconfig = "admin.kubeconfig"
)

// stateFormat is the version of the state file's layout; a later envctl
// that changes it can tell an old file from a damaged one.
const stateFormat = 1

// clusterState is what envctl records about a detached embedded cluster.
type clusterState struct {
	Format  int       `json:"format"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// KubernetesVersion is the release of the control plane that created
	// the cluster's data.
	KubernetesVersion string `json:"kubernetesVersion"`
	// Nodes are the simulated node pools; a restart keeps them, so that
	// the nodes registered in etcd are the ones that send heartbeats.
	Nodes []config.NodePool `json:"nodes"`
	// Webhooks is the policy for webhooks that only a pod could serve
	// (config.EmbeddedSpec.Webhooks); empty means skip. Ensure records the
	// environment's; a running serve process follows changes to it.
	Webhooks string `json:"webhooks,omitempty"`
	// Server, Port, PID and Started describe the last serve process that
	// got its API server up; empty until the first one did.
	Server  string    `json:"server,omitempty"`
	Port    int       `json:"port,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Started time.Time `json:"started,omitzero"`
}

// webhookPolicy is the recorded webhook policy, skip when none is.
func (s *clusterState) webhookPolicy() string {
	if s.Webhooks == "" {
		return config.WebhooksSkip
	}
	return s.Webhooks
}

// served reports whether a serve process ever got the cluster's API
// server up, which is when the data directory starts to matter.
func (s *clusterState) served() bool { return s.Server != "" }

// damagedError is a state directory envctl cannot use as it is. It names
// the file and tells the user the way out, which Delete always offers:
// it needs nothing from the directory but its name.
type damagedError struct {
	Name string
	Path string
	Why  string
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("embedded cluster %s: %s %s; delete the cluster, and its data, with: envctl cluster delete %s", e.Name, e.Path, e.Why, e.Name)
}

// damaged classifies a damaged state directory as a cluster error: the
// cluster cannot be reached until the user deletes it.
func damaged(name, path, why string) error {
	return errs.Cluster(&damagedError{Name: name, Path: path, Why: why})
}

// readState reads and checks dir's state file. A missing file is returned
// as an error satisfying errors.Is(err, fs.ErrNotExist); anything that is
// not a state file envctl wrote for this cluster is a damagedError.
func readState(dir, name string) (*clusterState, error) {
	path := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("embedded cluster %s: read %s: %w", name, path, err)
	}
	st, err := parseState(data)
	if err != nil {
		return nil, damaged(name, path, "is not a valid state file ("+err.Error()+")")
	}
	if st.Name != name {
		return nil, damaged(name, path, fmt.Sprintf("is the state of cluster %q, not %q", st.Name, name))
	}
	return st, nil
}

// parseState decodes a state file strictly and checks what every state
// file has.
func parseState(data []byte) (*clusterState, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var st clusterState
	if err := dec.Decode(&st); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON object")
	}
	switch {
	case st.Format != stateFormat:
		return nil, fmt.Errorf("format %d, want %d", st.Format, stateFormat)
	case st.Name == "":
		return nil, errors.New("no cluster name")
	case st.Created.IsZero():
		return nil, errors.New("no creation time")
	case len(st.Nodes) == 0:
		return nil, errors.New("no node pools")
	case st.Port < 0 || st.Port > 65535:
		return nil, fmt.Errorf("port %d out of range", st.Port)
	case st.PID < 0:
		return nil, fmt.Errorf("pid %d is negative", st.PID)
	case st.Webhooks != "" && st.Webhooks != config.WebhooksSkip && st.Webhooks != config.WebhooksFail:
		return nil, fmt.Errorf("unknown webhook policy %q", st.Webhooks)
	}
	return &st, nil
}

// writeState replaces dir's state file atomically, owner-only.
func writeState(dir string, st *clusterState) error {
	st.Format = stateFormat
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	return writeFile(filepath.Join(dir, stateFile), append(data, '\n'))
}

// restartFiles are the credentials a restart needs from the first start.
// Start would create missing ones afresh, and a cluster with a new CA or
// service-account key no longer accepts the kubeconfigs and tokens it
// handed out, so their loss is reported rather than papered over.
var restartFiles = []string{
	"pki/ca.crt", "pki/ca.key",
	"pki/front-proxy-ca.crt", "pki/front-proxy-ca.key",
	"pki/sa.key", "pki/sa.pub",
}

// checkRestartable reports the first reason dir cannot be restarted from:
// a missing or unreadable credential, or missing etcd data.
func checkRestartable(dir, name string) error {
	for _, rel := range restartFiles {
		path := filepath.Join(dir, rel)
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return damaged(name, path, "is missing, and without it the cluster's data and kubeconfigs cannot be used")
		case err != nil:
			return fmt.Errorf("embedded cluster %s: %w", name, err)
		}
		if block, _ := pem.Decode(data); block == nil {
			return damaged(name, path, "is not a PEM file")
		}
	}
	path := filepath.Join(dir, "etcd")
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		return damaged(name, path, "is missing: the cluster's etcd data is gone")
	}
	return nil
}
