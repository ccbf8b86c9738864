package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// FileName is the name of the repo-wide configuration file at the root.
const FileName = "config.yaml"

// LoadOptions say where to find the repository and what overrides apply.
type LoadOptions struct {
	// Dir is the repo root or a directory inside it; "" is the working
	// directory. The root is found by searching upwards, as git finds .git.
	Dir string
	// NoSearch makes Dir the root itself, with no search of its parents:
	// for a source snapshot (a Git checkout), where a config.yaml above the
	// checkout must not be picked up.
	NoSearch bool
	// Flags, when set, holds override flags added by BindFlags; those the
	// user set take precedence over everything else.
	Flags *pflag.FlagSet
	// LookupEnv reads ENVCTL_* variables; it defaults to os.LookupEnv and is
	// injected by tests so they need not touch the process environment.
	LookupEnv func(string) (string, bool)
	// Warn hears a deprecation (a variable under its old name); nil
	// logs it with slog's default logger.
	Warn func(msg string)
}

// warn tells opts.Warn, or the default logger, msg.
func (o LoadOptions) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
		return
	}
	slog.Warn(msg)
}

// Repo is a loaded repository: where it is and its effective settings. It is
// not changed after Load, so its methods may be called concurrently.
type Repo struct {
	// Root is the absolute, symlink-free repository root.
	Root string
	// File is the absolute path of config.yaml.
	File string
	// DirName stands in for Root's base name where that is not the
	// repository's own (a Git snapshot's directory is named after its
	// commit): the folder a clone would have, or the --path folder.
	DirName string
	// Config holds the effective settings: defaults, then the file, then
	// ENVCTL_* variables, then flags.
	Config *Config

	// origins says where each setting's effective value came from.
	origins map[string]origin
}

// origin is where a setting's value came from.
type origin struct {
	// file is the file, or a description such as "environment variable X".
	file string
	pos  Pos
	// what is "default", "file", "env" or "flag".
	what string
}

func (o origin) String() string {
	switch o.what {
	case "file":
		return fmt.Sprintf("%s:%d", o.file, o.pos.Line)
	case "default":
		return "default"
	default:
		return o.file
	}
}

// Origin says where the effective value of a setting (a Key.Name such as
// apply.concurrency) came from: "default", "config.yaml:12",
// "environment variable ENVCTL_APPLY_CONCURRENCY" or "flag --apply-concurrency".
func (r *Repo) Origin(name string) string {
	if o, ok := r.origins[name]; ok {
		return o.String()
	}
	return ""
}

// Load finds the repository, decodes config.yaml strictly and resolves the
// effective settings. Every error it returns is bad input (errs.Input)
// except failures to read files that exist.
func Load(opts LoadOptions) (*Repo, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	root, err := findRoot(opts.Dir, opts.NoSearch)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(root, FileName)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	cfg := &Config{}
	pos, err := decodeDocument(FileName, data, cfg, KindConfig)
	if err != nil {
		return nil, err
	}
	origins, err := resolveSettings(cfg, pos, opts.Flags, lookup, opts.warn)
	if err != nil {
		return nil, err
	}
	r := &Repo{Root: root, File: file, Config: cfg, origins: origins}
	loc := func(name string) (string, Pos) {
		o := origins[name]
		return o.file, o.pos
	}
	if err := validateSettings(&cfg.Spec, root, loc); err != nil {
		return nil, err
	}
	return r, nil
}

// Overrides returns the settings that hold outside any repository: the
// defaults, then ENVCTL_* variables, then the flags of opts the user set.
func Overrides(opts LoadOptions) (Settings, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	cfg := &Config{}
	if _, err := resolveSettings(cfg, positions{}, opts.Flags, lookup, opts.warn); err != nil {
		return Settings{}, err
	}
	return cfg.Spec, nil
}

// FindRoot returns the repository root for dir ("" for the working
// directory): dir or its nearest parent that holds envctl's config.yaml, as
// Load finds it. A local source snapshots that folder.
func FindRoot(dir string) (string, error) { return findRoot(dir, false) }

