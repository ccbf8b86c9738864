package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/source/git"
)

// Variables that carry secrets: never flags, whose values show in ps.
const (
	envGitPassword      = config.EnvPrefix + "GIT_PASSWORD"
	envSSHKeyPassphrase = config.EnvPrefix + "SSH_KEY_PASSPHRASE"
)

// sourceFlags say where the declared state comes from: the local
// repository (-C/--repo, the default) or a Git repository (--git and the
// flags beside it). Each flag can also be set by its ENVCTL_* variable (the
// flag's name upper-cased, dashes as underscores); a flag on the command
// line wins. Every command that reads the declared state loads it through
// load, which hands the opened source to the engine's loader.
type sourceFlags struct {
	// git takes the flags that are Git options as they are.
	git                            git.Options
	PasswordFile, VerifySignatures string
	MaxSize, MaxFileSize           string

	// Instance is --instance: the environment's instance, a cluster of
	// its own (see config.Environment.SetInstance).
	Instance string

	// refuseFile makes open refuse file:// URLs, which only the command
	// line reads: the in-cluster daemon sets it (a path of its pod's
	// filesystem is no repository a user means).
	refuseFile bool

	fs *pflag.FlagSet
	// lookupEnv reads the variables; os.LookupEnv unless a test sets it.
	lookupEnv func(string) (string, bool)
}

// sourceFlagNames are the flags bind adds, in help order.
var sourceFlagNames = []string{
	"git", "branch", "tag", "semver", "commit", "path", "git-username", "git-password-file", "ca-file",
	"ssh-key", "known-hosts", "verify-signatures", "recurse-submodules", "cache-dir", "git-timeout",
	"git-max-files", "git-max-size", "git-max-file-size",
}

// bind adds the source flags to fs.
func (s *sourceFlags) bind(fs *pflag.FlagSet) {
	s.fs = fs
	fs.StringVar(&s.git.URL, "git", "", "take the declared state from this Git repository (https://, ssh://, git@host:org/repo.git or file://) instead of the local one")
	fs.StringVar(&s.git.Ref.Branch, "branch", "", "with --git: the branch (default: the remote's HEAD branch)")
	fs.StringVar(&s.git.Ref.Tag, "tag", "", "with --git: the tag")
	fs.StringVar(&s.git.Ref.Semver, "semver", "", "with --git: the highest tag in this version range, such as \">=1.2 <2\"")
	fs.StringVar(&s.git.Ref.Commit, "commit", "", "with --git: the commit (full 40-character hash)")
	fs.StringVar(&s.git.Path, "path", "", "with --git: the folder of the repository that holds config.yaml (default: its root)")
	fs.StringVar(&s.git.Auth.Username, "git-username", "", "with --git over https: the user name (the password or token comes from "+envGitPassword+" or --git-password-file)")
	fs.StringVar(&s.PasswordFile, "git-password-file", "", "with --git over https: a file holding the password or token")
	fs.StringVar(&s.git.Auth.CAFile, "ca-file", "", "with --git over https: PEM certificates to trust besides the system's")
	fs.StringVar(&s.git.Auth.SSHKeyFile, "ssh-key", "", "with --git over ssh: the private key (passphrase from "+envSSHKeyPassphrase+"; default: ssh-agent)")
	fs.StringVar(&s.git.Auth.KnownHostsFile, "known-hosts", "", "with --git over ssh: the known_hosts file that must list the server's key (required)")
	fs.StringVar(&s.VerifySignatures, "verify-signatures", "", "with --git: a file of SSH allowed_signers lines or OpenPGP public keys; the commit (or the tag, for --tag and --semver) must be signed by one")
	fs.BoolVar(&s.git.RecurseSubmodules, "recurse-submodules", false, "with --git: fetch submodules into the snapshot (refused otherwise)")
	fs.StringVar(&s.git.CacheDir, "cache-dir", "", "with --git: where fetched repositories and snapshots are kept (default $XDG_CACHE_HOME/envctl/git)")
	fs.DurationVar(&s.git.Timeout, "git-timeout", 60*time.Second, "with --git: how long listing and fetching may take")
	fs.IntVar(&s.git.Limits.Files, "git-max-files", git.DefaultLimits().Files, "with --git: refuse a tree of more entries (files, directories, symlinks and submodules)")
	fs.StringVar(&s.MaxSize, "git-max-size", "1Gi", "with --git: refuse a tree larger than this in all")
	fs.StringVar(&s.MaxFileSize, "git-max-file-size", "64Mi", "with --git: refuse a file larger than this")
	for _, name := range sourceFlagNames {
		f := fs.Lookup(name)
		f.Usage += " (env " + config.FlagEnv(name) + ")"
	}
}

