package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/errs"
)

// ReportEvery is how often a wait for a cluster says what is still
// missing; tests shorten it.
var ReportEvery = 20 * time.Second

// WaitUsable blocks until the cluster behind cfg can take workloads: it
// has at least one node, every node is Ready, and the ServiceAccount
// "default" exists in namespace "default" (pods cannot be created before
// the controller-manager makes it). It is envctl's own readiness gate: kind's
// wait does not fail when its time runs out. When ctx ends first the error
// is a timeout that says what was still missing.
func WaitUsable(ctx context.Context, cfg *rest.Config) error {
	return WaitUsableReporting(ctx, cfg, nil)
}

// WaitUsableReporting is WaitUsable that calls report every ReportEvery
// with how long it has waited and what is still missing (the nodes'
// conditions, the API server's last error), so that a long wait is never
// a silent one.
func WaitUsableReporting(ctx context.Context, cfg *rest.Config, report func(waited time.Duration, missing string)) error {
	cs, err := kubernetes.NewForConfig(withTimeout(cfg, 10*time.Second))
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	start := time.Now()
	next := start.Add(ReportEvery)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := usable(ctx, cs)
		if missing == "" {
			return nil
		}
		if now := time.Now(); report != nil && now.After(next) {
			report(now.Sub(start).Round(time.Second), missing)
			next = now.Add(ReportEvery)
		}
		select {
		case <-ctx.Done():
			return waitError(ctx, fmt.Errorf("cluster at %s not usable after %v: %s", cfg.Host, time.Since(start).Round(time.Second), missing))
		case <-tick.C:
		}
	}
}

// waitError classifies err, a wait that ctx ended: a timeout (exit 4)
// when its deadline passed, saying which deadline when ctx has a cause.
func waitError(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
			return errs.Timeout(fmt.Errorf("%w (%v)", err, cause))
		}
		return errs.Timeout(err)
	}
	return fmt.Errorf("%w: %w", err, cause)
}

// usable returns what keeps the cluster from being usable, or "".
func usable(ctx context.Context, cs kubernetes.Interface) string {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "API server: " + err.Error()
	}
	if len(nodes.Items) == 0 {
		return "no nodes registered"
	}
	var notReady []string
	for _, n := range nodes.Items {
		if ok, why := nodeReady(&n); !ok {
			notReady = append(notReady, fmt.Sprintf("node %s not Ready (%s)", n.Name, why))
		}
	}
	if len(notReady) > 0 {
		return strings.Join(notReady, "; ")
	}
	_, err = cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "ServiceAccount default/default not created yet"
	case err != nil:
		return "API server: " + err.Error()
	}
	return ""
}

// nodeReady says whether n is Ready and, when not, why: the Ready
// condition's reason and message, and any pressure condition that holds
// (a full disk keeps a node from becoming Ready for good).
func nodeReady(n *corev1.Node) (bool, string) {
	var why, pressure []string
	ready := false
	found := false
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == corev1.NodeReady:
			found = true
			if c.Status == corev1.ConditionTrue {
				ready = true
				continue
			}
			r := cmp.Or(c.Reason, "Ready="+string(c.Status))
			if c.Message != "" {
				r += ": " + shorten(c.Message, 160)
			}
			why = append(why, r)
		case c.Status == corev1.ConditionTrue && c.Type != corev1.NodeReady:
			pressure = append(pressure, string(c.Type))
		}
	}
	if ready {
		return true, ""
	}
	if !found {
		why = append(why, "no Ready condition yet")
	}
	if len(pressure) > 0 {
		why = append(why, strings.Join(pressure, ", "))
	}
	return false, strings.Join(why, "; ")
}

// shorten cuts s to at most n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Probe asks the cluster behind cfg for its version and node count, within
// timeout, for listings and summaries.
func Probe(ctx context.Context, cfg *rest.Config, timeout time.Duration) (version string, nodes int, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cs, err := kubernetes.NewForConfig(withTimeout(cfg, timeout))
	if err != nil {
		return "", 0, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return "", 0, errs.Cluster(fmt.Errorf("API server %s: %w", cfg.Host, err))
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		// The version is enough to call the cluster running; a user that
		// may not list nodes still gets it.
		return v.GitVersion, 0, nil
	}
	return v.GitVersion, len(list.Items), nil
}

// withTimeout bounds each request of a client built from cfg: discovery
// calls take no context, so this is the only way to bound them.
func withTimeout(cfg *rest.Config, d time.Duration) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Timeout = d
	return c
}
