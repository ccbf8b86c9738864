package kubeconfig

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envctl/envctl/internal/errs"
)

// Selected is one context of a kubeconfig, resolved and checked.
type Selected struct {
	// Source names where the context came from, for messages: the file,
	// or the KUBECONFIG list.
	Source string
	// Context is the context name.
	Context string
	// raw is the whole loaded configuration, paths resolved.
	raw clientcmdapi.Config
}

// Load reads the kubeconfig at path, or, when path is empty, the files
// kubectl would read ($KUBECONFIG or ~/.kube/config), and selects the
// context named contextName (empty means the current context). Every error
// is bad input naming the file and context.
func Load(path, contextName string) (*Selected, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	source := path
	if path == "" {
		source = strings.Join(rules.GetLoadingPrecedence(), string(os.PathListSeparator))
		if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "" {
			source = "KUBECONFIG=" + source
		}
	} else if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, errs.Inputf("kubeconfig %s does not exist", path)
	}
	if files := rules.GetLoadingPrecedence(); path == "" && !anyExists(files) {
		if len(files) > 1 {
			return nil, errs.Inputf("no kubeconfig: none of %s exists", source)
		}
		return nil, errs.Inputf("no kubeconfig: %s does not exist", source)
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, errs.Input(fmt.Errorf("kubeconfig %s: %w", source, err))
	}
	name := contextName
	if name == "" {
		name = raw.CurrentContext
	}
	if name == "" {
		if len(raw.Contexts) == 0 {
			return nil, errs.Inputf("kubeconfig %s: no contexts defined", source)
		}
		return nil, errs.Inputf("kubeconfig %s has no current-context; name one of: %s", source, contextNames(raw))
	}
	c, ok := raw.Contexts[name]
	if !ok {
		return nil, errs.Inputf("kubeconfig %s: context %q not found; contexts: %s", source, name, contextNames(raw))
	}
	if _, ok := raw.Clusters[c.Cluster]; !ok {
		return nil, errs.Inputf("kubeconfig %s: context %q names cluster %q, which is not defined", source, name, c.Cluster)
	}
	if _, ok := raw.AuthInfos[c.AuthInfo]; !ok && c.AuthInfo != "" {
		return nil, errs.Inputf("kubeconfig %s: context %q names user %q, which is not defined", source, name, c.AuthInfo)
	}
	s := &Selected{Source: source, Context: name, raw: *raw}
	// Catch a context naming a missing cluster or user here, with the
	// file and context named, rather than at the first request.
	if _, err := s.RESTConfig(); err != nil {
		return nil, err
	}
	return s, nil
}

// RESTConfig returns a client configuration for the selected context.
func (s *Selected) RESTConfig() (*rest.Config, error) {
	cc := clientcmd.NewNonInteractiveClientConfig(s.raw, s.Context, &clientcmd.ConfigOverrides{}, nil)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, errs.Input(fmt.Errorf("kubeconfig %s, context %q: %w", s.Source, s.Context, err))
	}
	return cfg, nil
}

// Server is the API server URL of the selected context.
func (s *Selected) Server() string {
	if c, ok := s.raw.Contexts[s.Context]; ok {
		if cl, ok := s.raw.Clusters[c.Cluster]; ok {
			return cl.Server
		}
	}
	return ""
}

// File is the file that defines the selected context.
func (s *Selected) File() string {
	if c, ok := s.raw.Contexts[s.Context]; ok {
		return c.LocationOfOrigin
	}
	return ""
}

// Minified returns a self-contained kubeconfig with only the selected
// context, certificate files inlined, so it works on its own wherever it is
// written.
func (s *Selected) Minified() ([]byte, error) {
	cfg := s.raw.DeepCopy()
	cfg.CurrentContext = s.Context
	if err := clientcmdapi.MinifyConfig(cfg); err != nil {
		return nil, errs.Input(fmt.Errorf("kubeconfig %s, context %q: %w", s.Source, s.Context, err))
	}
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return nil, errs.Input(fmt.Errorf("kubeconfig %s, context %q: %w", s.Source, s.Context, err))
	}
	return clientcmd.Write(*cfg)
}

// RESTConfig reads one context of a kubeconfig as a client configuration;
// see Load for the meaning of path and contextName.
func RESTConfig(path, contextName string) (*rest.Config, error) {
	s, err := Load(path, contextName)
	if err != nil {
		return nil, err
	}
	return s.RESTConfig()
}

// anyExists reports whether any of the files exists.
func anyExists(files []string) bool {
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}