// flagInstance is the flag of sourceFlags.Instance.
const flagInstance = "instance"

// bindInstance adds --instance, for the commands that reach the
// environment's own cluster; bind must have been called with fs.
func (s *sourceFlags) bindInstance(fs *pflag.FlagSet) {
	fs.StringVar(&s.Instance, flagInstance, "", "an instance of the environment with a cluster, context and inventory of its own (cluster name suffixed with -ID), so that parallel CI jobs on one machine never meet (env "+config.FlagEnv(flagInstance)+")")
}

// applyEnv sets each flag the command line did not from its variable.
func (s *sourceFlags) applyEnv() error {
	if s.fs == nil {
		return nil
	}
	return config.FlagsFromEnv(s.fs, append(sourceFlagNames, flagInstance), s.lookupEnv)
}

// gitFromEnv says whether --git came from ENVCTL_GIT rather than the
// command line.
func (s *sourceFlags) gitFromEnv() bool {
	if s.fs == nil {
		return false // a copy whose flags were already applied
	}
	f := s.fs.Lookup("git")
	return s.git.URL != "" && f != nil && !f.Changed
}

func (s *sourceFlags) env(name string) string {
	lookup := s.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, _ := lookup(name)
	return v
}

// gitOnly names a Git flag given on the command line without --git. Their
// variables are let be: a CI job may set ENVCTL_CA_FILE for every step,
// local or not.
func (s *sourceFlags) gitOnly() string {
	if s.fs == nil {
		return ""
	}
	for _, name := range sourceFlagNames[1:] {
		if f := s.fs.Lookup(name); f != nil && f.Changed {
			return "--" + name
		}
	}
	return ""
}

// open returns the source the flags name: the local repository, found
// from -C (or the working directory) as config.yaml is found, or the Git
// repository of --git.
func (s *sourceFlags) open(f *Factory) (source.Source, error) {
	if err := s.applyEnv(); err != nil {
		return nil, err
	}
	if s.git.URL == "" {
		if name := s.gitOnly(); name != "" {
			return nil, usageError(fmt.Errorf("%s is for a Git repository: give --git URL (or ENVCTL_GIT) too", name))
		}
		root, err := config.FindRoot(f.Global.Repo)
		if err != nil {
			return nil, err
		}
		return source.Dir{Path: root}, nil
	}
	if s.gitFromEnv() {
		// An exported variable turns every command remote: say so first.
		fmt.Fprintf(f.Streams.ErrOut, "Source: %s from %s (not a flag); unset it to use the local repository\n", s.git.URL, config.FlagEnv("git"))
	}
	if f.Global.Repo != "" {
		return nil, usageError(errors.New("--repo/-C names a local repository and --git a remote one; give one of them"))
	}
	in := git.Inputs{Options: s.git, PasswordFile: s.PasswordFile, VerifySignatures: s.VerifySignatures,
		MaxSize: s.MaxSize, MaxFileSize: s.MaxFileSize, PasswordEnv: envGitPassword, PasswordFromEnv: s.env(envGitPassword)}
	in.AllowFile, in.Logger = !s.refuseFile, f.Logger
	in.Auth.SSHKeyPassphrase = s.env(envSSHKeyPassphrase)
	src, err := in.Open()
	if err != nil {
		return nil, err
	}
	return src, nil
}

// load opens the source and loads environment env ("" for the default
// one) from it through the engine's loader, with the setting overrides of
// settings, checking that components exist. progress, when set, shows the
// fetch of a Git source as a step.
func (s *sourceFlags) load(ctx context.Context, f *Factory, env string, settings *pflag.FlagSet, components []string, progress cluster.Progress) (*engine.Declared, error) {
	src, err := s.open(f)
	if err != nil {
		return nil, err
	}
	lo := s.loadOptions(f, src, env, settings, components)
	if progress != nil {
		lo.OnFetch = progress.Step
	}
	return engine.Load(ctx, lo)
}

// loadOptions are the engine's options for loading env from src.
func (s *sourceFlags) loadOptions(f *Factory, src source.Source, env string, settings *pflag.FlagSet, components []string) engine.LoadOptions {
	return engine.LoadOptions{
		Source:      src,
		Environment: env,
		Config:      config.LoadOptions{Flags: settings, LookupEnv: s.lookupEnv, Warn: f.warn},
		Components:  components,
		Instance:    s.Instance,
		Logger:      f.Logger,
	}
}
