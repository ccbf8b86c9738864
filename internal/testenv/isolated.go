package testenv

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// isolatedEnv marks the test binary that RunIsolated re-ran inside its
// network namespace.
const isolatedEnv = "ENVCTL_TESTENV_NETNS"

// skipReason, when set, skips every test that asks for the cluster: the
// package needs a network namespace that this machine cannot make.
var skipReason string

// RunIsolated is Run for a package whose tests could make the API server
// dial an address off this machine: webhook configurations and CRDs with
// conversion webhooks, whose Services have ClusterIPs that lead nowhere on
// the embedded cluster. The test binary runs again, with the same
// arguments, inside a new network namespace that has nothing but loopback
// (`unshare -rn`, a user and network namespace that needs no privilege
// where unprivileged user namespaces are allowed, else `unshare -n`, which
// needs root; then `ip link set lo up`), and the package's cluster starts
// there, so whatever the API server dials, nothing leaves the machine.
//
// Where no such namespace can be made (unshare or ip missing, or neither
// way permitted), the tests that ask for the cluster are skipped and say
// why, except under CI (the CI environment variable set), where the
// package fails: a skip there would pass a run that tested nothing. Under
// -short nothing is re-run: no cluster starts.
func RunIsolated(m *testing.M, opts ...Option) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if os.Getenv(isolatedEnv) == "1" {
		if err := checkLoopbackOnly(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
			return 1
		}
		return Run(m, opts...)
	}
	if testing.Short() {
		return Run(m, opts...)
	}
	flags, why := netnsFlags()
	if why != "" {
		why = "integration test: needs a network namespace with only loopback, and " + why
		if ci := os.Getenv("CI"); ci != "" {
			fmt.Fprintf(os.Stderr, "testenv: %s; CI=%s is set, so this fails instead of skipping\n", why, ci)
			return 1
		}
		skipReason = why
		return Run(m, opts...)
	}
	// The shell brings loopback up in the new namespace, then becomes the
	// test binary: $0 is the binary, "$@" its arguments.
	args := append(append(flags, "--", "/bin/sh", "-c", `ip link set lo up && exec "$0" "$@"`, os.Args[0]), os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), isolatedEnv+"=1")
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "testenv: run the tests in a network namespace: %v\n", err)
		return 1
	}
}

// netnsWays are the unshare flags that make the namespace, in the order
// tried: a user and a network namespace, then a network namespace alone.
var netnsWays = [][]string{{"-r", "-n"}, {"-n"}}

// netnsFlags returns the flags of the first way that makes a namespace
// with loopback up here, or says why none does.
func netnsFlags() ([]string, string) {
	for _, tool := range []struct{ name, pkg string }{{"unshare", "util-linux"}, {"ip", "iproute2"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			return nil, fmt.Sprintf("%s is not installed (Debian package %s)", tool.name, tool.pkg)
		}
	}
	var failed []string
	for _, flags := range netnsWays {
		var stderr bytes.Buffer
		cmd := exec.Command("unshare", append(append([]string{}, flags...), "--", "/bin/sh", "-c", "ip link set lo up")...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			failed = append(failed, fmt.Sprintf("unshare %s: %v: %s", strings.Join(flags, " "), err, strings.TrimSpace(stderr.String())))
			continue
		}
		return flags, ""
	}
	return nil, "no way to make one is permitted here (" + strings.Join(failed, "; ") + ")"
}

// checkLoopbackOnly makes sure that this process's network namespace has
// loopback up and no other interface.
func checkLoopbackOnly() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list network interfaces: %w", err)
	}
	up := false
	for _, in := range ifs {
		if in.Flags&net.FlagLoopback == 0 {
			return fmt.Errorf("the network namespace has interface %s besides loopback", in.Name)
		}
		up = up || in.Flags&net.FlagUp != 0
	}
	if !up {
		return errors.New("loopback is down in the network namespace")
	}
	return nil
}
