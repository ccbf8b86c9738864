// Package sourceflags holds the command-line flags that say where the
// declared state comes from (the local repository or --git and the flags
// beside it), and the decisions made from them: which source to open, and
// the source of a preview's base revision.
package sourceflags

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/source/git"
)

// Variables that carry secrets: never flags, whose values show in ps.
const (
	EnvGitPassword      = config.EnvPrefix + "GIT_PASSWORD"
	EnvSSHKeyPassphrase = config.EnvPrefix + "SSH_KEY_PASSPHRASE"
)

// Flags say where the declared state comes from: the local repository
// (-C/--repo, the default) or a Git repository (--git and the flags beside
// it). Each flag can also be set by its ENVCTL_* variable (the flag's name
// upper-cased, dashes as underscores); a flag on the command line wins.
type Flags struct {
	// Git takes the flags that are Git options as they are.
	Git                            git.Options
	PasswordFile, VerifySignatures string
	MaxSize, MaxFileSize           string

	// Instance is --instance: the environment's instance, a cluster of
	// its own (see config.Environment.SetInstance).
	Instance string

	// RefuseFile makes Open refuse file:// URLs, which only the command
	// line reads: the in-cluster daemon sets it (a path of its pod's
	// filesystem is no repository a user means).
	RefuseFile bool

	// LookupEnv reads the variables; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)

	fs *pflag.FlagSet
}

// names are the flags Bind adds, in help order.
var names = []string{
	"git", "branch", "tag", "semver", "commit", "path", "git-username", "git-password-file", "ca-file",
	"ssh-key", "known-hosts", "verify-signatures", "recurse-submodules", "cache-dir", "git-timeout",
	"git-max-files", "git-max-size", "git-max-file-size",
}

// Bind adds the source flags to fs.
func (s *Flags) Bind(fs *pflag.FlagSet) {
	s.fs = fs
	fs.StringVar(&s.Git.URL, "git", "", "take the declared state from this Git repository (https://, ssh://, git@host:org/repo.git or file://) instead of the local one")
	fs.StringVar(&s.Git.Ref.Branch, "branch", "", "with --git: the branch (default: the remote's HEAD branch)")
	fs.StringVar(&s.Git.Ref.Tag, "tag", "", "with --git: the tag")
	fs.StringVar(&s.Git.Ref.Semver, "semver", "", "with --git: the highest tag in this version range, such as \">=1.2 <2\"")
	fs.StringVar(&s.Git.Ref.Commit, "commit", "", "with --git: the commit (full 40-character hash)")
	fs.StringVar(&s.Git.Path, "path", "", "with --git: the folder of the repository that holds config.yaml (default: its root)")
	fs.StringVar(&s.Git.Auth.Username, "git-username", "", "with --git over https: the user name (the password or token comes from "+EnvGitPassword+" or --git-password-file)")
	fs.StringVar(&s.PasswordFile, "git-password-file", "", "with --git over https: a file holding the password or token")
	fs.StringVar(&s.Git.Auth.CAFile, "ca-file", "", "with --git over https: PEM certificates to trust besides the system's")
	fs.StringVar(&s.Git.Auth.SSHKeyFile, "ssh-key", "", "with --git over ssh: the private key (passphrase from "+EnvSSHKeyPassphrase+"; default: ssh-agent)")
	fs.StringVar(&s.Git.Auth.KnownHostsFile, "known-hosts", "", "with --git over ssh: the known_hosts file that must list the server's key (required)")
	fs.StringVar(&s.VerifySignatures, "verify-signatures", "", "with --git: a file of SSH allowed_signers lines or OpenPGP public keys; the commit (or the tag, for --tag and --semver) must be signed by one")
	fs.BoolVar(&s.Git.RecurseSubmodules, "recurse-submodules", false, "with --git: fetch submodules into the snapshot (refused otherwise)")
	fs.StringVar(&s.Git.CacheDir, "cache-dir", "", "with --git: where fetched repositories and snapshots are kept (default $XDG_CACHE_HOME/envctl/git)")
	fs.DurationVar(&s.Git.Timeout, "git-timeout", 60*time.Second, "with --git: how long listing and fetching may take")
	fs.IntVar(&s.Git.Limits.Files, "git-max-files", git.DefaultLimits().Files, "with --git: refuse a tree of more entries (files, directories, symlinks and submodules)")
	fs.StringVar(&s.MaxSize, "git-max-size", "1Gi", "with --git: refuse a tree larger than this in all")
	fs.StringVar(&s.MaxFileSize, "git-max-file-size", "64Mi", "with --git: refuse a file larger than this")
	for _, name := range names {
		f := fs.Lookup(name)
		f.Usage += " (env " + config.FlagEnv(name) + ")"
	}
}

