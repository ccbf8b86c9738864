package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Options configure a provider when it is constructed. Construction must be
// cheap and must not touch the network or a container runtime: `envctl
// cluster list` constructs every provider.
type Options struct {
	// StateDir is the root of envctl's state; empty means StateDir().
	// Providers keep a cluster's files in ClusterDir(StateDir, provider, name).
	StateDir string
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
	// Runtime is a container runtime already found to answer, so that the
	// kind provider need not ask again; nil means the provider detects one.
	Runtime *Runtime
	// Existing is the cluster an environment points the existing provider
	// at; nil means the current context of the default kubeconfig.
	Existing *ExistingTarget
	// RuntimeWait is how long auto waits for a container runtime that is
	// installed but does not answer yet; zero does not wait.
	RuntimeWait time.Duration
	// Notes hears sentences worth showing the user (which provider auto
	// chose and why, a runtime it waits for); nil drops them.
	Notes Noter
}

// Note tells o.Notes, when there is one.
func (o Options) Note(format string, args ...any) {
	if o.Notes != nil {
		o.Notes.Note(format, args...)
	}
}

// ExistingTarget names a cluster envctl did not create.
type ExistingTarget struct {
	// Name is the cluster's name in envctl (the environment's cluster name).
	Name string
	config.ExistingSpec
}

// Log returns the logger providers should use: o.Logger or the default.
func (o Options) Log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Factory constructs a provider from options.
type Factory func(opts Options) (Provider, error)

var registry = struct {
	sync.RWMutex
	factories map[string]Factory
	// unavailable says why a provider is not in this build.
	unavailable map[string]string
}{factories: map[string]Factory{}, unavailable: map[string]string{}}

// known are the provider names configuration may use, whether or not this
// build registered them, so that a missing one gets a message of its own.
var known = []string{config.ProviderAuto, config.ProviderEmbedded, config.ProviderKind, config.ProviderExisting}

// Register makes a provider available under name. Provider packages call it
// from init, so that importing a provider package is what builds it in and
// this package need not import any provider. Registering a name twice, or
// a name configuration cannot use, is a programming error and panics.
func Register(name string, f Factory) {
	if name == config.ProviderAuto || !slices.Contains(known, name) {
		panic(fmt.Sprintf("cluster.Register: %q is not a provider name", name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.factories[name]; dup {
		panic(fmt.Sprintf("cluster.Register: provider %q registered twice", name))
	}
	registry.factories[name] = f
}

// Unavailable records why this build has no provider called name, so
// that asking for it says so plainly; a build that leaves a provider out
// (see the noembedded build tag) calls it from init.
func Unavailable(name, why string) {
	registry.Lock()
	defer registry.Unlock()
	registry.unavailable[name] = why
}

// Registered returns the names of the registered providers, in the order
// Find looks through them: embedded, kind, existing.
func Registered() []string {
	registry.RLock()
	defer registry.RUnlock()
	var names []string
	for _, n := range known {
		if _, ok := registry.factories[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

// New constructs the named provider; "auto" is resolved by Select, not here.
func New(name string, opts Options) (Provider, error) {
	registry.RLock()
	f, ok := registry.factories[name]
	registry.RUnlock()
	if !ok {
		return nil, unknownProvider(name)
	}
	p, err := f(opts)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", name, err)
	}
	return p, nil
}

// unknownProvider explains why name is not available: a misspelling, or a
// provider this build of envctl does not include.
func unknownProvider(name string) error {
	registry.RLock()
	why := registry.unavailable[name]
	registry.RUnlock()
	if why != "" {
		return errs.Inputf("provider %q: %s", name, why)
	}
	if slices.Contains(known, name) {
		return errs.Inputf("provider %q is not available in this build of envctl; available: %s", name, strings.Join(append([]string{config.ProviderAuto}, Registered()...), ", "))
	}
	return errs.Inputf("unknown provider %q; valid providers: %s", name, strings.Join(known, ", "))
}

// NotFoundError is a cluster that a provider does not have.
type NotFoundError struct {
	Name string
	// Provider is the provider asked, or empty when all were.
	Provider string
	// Looked lists the providers asked, when all were.
	Looked []string
}

func (e *NotFoundError) Error() string {
	if e.Provider != "" {
		return fmt.Sprintf("%s cluster %q not found", e.Provider, e.Name)
	}
	return fmt.Sprintf("cluster %q not found (looked in: %s)", e.Name, strings.Join(e.Looked, ", "))
}

// NotFound is the error providers return for a cluster they do not have.
// It is bad input: the user named a cluster that is not there.
func NotFound(provider, name string) error {
	return errs.Input(&NotFoundError{Name: name, Provider: provider})
}

// IsNotFound reports whether err says a cluster does not exist.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}
