// Package kubeconfig writes the contexts of envctl's clusters into the
// user's kubeconfig and reads contexts back as client configurations.
//
// Every cluster envctl creates gets one context, cluster and user entry,
// all named by ContextName. Writes take a file lock and replace the file
// atomically, so that concurrent envctl processes lose nothing and a reader
// never sees a torn file; every other entry in the file is kept.
package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envctl/envctl/internal/errs"
)

// contextPrefix marks kubeconfig entries as envctl's, the way kind uses kind-.
const contextPrefix = "envctl-"

// ContextName is the name of the kubeconfig context, cluster and user that
// envctl writes for a cluster: the cluster name prefixed with "envctl-". A
// name that already carries the prefix (the default cluster of environment
// "local" is "envctl-local") is used as it is, so that users do not have to
// type envctl-envctl-local.
func ContextName(cluster string) string {
	if strings.HasPrefix(cluster, contextPrefix) {
		return cluster
	}
	return contextPrefix + cluster
}

// PathOr is file, or DefaultPath when file is "" (a --kubeconfig flag
// left out).
func PathOr(file string) (string, error) {
	if file != "" {
		return file, nil
	}
	return DefaultPath()
}

// DefaultPath is the file envctl writes contexts to, chosen as kind does:
// the first file named in $KUBECONFIG, otherwise ~/.kube/config.
func DefaultPath() (string, error) {
	for _, p := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if p != "" {
			return p, nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the kubeconfig: set KUBECONFIG: %w", err)
	}
	return filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName), nil
}

// Current says when Merge makes the context it writes the current one.
type Current int

// The current-context rules. The zero value is kind's convention as envctl
// applies it: a kubeconfig without a current context gets the new one, so
// that kubectl works at once; a kubeconfig whose user already chose a
// context keeps it.
const (
	// CurrentIfUnset makes the context current only when the kubeconfig
	// has no current context (or the one it names is not defined).
	CurrentIfUnset Current = iota
	// CurrentAlways makes the context current whatever was current before.
	CurrentAlways
	// CurrentNever leaves current-context as it is.
	CurrentNever
)

// String, Set and Type make a Current a boolean command-line flag
// (--set-context): true is CurrentAlways, false CurrentNever, and a flag
// left out keeps CurrentIfUnset, which help shows as false.
func (c *Current) String() string { return strconv.FormatBool(*c == CurrentAlways) }

// Set parses the flag's value.
func (c *Current) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	*c = CurrentNever
	if v {
		*c = CurrentAlways
	}
	return nil
}

// Type makes pflag treat the flag as a boolean in help and parsing.
func (c *Current) Type() string { return "bool" }

// WriteOptions say where and how Merge writes.
type WriteOptions struct {
	// Path is the kubeconfig file; empty means DefaultPath.
	Path string
	// Current says whether the written context becomes the current one.
	Current Current
}

// Written is what Merge did, for the summary a command prints.
type Written struct {
	// Context is the context's name (ContextName of the cluster).
	Context string
	// Path is the file written.
	Path string
	// Current says whether Context is kubectl's current context afterwards.
	Current bool
	// Previous is the current context the kubeconfig had before, when it
	// had one; Current is false and Previous set when the rules left the
	// user's choice alone.
	Previous string
}

// Merge writes the context of kubeconfig (its current context, or its only
// one) into the file at opts.Path as the cluster's ContextName entries,
// replacing earlier entries of that name and keeping everything else, and
// sets current-context as opts.Current says. Certificate and key files that
// kubeconfig refers to must be named by absolute paths (or inlined as
// data): the entries move to another file, and a relative path would then
// point elsewhere.
//
// When $KUBECONFIG lists several files and opts.Path is one of them, the
// current context is the one kubectl sees: the first file of the list that
// sets one wins, so a current context set in another file counts.
func Merge(ctx context.Context, opts WriteOptions, cluster string, kubeconfig []byte) (Written, error) {
	name := ContextName(cluster)
	entry, err := single(kubeconfig, name)
	if err != nil {
		return Written{}, fmt.Errorf("kubeconfig of cluster %s: %w", cluster, err)
	}
	path := opts.Path
	if path == "" {
		if path, err = DefaultPath(); err != nil {
			return Written{}, err
		}
	}
	w := Written{Context: name, Path: path}
	err = update(ctx, path, func(cfg *clientcmdapi.Config) {
		cfg.Clusters[name] = entry.Clusters[name]
		cfg.AuthInfos[name] = entry.AuthInfos[name]
		cfg.Contexts[name] = entry.Contexts[name]
		before := effectiveCurrent(path, cfg)
		if before != name {
			w.Previous = before
		}
		switch opts.Current {
		case CurrentAlways:
			cfg.CurrentContext = name
		case CurrentIfUnset:
			if before == "" {
				cfg.CurrentContext = name
			}
		}
		w.Current = effectiveCurrent(path, cfg) == name
	})
	if err != nil {
		return Written{}, err
	}
	return w, nil
}

