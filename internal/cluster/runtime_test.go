package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeRuntime writes an executable script called name into dir that acts
// like that runtime's client.
func fakeRuntime(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

const (
	answers     = `[ "$1 $2 $3" = "info --format {{.ServerVersion}}" ] && echo 27.3.1 && exit 0; [ "$1 $2 $3" = "info --format {{.Version.Version}}" ] && echo 5.2.0 && exit 0; echo "unexpected args: $*" >&2; exit 2`
	daemonDown  = `echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1`
	podmanDown  = `echo "Error: unable to connect to Podman socket: failed to connect: dial unix /run/user/1000/podman/podman.sock: connect: no such file or directory" >&2; exit 125`
	hangs       = `sleep 30`
	emptyAnswer = `exit 0`
)

func TestDetectRuntime(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fakes    map[string]string
		runtimes []string
		env      string
		want     string   // runtime chosen, or "" for none
		wantErr  []string // substrings of the error
	}{
		{
			name:  "docker answers",
			fakes: map[string]string{"docker": answers, "podman": answers},
			want:  "docker 27.3.1",
		},
		{
			name:  "docker daemon down, podman answers",
			fakes: map[string]string{"docker": daemonDown, "podman": answers},
			want:  "podman 5.2.0",
		},
		{
			name:  "nothing answers",
			fakes: map[string]string{"docker": daemonDown, "podman": podmanDown},
			wantErr: []string{
				"docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
				"podman: unable to connect to Podman socket",
				"nerdctl: not installed (not found in PATH)",
			},
		},
		{
			name:    "daemon hangs",
			fakes:   map[string]string{"docker": hangs},
			wantErr: []string{"docker: docker info did not answer within 300ms"},
		},
		{
			name:    "client answers without a server version",
			fakes:   map[string]string{"docker": emptyAnswer},
			wantErr: []string{"docker: docker info reported no server version"},
		},
		{
			name:    "nothing installed",
			wantErr: []string{"docker: not installed", "podman: not installed", "nerdctl: not installed"},
		},
		{
			name:     "only the runtimes asked for",
			fakes:    map[string]string{"docker": answers},
			runtimes: []string{"podman"},
			wantErr:  []string{"podman: not installed"},
		},
		{
			name:  "KIND_EXPERIMENTAL_PROVIDER picks the runtime",
			fakes: map[string]string{"docker": answers, "podman": answers},
			env:   "podman",
			want:  "podman 5.2.0",
		},
		{
			// kind warns and ignores a value it does not know.
			name:  "KIND_EXPERIMENTAL_PROVIDER names an unsupported runtime",
			fakes: map[string]string{"docker": answers},
			env:   "containerd",
			want:  "docker 27.3.1",
		},
		{
			name:  "KIND_EXPERIMENTAL_PROVIDER names finch, nerdctl under another name",
			fakes: map[string]string{"docker": answers, "finch": answers},
			env:   "finch",
			want:  "nerdctl 27.3.1",
		},
		{
			name:    "KIND_EXPERIMENTAL_PROVIDER names nerdctl.lima, which is not installed",
			fakes:   map[string]string{"docker": answers},
			env:     "nerdctl.lima",
			wantErr: []string{"nerdctl.lima: not installed"},
		},
		{
			name:  "kind's order: nerdctl before podman",
			fakes: map[string]string{"docker": daemonDown, "podman": answers, "nerdctl": answers},
			want:  "nerdctl 27.3.1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, script := range tc.fakes {
				fakeRuntime(t, dir, name, script)
			}
			t.Setenv("KIND_EXPERIMENTAL_PROVIDER", tc.env)
			start := time.Now()
			rt, err := DetectRuntime(context.Background(), DetectOptions{Path: dir, Runtimes: tc.runtimes, Timeout: 300 * time.Millisecond})
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("detection took %v; a hanging runtime must not hang envctl", elapsed)
			}
			if tc.want != "" {
				if err != nil {
					t.Fatalf("DetectRuntime: %v", err)
				}
				if got := rt.Name + " " + rt.Version; got != tc.want {
					t.Errorf("runtime = %s, want %s", got, tc.want)
				}
				if rt.Path != filepath.Join(dir, rt.Client()) {
					t.Errorf("path = %s", rt.Path)
				}
				return
			}
			if err == nil {
				t.Fatalf("DetectRuntime found %+v, want an error", rt)
			}
			var nre *NoRuntimeError
			if !errors.As(err, &nre) {
				t.Errorf("error %T is not a *NoRuntimeError", err)
			}
			if !strings.HasPrefix(err.Error(), "no container runtime answered: ") {
				t.Errorf("error = %q", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestDetectRuntimeIgnoresNonExecutable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\necho 1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := DetectRuntime(context.Background(), DetectOptions{Path: dir, Runtimes: []string{"docker"}})
	if err == nil || !strings.Contains(err.Error(), "docker: not installed") {
		t.Errorf("err = %v, want docker reported not installed", err)
	}
}