// flagInstance is the flag of Flags.Instance.
const flagInstance = "instance"

// BindInstance adds --instance, for the commands that reach the
// environment's own cluster; Bind must have been called with fs.
func (s *Flags) BindInstance(fs *pflag.FlagSet) {
	fs.StringVar(&s.Instance, flagInstance, "", "an instance of the environment with a cluster, context and inventory of its own (cluster name suffixed with -ID), so that parallel CI jobs on one machine never meet (env "+config.FlagEnv(flagInstance)+")")
}

// applyEnv sets each flag the command line did not from its variable.
func (s *Flags) applyEnv() error {
	if s.fs == nil {
		return nil
	}
	return config.FlagsFromEnv(s.fs, append(names, flagInstance), s.LookupEnv)
}

// gitFromEnv says whether --git came from ENVCTL_GIT rather than the
// command line.
func (s *Flags) gitFromEnv() bool {
	if s.fs == nil {
		return false // a copy whose flags were already applied
	}
	f := s.fs.Lookup("git")
	return s.Git.URL != "" && f != nil && !f.Changed
}

func (s *Flags) env(name string) string {
	lookup := s.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, _ := lookup(name)
	return v
}

// gitOnly names a Git flag given on the command line without --git. Their
// variables are let be: a CI job may set ENVCTL_CA_FILE for every step,
// local or not.
func (s *Flags) gitOnly() string {
	if s.fs == nil {
		return ""
	}
	for _, name := range names[1:] {
		if f := s.fs.Lookup(name); f != nil && f.Changed {
			return "--" + name
		}
	}
	return ""
}

// Open returns the source the flags name: the local repository, found
// from repo (-C, or the working directory) as config.yaml is found, or the
// Git repository of --git. A --git that came from its variable is said on
// errOut.
func (s *Flags) Open(repo string, errOut io.Writer, logger *slog.Logger) (source.Source, error) {
	if err := s.applyEnv(); err != nil {
		return nil, err
	}
	if s.Git.URL == "" {
		if name := s.gitOnly(); name != "" {
			return nil, errs.Input(fmt.Errorf("%s is for a Git repository: give --git URL (or ENVCTL_GIT) too", name))
		}
		root, err := config.FindRoot(repo)
		if err != nil {
			return nil, err
		}
		return source.Dir{Path: root}, nil
	}
	if s.gitFromEnv() {
		// An exported variable turns every command remote: say so first.
		fmt.Fprintf(errOut, "Source: %s from %s (not a flag); unset it to use the local repository\n", s.Git.URL, config.FlagEnv("git"))
	}
	if repo != "" {
		return nil, errs.Input(errors.New("--repo/-C names a local repository and --git a remote one; give one of them"))
	}
	in := git.Inputs{Options: s.Git, PasswordFile: s.PasswordFile, VerifySignatures: s.VerifySignatures,
		MaxSize: s.MaxSize, MaxFileSize: s.MaxFileSize, PasswordEnv: EnvGitPassword, PasswordFromEnv: s.env(EnvGitPassword)}
	in.AllowFile, in.Logger = !s.RefuseFile, logger
	in.Auth.SSHKeyPassphrase = s.env(EnvSSHKeyPassphrase)
	src, err := in.Open()
	if err != nil {
		return nil, err
	}
	return src, nil
}

// Base is the source of revision rev (diff --base) beside head, which Open
// returned: the local repository at that revision, or the --git repository
// at that ref. headRef names head.
func (s *Flags) Base(head source.Source, rev, repo string, errOut io.Writer, logger *slog.Logger) (base source.Source, headRef string, err error) {
	if dir, ok := head.(source.Dir); ok {
		return &git.Revision{Dir: dir.Path, Rev: rev}, "work tree", nil
	}
	c := *s
	c.fs = nil // the variables are applied; the flags were checked
	c.Git.Ref = git.RefOf(rev)
	base, err = c.Open(repo, errOut, logger)
	if err != nil {
		return nil, "", fmt.Errorf("--base %s: %w", rev, err)
	}
	return base, s.Git.Ref.String(), nil
}
