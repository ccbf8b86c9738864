// Package kubeconfig writes the contexts of envctl's clusters into the
// user's kubeconfig and reads contexts back as client configurations.
//
// Every cluster envctl creates gets one context, cluster and user entry,
// all of one name: kind's own kind-NAME for a kind cluster, envctl-NAME for
// an embedded one (see ContextFor). The kubeconfig is the one kubectl uses
// ($KUBECONFIG, a list of files too, or ~/.kube/config) unless a file is
// named, and it is changed as kubectl changes it: under client-go's lock
// files and through clientcmd.ModifyConfig, so that the entries go to the
// file they came from and every other entry is kept.
package kubeconfig

import (
	"bytes"
	"cmp"
	"context"
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

func init() {
	// envctl takes client-go's lock files itself (lockAll), around the
	// whole read-modify-write; ModifyConfig taking them again would find
	// them taken. This package is the only caller of ModifyConfig.
	clientcmd.UseModifyConfigLock = false
}

// contextPrefix marks the entries of envctl's embedded clusters, the way
// kind uses kind-.
const contextPrefix = "envctl-"

// kindPrefix is kind's prefix for the entries of its clusters.
const kindPrefix = "kind-"

// ContextName is the name of the kubeconfig context, cluster and user that
// envctl writes for an embedded cluster: the cluster name prefixed with
// "envctl-". A name that already carries the prefix (the default cluster
// of environment "local" is "envctl-local") is used as it is, so that
// users do not have to type envctl-envctl-local.
func ContextName(cluster string) string {
	if strings.HasPrefix(cluster, contextPrefix) {
		return cluster
	}
	return contextPrefix + cluster
}

// KindContextName is kind's name for a kind cluster's context, kind-NAME,
// which kind, ctlptl and Tilt recognise as a local cluster.
func KindContextName(cluster string) string { return kindPrefix + cluster }

// ContextFor is the context name of cluster of provider: kind's own for
// kind, ContextName otherwise.
func ContextFor(provider, cluster string) string {
	if provider == "kind" {
		return KindContextName(cluster)
	}
	return ContextName(cluster)
}

// PathOr is file, or DefaultPath when file is "" (a --kubeconfig flag
// left out).
func PathOr(file string) (string, error) {
	if file != "" {
		return file, nil
	}
	return DefaultPath()
}

// DefaultPath is the file kubectl writes new entries to, by client-go's
// rules: the only file of $KUBECONFIG, else the first of its files that
// exists, else its last; ~/.kube/config without $KUBECONFIG.
func DefaultPath() (string, error) {
	return access("").GetDefaultFilename(), nil
}

// access is client-go's view of the kubeconfig: file alone when set, else
// the files kubectl reads.
func access(file string) *clientcmd.PathOptions {
	po := clientcmd.NewDefaultPathOptions()
	po.LoadingRules.ExplicitPath = file
	// client-go reads $HOME once, when it is loaded.
	if home, err := os.UserHomeDir(); err == nil {
		po.GlobalFile = filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
	}
	return po
}

// Current says when Merge makes the context it writes the current one.
type Current int

// The current-context rules.
const (
	// CurrentIfUnset makes the context current only when the kubeconfig
	// has no current context (or the one it names is not defined): the
	// rule for a cluster that existed before, whose user may have chosen
	// another context since.
	CurrentIfUnset Current = iota
	// CurrentAlways makes the context current whatever was current before,
	// as kind does for the cluster it creates.
	CurrentAlways
	// CurrentNever leaves current-context as it is.
	CurrentNever
)

// String, Set and Type make a Current a boolean command-line flag
// (--set-context): true is CurrentAlways, false CurrentNever, and a flag
// left out keeps the caller's default, which help shows as false.
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
	// Path is the kubeconfig file; empty means the files kubectl uses
	// ($KUBECONFIG or ~/.kube/config), new entries going to DefaultPath.
	Path string
	// Current says whether the written context becomes the current one.
	Current Current
	// Context names the entries; empty means ContextName(cluster).
	Context string
	// Replaces are earlier names of the entries (a kind cluster's
	// envctl-NAME before it took kind's kind-NAME): an entry of one of
	// them for the same server is removed, and current-context naming it
	// moves to Context.
	Replaces []string
}

