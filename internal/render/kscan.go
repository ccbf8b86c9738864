package render

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
)

// kscan walks a kustomization and the local kustomizations it refers to.
type kscan struct {
	root string
	// abs is the top kustomization's directory, resolved.
	abs         string
	allowRemote bool
	seen        map[string]bool
	// openAPI is set when any kustomization in the tree sets `openapi:`.
	openAPI bool
	// remote is set when the tree names a remote base or resource.
	remote bool
	// manifests are the repo-relative YAML files the tree reads as objects
	// or patches, in the order met.
	manifests []string
}

// manifestFields are the kustomization fields whose files hold YAML objects.
var manifestFields = map[string]bool{
	"resources": true, "crds": true, "patches": true, "patchesStrategicMerge": true, "patchesJson6902": true,
}

// malformed returns an error naming the first manifest of the tree that is
// not valid YAML, with its line, or nil. It runs only after kustomize failed,
// because kustomize reports the same problem with the file name relative to
// whichever kustomization loaded it and without a usable line.
func (s *kscan) malformed() error {
	for _, rel := range s.manifests {
		abs, err := source.Confine(s.root, rel)
		if err != nil {
			continue
		}
		data, err := os.ReadFile(abs)
		if err != nil {
			continue
		}
		for _, d := range splitDocuments(data, rel) {
			if _, err := yaml.YAMLToJSON(d.body); err != nil {
				return errs.Inputf("%s: %s", rel, yamlError(err, d))
			}
		}
	}
	return nil
}

// kustEntry is one path-valued entry of a kustomization file.
type kustEntry struct {
	field string
	value string
	// dirOK: the entry may name a kustomization directory.
	dirOK bool
	// fileOK: the entry may name a file.
	fileOK bool
}

// dir checks the kustomization in the repo-relative directory rel. from
// names the kustomization that referred to it, for the message when rel
// holds none.
func (s *kscan) dir(rel, from string) error {
	if s.seen[rel] {
		return nil
	}
	s.seen[rel] = true
	abs, err := source.Confine(s.root, rel)
	if err != nil {
		return err
	}
	var file string
	var data []byte
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if _, err := os.Lstat(filepath.Join(abs, name)); err != nil {
			continue
		}
		// The kustomization file itself may be a symlink.
		p, err := source.Confine(s.root, path.Join(rel, name))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			file, data = path.Join(rel, name), b
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return errs.Inputf("%s: %v", path.Join(rel, name), err)
		}
	}
	if file == "" {
		if from != "" {
			return errs.Inputf("%s: directory %q holds no kustomization.yaml", from, rel)
		}
		return errs.Inputf("directory %q holds no kustomization.yaml", rel)
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return kustomizationError(file, data, err)
	}
	k.FixKustomization()
	if len(k.OpenAPI) > 0 {
		s.openAPI = true
	}
	if len(k.HelmCharts) > 0 || k.HelmGlobals != nil {
		return errs.Inputf("%s:%d: helmCharts in a kustomization are not supported; declare the chart as a helm component in the environment instead",
			file, lineOf(data, "helmCharts"))
	}
	for _, e := range kustEntries(&k) {
		if err := s.entry(rel, file, data, e); err != nil {
			return err
		}
	}
	return nil
}