// findRoot searches dir and, unless noSearch, its parents for a
// config.yaml of envctl's.
func findRoot(dir string, noSearch bool) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("working directory: %w", err)
		}
		dir = wd
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", errs.Inputf("repository %s: %w", dir, err)
	}
	start, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", errs.Inputf("repository %s: %w", dir, err)
	}
	if st, err := os.Stat(start); err != nil {
		return "", errs.Inputf("repository %s: %w", dir, err)
	} else if !st.IsDir() {
		return "", errs.Inputf("repository %s: not a directory", dir)
	}
	var skipped []string
	for d := start; ; {
		candidate := filepath.Join(d, FileName)
		data, err := os.ReadFile(candidate)
		switch {
		case err == nil && isEnvctlConfig(data):
			return d, nil
		case err == nil:
			skipped = append(skipped, candidate)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("read %s: %w", candidate, err)
		}
		parent := filepath.Dir(d)
		if parent == d || noSearch {
			break
		}
		d = parent
	}
	where := start + " or any parent directory"
	if noSearch {
		where = start
	}
	msg := fmt.Sprintf("no envctl repository found: no %s with apiVersion %s in %s", FileName, APIVersion, where)
	if len(skipped) > 0 {
		msg += fmt.Sprintf(" (skipped %s: not an envctl file)", strings.Join(skipped, ", "))
	}
	return "", errs.Input(errors.New(msg))
}