// Written is what Merge did, for the summary a command prints.
type Written struct {
	// Context is the context's name.
	Context string
	// Path is the file that holds the context.
	Path string
	// Named says that the caller named Path (--kubeconfig): kubectl reaches
	// the context only when told the file.
	Named bool
	// Current says whether Context is kubectl's current context afterwards.
	Current bool
	// Previous is the current context the kubeconfig had before, when it
	// had another one: the context a user switched away from, or the one
	// the rules left current.
	Previous string
	// Switched says that Merge made Context current.
	Switched bool
	// Renamed is the earlier name (of WriteOptions.Replaces) whose entries
	// Merge replaced.
	Renamed string
}

// Merge writes the context of kubeconfig (its current context, or its only
// one) into the kubeconfig as the cluster's entries, replacing earlier
// entries of that name where they are and keeping everything else, and
// sets current-context as opts.Current says, where kubectl would set it.
// Certificate and key files that kubeconfig refers to must be named by
// absolute paths (or inlined as data): the entries move to another file,
// and a relative path would then point elsewhere.
func Merge(ctx context.Context, opts WriteOptions, cluster string, kubeconfig []byte) (Written, error) {
	name := cmp.Or(opts.Context, ContextName(cluster))
	entry, err := single(kubeconfig, name)
	if err != nil {
		return Written{}, fmt.Errorf("kubeconfig of cluster %s: %w", cluster, err)
	}
	po := access(opts.Path)
	w := Written{Context: name}
	after, err := update(ctx, po, func(cfg *clientcmdapi.Config) {
		before := current(cfg)
		w.Renamed = dropReplaced(cfg, opts.Replaces, entry.Clusters[name].Server)
		if w.Renamed != "" && before == w.Renamed {
			before = ""
			cfg.CurrentContext = name
		}
		put(cfg, name, entry)
		if before != name {
			w.Previous = before
		}
		switch {
		case opts.Current == CurrentAlways && before != name,
			opts.Current == CurrentIfUnset && before == "":
			cfg.CurrentContext = name
			w.Switched = true
		}
	})
	if err != nil {
		return Written{}, err
	}
	w.Current = current(after) == name
	w.Switched = w.Switched && w.Current
	w.Path = cmp.Or(after.Contexts[name].LocationOfOrigin, po.GetDefaultFilename())
	w.Named = opts.Path != ""
	return w, nil
}

// current is cfg's current context when cfg defines it: a current-context
// naming a context that no file defines counts as none, since kubectl
// cannot use it.
func current(cfg *clientcmdapi.Config) string {
	if _, ok := cfg.Contexts[cfg.CurrentContext]; !ok {
		return ""
	}
	return cfg.CurrentContext
}

// put sets the entries of name from entry, each staying in the file an
// earlier entry of that name came from.
func put(cfg *clientcmdapi.Config, name string, entry *clientcmdapi.Config) {
	cl, u, c := entry.Clusters[name].DeepCopy(), entry.AuthInfos[name].DeepCopy(), entry.Contexts[name].DeepCopy()
	if old, ok := cfg.Clusters[name]; ok {
		cl.LocationOfOrigin = old.LocationOfOrigin
	}
	if old, ok := cfg.AuthInfos[name]; ok {
		u.LocationOfOrigin = old.LocationOfOrigin
	}
	if old, ok := cfg.Contexts[name]; ok {
		c.LocationOfOrigin = old.LocationOfOrigin
	}
	cfg.Clusters[name], cfg.AuthInfos[name], cfg.Contexts[name] = cl, u, c
}