// effectiveCurrent is the current context kubectl would use once cfg is
// written at path: the first current-context set along $KUBECONFIG when
// path is one of its files, else cfg's own. A current-context naming a
// context that no file defines counts as none: kubectl cannot use it.
func effectiveCurrent(path string, cfg *clientcmdapi.Config) string {
	contexts := map[string]bool{}
	for n := range cfg.Contexts {
		contexts[n] = true
	}
	current := ""
	found := false
	for _, p := range kubeconfigList(path) {
		var other *clientcmdapi.Config
		if p == "" {
			other = cfg
		} else {
			o, err := clientcmd.LoadFromFile(p)
			if err != nil {
				continue // kubectl would fail on it too; not ours to judge here
			}
			other = o
		}
		for n := range other.Contexts {
			contexts[n] = true
		}
		if !found && other.CurrentContext != "" {
			current, found = other.CurrentContext, true
		}
	}
	if !contexts[current] {
		return ""
	}
	return current
}

// kubeconfigList is the files kubectl merges, in order, with path itself
// as "": the $KUBECONFIG list when it holds path, else path alone.
func kubeconfigList(path string) []string {
	self, err := resolve(path)
	if err != nil {
		return []string{""}
	}
	var list []string
	seen := false
	for _, p := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if p == "" {
			continue
		}
		if r, err := resolve(p); err == nil && r == self {
			if !seen {
				list = append(list, "")
				seen = true
			}
			continue
		}
		list = append(list, p)
	}
	if !seen {
		return []string{""}
	}
	return list
}

// Remove deletes the cluster's context, cluster and user entries from the
// file at path (empty means DefaultPath) and unsets current-context if it
// named them. It reports whether the file held any of them.
func Remove(ctx context.Context, path, cluster string) (bool, error) {
	name := ContextName(cluster)
	var found bool
	err := update(ctx, path, func(cfg *clientcmdapi.Config) {
		_, c := cfg.Clusters[name]
		_, u := cfg.AuthInfos[name]
		_, x := cfg.Contexts[name]
		found = c || u || x
		delete(cfg.Clusters, name)
		delete(cfg.AuthInfos, name)
		delete(cfg.Contexts, name)
		if cfg.CurrentContext == name {
			cfg.CurrentContext = ""
		}
	})
	return found, err
}

// ForCluster returns a kubeconfig holding only the context of kubeconfig
// (its current or only context), renamed to the cluster's ContextName and
// made current. Providers use it so that every kubeconfig envctl hands out
// names the cluster the same way.
func ForCluster(kubeconfig []byte, cluster string) ([]byte, error) {
	cfg, err := single(kubeconfig, ContextName(cluster))
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of cluster %s: %w", cluster, err)
	}
	return clientcmd.Write(*cfg)
}

// update runs change on the parsed file under the file lock and writes the
// result back atomically. A file that does not parse is left untouched: it
// is the user's, and envctl will not replace what it cannot read.
func update(ctx context.Context, path string, change func(*clientcmdapi.Config)) error {
	if path == "" {
		var err error
		if path, err = DefaultPath(); err != nil {
			return err
		}
	}
	path, err := resolve(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	lock, err := acquire(ctx, path)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	defer lock.release()

	cfg, err := clientcmd.LoadFromFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		cfg = clientcmdapi.NewConfig()
	case err != nil:
		return errs.Input(fmt.Errorf("kubeconfig %s is not a valid kubeconfig, not changing it: %w", path, err))
	}
	before, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	change(cfg)
	after, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if string(before) == string(after) {
		if _, statErr := os.Stat(path); statErr == nil {
			return nil // nothing changed: keep the user's formatting and comments
		}
	}
	if err := writeAtomic(path, after); err != nil {
		return err
	}
	return lock.release()
}

// single parses kubeconfig and returns a config with just its current (or
// only) context, with the context, cluster and user all called name.
func single(kubeconfig []byte, name string) (*clientcmdapi.Config, error) {
	in, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	ctxName := in.CurrentContext
	if ctxName == "" && len(in.Contexts) == 1 {
		for n := range in.Contexts {
			ctxName = n
		}
	}
	c, ok := in.Contexts[ctxName]
	if !ok {
		return nil, fmt.Errorf("no current context among %d contexts", len(in.Contexts))
	}
	cl, ok := in.Clusters[c.Cluster]
	if !ok {
		return nil, fmt.Errorf("context %q names cluster %q, which is not defined", ctxName, c.Cluster)
	}
	user, ok := in.AuthInfos[c.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("context %q names user %q, which is not defined", ctxName, c.AuthInfo)
	}
	out := clientcmdapi.NewConfig()
	out.Clusters[name] = cl
	out.AuthInfos[name] = user
	out.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: c.Namespace}
	out.CurrentContext = name
	return out, nil
}

// contextNames lists a config's contexts for error messages.
func contextNames(cfg *clientcmdapi.Config) string {
	names := make([]string, 0, len(cfg.Contexts))
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
