package kind

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// kubeletConfigJSON is the file the kubelet reads registry logins from
// for its pulls, in the docker config format.
const kubeletConfigJSON = "/var/lib/kubelet/config.json"

// dockerConfig is the part of the docker client's config.json that holds
// registry logins.
type dockerConfig struct {
	Auths       map[string]dockerAuth `json:"auths"`
	CredsStore  string                `json:"credsStore,omitempty"`
	CredHelpers map[string]string     `json:"credHelpers,omitempty"`
}

type dockerAuth struct {
	Auth string `json:"auth,omitempty"`
}

// hostLogins reads the host's registry logins (docker login) from
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json, asking the
// credential helpers it names (docker-credential-osxkeychain and the
// like) for the secrets they keep, and returns them as a kubelet
// config.json with the registries it holds. No file gives nil.
func hostLogins(ctx context.Context) ([]byte, []string, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, nil, err
		}
		dir = filepath.Join(home, ".docker")
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var in dockerConfig
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	out := dockerConfig{Auths: map[string]dockerAuth{}}
	helperOf := func(host string) string {
		if h, ok := in.CredHelpers[host]; ok {
			return h
		}
		return in.CredsStore
	}
	hosts := map[string]bool{}
	for h := range in.Auths {
		hosts[h] = true
	}
	for h := range in.CredHelpers {
		hosts[h] = true
	}
	for h := range hosts {
		if a := in.Auths[h]; a.Auth != "" {
			out.Auths[h] = a
			continue
		}
		helper := helperOf(h)
		if helper == "" {
			continue
		}
		auth, err := askHelper(ctx, helper, h)
		if err != nil {
			return nil, nil, fmt.Errorf("registry login for %s from docker-credential-%s: %w", h, helper, err)
		}
		if auth != "" {
			out.Auths[h] = dockerAuth{Auth: auth}
		}
	}
	registries := make([]string, 0, len(out.Auths))
	for h := range out.Auths {
		registries = append(registries, h)
	}
	slices.Sort(registries)
	data, err := json.MarshalIndent(out, "", "  ")
	return data, registries, err
}

// askHelper runs docker-credential-HELPER get for host, as the docker
// client does, and returns the login as a config.json auth value; "" when
// the helper has none for host.
func askHelper(ctx context.Context, helper, host string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-credential-"+helper, "get")
	cmd.Stdin = strings.NewReader(host)
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(string(out), "credentials not found") {
			return "", nil
		}
		return "", err
	}
	var c struct{ Username, Secret string }
	if err := json.Unmarshal(out, &c); err != nil {
		return "", fmt.Errorf("helper answered no credentials: %w", err)
	}
	if c.Secret == "" {
		return "", nil
	}
	return base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Secret)), nil
}