// dropReplaced removes the entries of the first of names whose context
// reaches server, and returns that name ("" when none does). Entries of
// those names for another server are someone else's and stay.
func dropReplaced(cfg *clientcmdapi.Config, names []string, server string) string {
	for _, n := range names {
		c, ok := cfg.Contexts[n]
		if !ok {
			continue
		}
		if cl, ok := cfg.Clusters[c.Cluster]; !ok || cl.Server != server {
			continue
		}
		delete(cfg.Contexts, n)
		if c.Cluster == n {
			delete(cfg.Clusters, n)
		}
		if c.AuthInfo == n {
			delete(cfg.AuthInfos, n)
		}
		return n
	}
	return ""
}

// Removed is what Remove did.
type Removed struct {
	// Found says that the kubeconfig held the entries.
	Found bool
	// WasCurrent says that the context was current, and current-context
	// is now unset.
	WasCurrent bool
}

// Remove deletes the entries of the named contexts (each context, and
// the cluster and user of the same name) from the file at path (empty
// means the files kubectl uses) and unsets current-context if it named
// one of them.
func Remove(ctx context.Context, path string, contexts ...string) (Removed, error) {
	var r Removed
	_, err := update(ctx, access(path), func(cfg *clientcmdapi.Config) {
		for _, name := range contexts {
			_, c := cfg.Clusters[name]
			_, u := cfg.AuthInfos[name]
			_, x := cfg.Contexts[name]
			r.Found = r.Found || c || u || x
			delete(cfg.Clusters, name)
			delete(cfg.AuthInfos, name)
			delete(cfg.Contexts, name)
			if cfg.CurrentContext == name {
				cfg.CurrentContext = ""
				r.WasCurrent = true
			}
		}
	})
	return r, err
}

// ForCluster returns a kubeconfig holding only the context of kubeconfig
// (its current or only context), renamed to the cluster's ContextName and
// made current.
func ForCluster(kubeconfig []byte, cluster string) ([]byte, error) {
	return Named(kubeconfig, ContextName(cluster))
}

// Named returns a kubeconfig holding only the context of kubeconfig (its
// current or only context), with its context, cluster and user called name
// and current. Providers use it so that every kubeconfig envctl hands out
// names a cluster the same way.
func Named(kubeconfig []byte, name string) ([]byte, error) {
	cfg, err := single(kubeconfig, name)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for context %s: %w", name, err)
	}
	return clientcmd.Write(*cfg)
}

// update runs change on the kubeconfig as kubectl sees it (po's files,
// merged) and writes what changed back to the files the entries came from,
// all under client-go's lock files, as `kubectl config` does. Files that
// do not parse are left untouched: they are the user's, and envctl will not
// replace what it cannot read. A file written is made 0600: it holds
// credentials. It returns the kubeconfig as written, read under the lock.
func update(ctx context.Context, po *clientcmd.PathOptions, change func(*clientcmdapi.Config)) (*clientcmdapi.Config, error) {
	files := po.GetLoadingPrecedence()
	where := strings.Join(files, string(os.PathListSeparator))
	locks, err := lockAll(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", where, err)
	}
	defer locks.release()
	before := readAll(files)
	start, err := po.GetStartingConfig()
	if err != nil {
		return nil, errs.Input(fmt.Errorf("kubeconfig %s is not a valid kubeconfig, not changing it: %w", where, err))
	}
	next := start.DeepCopy()
	change(next)
	if err := clientcmd.ModifyConfig(po, *next, false); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", where, err)
	}
	for f, data := range readAll(files) {
		if old, ok := before[f]; !ok || !bytes.Equal(old, data) {
			_ = os.Chmod(f, 0o600)
		}
	}
	after, err := po.GetStartingConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", where, err)
	}
	return after, nil
}

// readAll reads those of files that exist.
func readAll(files []string) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range slices.Compact(slices.Clone(files)) {
		if data, err := os.ReadFile(f); err == nil {
			out[f] = data
		}
	}
	return out
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