func kustEntries(k *types.Kustomization) []kustEntry {
	var out []kustEntry
	add := func(field string, dirOK, fileOK bool, values ...string) {
		for _, v := range values {
			if v == "" || strings.Contains(v, "\n") {
				// Inline content (a patch or plugin configuration), not a path.
				continue
			}
			out = append(out, kustEntry{field: field, value: v, dirOK: dirOK, fileOK: fileOK})
		}
	}
	add("resources", true, true, k.Resources...)
	add("components", true, false, k.Components...)
	add("crds", false, true, k.Crds...)
	add("configurations", false, true, k.Configurations...)
	add("generators", true, true, k.Generators...)
	add("transformers", true, true, k.Transformers...)
	add("validators", true, true, k.Validators...)
	for _, p := range k.PatchesStrategicMerge {
		add("patchesStrategicMerge", false, true, string(p))
	}
	for _, p := range k.Patches {
		add("patches", false, true, p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		add("patchesJson6902", false, true, p.Path)
	}
	for _, p := range k.Replacements {
		add("replacements", false, true, p.Path)
	}
	add("openapi", false, true, k.OpenAPI["path"])
	gens := make([]types.GeneratorArgs, 0, len(k.ConfigMapGenerator)+len(k.SecretGenerator))
	for _, g := range k.ConfigMapGenerator {
		gens = append(gens, g.GeneratorArgs)
	}
	for _, g := range k.SecretGenerator {
		gens = append(gens, g.GeneratorArgs)
	}
	for _, g := range gens {
		for _, f := range g.FileSources {
			if _, p, ok := strings.Cut(f, "="); ok {
				f = p
			}
			add("files", true, true, f)
		}
		add("envs", false, true, g.EnvSources...)
		add("envs", false, true, g.EnvSource)
	}
	return out
}

// entry checks one path-valued entry of the kustomization file in dir.
func (s *kscan) entry(dir, file string, data []byte, e kustEntry) error {
	at := func() string { return fmt.Sprintf("%s:%d", file, lineOf(data, e.value)) }
	if isRemote(e.value) {
		if s.allowRemote {
			s.remote = true
			return nil
		}
		return errs.Inputf("%s: %s entry %q is remote; rendering is offline, so remote bases and resources are refused (set render.allowRemoteBases: true in config.yaml to allow them)",
			at(), e.field, e.value)
	}
	if path.IsAbs(e.value) {
		return errs.Input(fmt.Errorf("%s: %s entry %q: %w", at(), e.field, e.value, &source.EscapeError{Path: e.value}))
	}
	rel := path.Join(dir, e.value)
	abs, err := source.Confine(s.root, rel)
	if err != nil {
		var ee *source.EscapeError
		if errors.As(err, &ee) {
			return errs.Input(fmt.Errorf("%s: %s entry %q: %w", at(), e.field, e.value, ee))
		}
		return errs.Inputf("%s: %s entry %q: %v", at(), e.field, e.value, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errs.Inputf("%s: %s entry %q: %s does not exist", at(), e.field, e.value, rel)
		}
		return errs.Inputf("%s: %s entry %q: %v", at(), e.field, e.value, err)
	}
	if !st.IsDir() && manifestFields[e.field] {
		s.manifests = append(s.manifests, rel)
	}
	switch {
	case st.IsDir() && e.field == "files":
		return nil
	case st.IsDir() && e.dirOK:
		return s.dir(rel, file)
	case st.IsDir():
		return errs.Inputf("%s: %s entry %q is a directory; a file is expected", at(), e.field, e.value)
	case !e.fileOK:
		return errs.Inputf("%s: %s entry %q is a file; a directory holding a kustomization is expected", at(), e.field, e.value)
	}
	return nil
}

var userAtRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote reports whether kustomize would fetch a kustomization entry over
// the network: a URL, an scp-style git address (user@host:path), or a
// github.com path. It errs towards remote, since a refused entry is an error
// the user sees while a missed one is a network fetch they did not allow.
func isRemote(entry string) bool {
	s := strings.ToLower(entry)
	s = strings.TrimPrefix(s, "git::")
	if strings.Contains(s, "://") {
		return true
	}
	if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return true
	}
	if userAtRE.MatchString(s) {
		return true
	}
	return strings.HasPrefix(s, "github.com/") || strings.HasPrefix(s, "github.com:") ||
		strings.HasPrefix(s, "gitlab.com/") || strings.HasPrefix(s, "bitbucket.org/")
}

// lineOf returns the 1-based number of the first line of data that contains
// s, or 0.
func lineOf(data []byte, s string) int {
	for i, line := range bytes.Split(data, []byte("\n")) {
		if bytes.Contains(line, []byte(s)) {
			return i + 1
		}
	}
	return 0
}

var (
	kustYAMLLineRE     = regexp.MustCompile(`yaml: line (\d+): (.*)$`)
	kustUnknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)
)

// kustomizationError rewrites kustomize's decoding error of a kustomization
// file as file:line: reason, with the line the YAML parser reports, or for an
// unknown field the line that holds it.
func kustomizationError(file string, data []byte, err error) error {
	msg := err.Error()
	if m := kustYAMLLineRE.FindStringSubmatch(msg); m != nil {
		return errs.Inputf("%s:%s: invalid kustomization: %s", file, m[1], m[2])
	}
	msg = strings.TrimPrefix(msg, "invalid Kustomization: ")
	if m := kustUnknownFieldRE.FindStringSubmatch(msg); m != nil {
		return errs.Inputf("%s:%d: invalid kustomization: unknown field %q", file, lineOf(data, m[1]+":"), m[1])
	}
	return errs.Inputf("%s: invalid kustomization: %s", file, msg)
}