// isEnvctlConfig says whether a config.yaml is envctl's rather than another
// tool's. A file naming any envctl.dev version counts, even one this release
// does not support or that does not parse, so that its problem is reported
// rather than the file being skipped.
func isEnvctlConfig(data []byte) bool {
	var head struct {
		APIVersion string `yaml:"apiVersion"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return bytes.Contains(data, []byte("envctl.dev/"))
	}
	return strings.HasPrefix(head.APIVersion, "envctl.dev/")
}

// document is a configuration file's type.
type document interface {
	header() (apiVersion, kind string)
}

func (c *Config) header() (string, string)      { return c.APIVersion, c.Kind }
func (e *Environment) header() (string, string) { return e.APIVersion, e.Kind }

// decodeDocument decodes file strictly into doc and checks its apiVersion
// and kind.
func decodeDocument(file string, data []byte, doc document, kind string) (positions, error) {
	pos, err := decodeFile(file, data, doc)
	if err != nil {
		return pos, err
	}
	p := &problems{file: file, pos: pos}
	apiVersion, gotKind := doc.header()
	switch {
	case apiVersion == "":
		p.addf("apiVersion", "apiVersion is missing; want %s", APIVersion)
	case apiVersion != APIVersion:
		p.addf("apiVersion", "unsupported apiVersion %q; this envctl reads %s", apiVersion, APIVersion)
	}
	switch {
	case gotKind == "":
		p.addf("kind", "kind is missing; want %s", kind)
	case gotKind != kind:
		p.addf("kind", "kind is %q; a %s file holds kind %s", gotKind, file, kind)
	}
	return pos, p.err()
}

// resolveSettings applies the precedence flag > ENVCTL_* variable > file >
// default to cfg.Spec with viper, and returns where each value came from.
//
// Variables reach viper through MergeConfigMap, over the file's values,
// rather than through AutomaticEnv: viper reads os.Getenv directly, and
// LookupEnv must be injectable. Their values are parsed here so that a bad
// one is reported with the variable's name.
func resolveSettings(cfg *Config, pos positions, fs *pflag.FlagSet, lookup func(string) (string, bool), warn func(string)) (map[string]origin, error) {
	v := viper.New()
	fileLayer := map[string]any{}
	envLayer := map[string]any{}
	origins := map[string]origin{}
	var bad []error
	for _, s := range settingTable {
		v.SetDefault(s.name, s.def)
		o := origin{what: "default"}
		if p := "spec." + s.name; pos.has(p) {
			if val := s.get(&cfg.Spec); val != nil {
				setNested(fileLayer, s.name, val)
				o = origin{what: "file", file: FileName, pos: pos[p]}
			}
		}
		if name, raw := s.lookupEnv(lookup, warn); name != "" {
			val, err := s.parseEnv(raw)
			if err != nil {
				bad = append(bad, &FieldError{File: "environment variable " + name, Msg: err.Error()})
				continue
			}
			setNested(envLayer, s.name, val)
			o = origin{what: "env", file: "environment variable " + name}
		}
		if fs != nil {
			if f := fs.Lookup(s.flagName()); f != nil {
				if err := v.BindPFlag(s.name, f); err != nil {
					return nil, fmt.Errorf("bind flag --%s: %w", f.Name, err)
				}
				if f.Changed {
					o = origin{what: "flag", file: "flag --" + f.Name}
				}
			}
		}
		origins[s.name] = o
	}
	if len(bad) > 0 {
		return nil, errs.Input(errors.Join(bad...))
	}
	if err := v.MergeConfigMap(fileLayer); err != nil {
		return nil, fmt.Errorf("merge %s: %w", FileName, err)
	}
	if err := v.MergeConfigMap(envLayer); err != nil {
		return nil, fmt.Errorf("merge environment variables: %w", err)
	}
	for _, s := range settingTable {
		s.setValue(&cfg.Spec, s.read(v))
	}
	return origins, nil
}

// lookupEnv reads the setting's variable, or its deprecated squashed
// name (warning that it is), and returns the variable read and its value;
// "" when neither is set. The new name wins when both are.
func (s setting) lookupEnv(lookup func(string) (string, bool), warn func(string)) (name, value string) {
	if v, ok := lookup(s.envName()); ok && v != "" {
		if old := s.legacyEnvName(); old != "" {
			if _, set := lookup(old); set {
				warn(fmt.Sprintf("environment variable %s is deprecated and ignored: %s is set too, and wins", old, s.envName()))
			}
		}
		return s.envName(), v
	}
	old := s.legacyEnvName()
	if old == "" {
		return "", ""
	}
	if v, ok := lookup(old); ok && v != "" {
		warn(fmt.Sprintf("environment variable %s is deprecated; use %s (named as the flag --%s)", old, s.envName(), s.flagName()))
		return old, v
	}
	return "", ""
}

// UnknownEnvironmentError is returned for an environment that has no file.
type UnknownEnvironmentError struct {
	Name string
	// Dir is the environments directory, relative to the root.
	Dir string
	// Known lists the environments that do exist, sorted.
	Known []string
}

func (e *UnknownEnvironmentError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("unknown environment %q: no environments in %s/", e.Name, e.Dir)
	}
	return fmt.Sprintf("unknown environment %q%s; known environments: %s",
		e.Name, didYouMean(e.Name, e.Known), strings.Join(e.Known, ", "))
}

// EnvironmentNames lists the environments in the environments directory,
// sorted: every NAME.yaml file.
func (r *Repo) EnvironmentNames() ([]string, error) {
	dir, err := source.Confine(r.Root, r.Config.Spec.EnvironmentsDir)
	if err != nil {
		return nil, fmt.Errorf("spec.environmentsDir: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		// Only names Environment would accept are listed as environments.
		if ok && !e.IsDir() && len(content.IsDNS1123Label(name)) == 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Environment loads environment name ("" for the default environment):
// decodes its file strictly, validates it (paths included) and fills in the
// defaults. Every problem in the file is reported at once.
func (r *Repo) Environment(name string) (*Environment, error) {
	if name == "" {
		name = r.Config.Spec.DefaultEnvironment
	}
	if msgs := content.IsDNS1123Label(name); len(msgs) > 0 {
		return nil, errs.Inputf("invalid environment name %q: %s", name, strings.Join(msgs, "; "))
	}
	rel := path.Join(filepath.ToSlash(r.Config.Spec.EnvironmentsDir), name+".yaml")
	abs, err := source.Confine(r.Root, rel)
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", name, err)
	}
	data, err := os.ReadFile(abs)
	if errors.Is(err, fs.ErrNotExist) {
		if _, yerr := os.Stat(strings.TrimSuffix(abs, ".yaml") + ".yml"); yerr == nil {
			return nil, errs.Inputf("environment %q: found %s.yml; environment files end in .yaml, rename it", name, strings.TrimSuffix(rel, ".yaml"))
		}
		known, lerr := r.EnvironmentNames()
		if lerr != nil {
			return nil, lerr
		}
		return nil, errs.Input(&UnknownEnvironmentError{Name: name, Dir: r.Config.Spec.EnvironmentsDir, Known: known})
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	env := &Environment{}
	pos, err := decodeDocument(rel, data, env, KindEnvironment)
	if err != nil {
		return nil, err
	}
	env.File = rel
	p := &problems{file: rel, pos: pos}
	switch env.Metadata.Name {
	case name:
	case "":
		p.addf("metadata.name", "metadata.name is missing; want %q, the file's name", name)
	default:
		p.addf("metadata.name", "metadata.name is %q but the file is %s; they must match", env.Metadata.Name, path.Base(rel))
	}
	validateEnvironment(env, r.Root, p)
	if err := p.err(); err != nil {
		return nil, err
	}
	env.ApplyDefaults(r.Config.Spec)
	return env, nil
}
