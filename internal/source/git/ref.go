package git

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
)

// Ref says which commit of the repository to take. At most one field is
// set; none means the branch the remote's HEAD points to.
type Ref struct {
	// Branch is a branch name (main, release/1.x).
	Branch string
	// Tag is a tag name (v1.2.3).
	Tag string
	// Semver is a version range (">=1.2 <2", "~1.4"); the highest tag that
	// parses as a version in it is taken.
	Semver string
	// Commit is a full 40-hex commit hash.
	Commit string
}

// Validate checks that at most one field is set and that it is well
// formed, with messages naming the flag a user sets.
func (r Ref) Validate() error {
	set := 0
	for _, v := range []string{r.Branch, r.Tag, r.Semver, r.Commit} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return errors.New("give at most one of --branch, --tag, --semver and --commit")
	}
	switch {
	case r.Branch != "":
		if err := CheckRefName(r.Branch); err != nil {
			return fmt.Errorf("--branch %q: %w", r.Branch, err)
		}
	case r.Tag != "":
		if err := CheckRefName(r.Tag); err != nil {
			return fmt.Errorf("--tag %q: %w", r.Tag, err)
		}
	case r.Semver != "":
		if _, err := semver.NewConstraint(r.Semver); err != nil {
			return fmt.Errorf("--semver %q is not a version range: %w", r.Semver, err)
		}
	case r.Commit != "":
		if !isFullHash(r.Commit) {
			return fmt.Errorf("--commit %q: give the full 40-character commit hash", r.Commit)
		}
	}
	return nil
}

// String names the ref for messages: "branch main", "tag v1", "semver
// ~1.2", "commit <hex>", or "the remote's HEAD".
func (r Ref) String() string {
	switch {
	case r.Branch != "":
		return "branch " + r.Branch
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Semver != "":
		return "semver " + r.Semver
	case r.Commit != "":
		return "commit " + strings.ToLower(r.Commit)
	}
	return "the remote's HEAD"
}

// key is the ref's part of a cache directory's name.
func (r Ref) key() string {
	switch {
	case r.Branch != "":
		return "branch:" + r.Branch
	case r.Tag != "":
		return "tag:" + r.Tag
	case r.Semver != "":
		return "semver:" + r.Semver
	case r.Commit != "":
		return "commit:" + strings.ToLower(r.Commit)
	}
	return "head"
}

func isFullHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// CheckRefName applies git check-ref-format's rules to a branch or tag
// name (given without refs/heads/ or refs/tags/), so that a name is refused
// before any request rather than sent to a server.
func CheckRefName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "@":
		return errors.New(`"@" is not a valid name`)
	case strings.HasPrefix(name, "-"):
		return errors.New("a name may not start with '-'")
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return errors.New("a name may not start or end with '/'")
	case strings.HasSuffix(name, "."):
		return errors.New("a name may not end with '.'")
	case strings.Contains(name, ".."):
		return errors.New(`a name may not contain ".."`)
	case strings.Contains(name, "@{"):
		return errors.New(`a name may not contain "@{"`)
	case strings.Contains(name, "//"):
		return errors.New(`a name may not contain "//"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return fmt.Errorf("a name may not contain %q", r)
		}
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return fmt.Errorf("the component %q may not start with '.' or end with \".lock\"", part)
		}
	}
	return nil
}

// advertised is what the remote's ref listing holds.
type advertised struct {
	// refs maps full ref names to the object they name.
	refs map[string]plumbing.Hash
	// peeled maps an annotated tag's full ref name to its commit.
	peeled map[string]plumbing.Hash
	// head is HEAD's object and headTarget the branch it points to, when
	// the server says.
	head       *plumbing.Hash
	headTarget string
}

// target is the resolved ref: what to fetch and how to name it.
type target struct {
	// name is the branch or tag name of the revision, "" for a commit.
	name string
	// want is the object to fetch: the commit, or an annotated tag.
	want plumbing.Hash
	// commit is the commit want leads to, when the listing says (an
	// annotated tag always lists it; a lightweight tag may name a tree).
	commit plumbing.Hash
	// annotated is true when want is a tag object, which carries the
	// signature to verify for --tag and --semver.
	annotated bool
}

// revision is the target as Flux writes it.
func (t target) revision() string {
	if t.name == "" {
		return "sha1:" + t.commit.String()
	}
	return t.name + "@sha1:" + t.commit.String()
}

// NotFoundError is a branch, tag, version or HEAD the remote does not have.
type NotFoundError struct {
	// What names it: `branch "dev"`, `a tag matching semver "~2"`.
	What string
	// URL is the repository, printable.
	URL string
	// Have lists what the remote does have, a few names.
	Have []string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("%s not found in %s", e.What, e.URL)
	if len(e.Have) > 0 {
		msg += " (it has " + strings.Join(e.Have, ", ") + ")"
	}
	return msg
}

// resolve finds r among the advertised refs.
func resolve(r Ref, adv advertised, url string) (target, error) {
	switch {
	case r.Branch != "":
		h, ok := adv.refs["refs/heads/"+r.Branch]
		if !ok {
			return target{}, &NotFoundError{What: fmt.Sprintf("branch %q", r.Branch), URL: url, Have: names(adv, "refs/heads/")}
		}
		return target{name: r.Branch, want: h, commit: h}, nil
	case r.Tag != "":
		return tagTarget(r.Tag, adv, url, fmt.Sprintf("tag %q", r.Tag))
	case r.Semver != "":
		name, err := highestTag(r.Semver, adv)
		if err != nil {
			return target{}, err
		}
		if name == "" {
			return target{}, &NotFoundError{What: fmt.Sprintf("a tag matching semver %q", r.Semver), URL: url, Have: names(adv, "refs/tags/")}
		}
		return tagTarget(name, adv, url, fmt.Sprintf("tag %q", name))
	case r.Commit != "":
		h := plumbing.NewHash(strings.ToLower(r.Commit))
		return target{want: h, commit: h}, nil
	}
	if adv.headTarget != "" {
		if h, ok := adv.refs[adv.headTarget]; ok {
			return target{name: strings.TrimPrefix(adv.headTarget, "refs/heads/"), want: h, commit: h}, nil
		}
	}
	if adv.head != nil {
		return target{name: "HEAD", want: *adv.head, commit: *adv.head}, nil
	}
	return target{}, &NotFoundError{What: "HEAD (the default branch)", URL: url, Have: names(adv, "refs/heads/")}
}

func tagTarget(name string, adv advertised, url, what string) (target, error) {
	full := "refs/tags/" + name
	h, ok := adv.refs[full]
	if !ok {
		return target{}, &NotFoundError{What: what, URL: url, Have: names(adv, "refs/tags/")}
	}
	if c, ok := adv.peeled[full]; ok {
		return target{name: name, want: h, commit: c, annotated: true}, nil
	}
	return target{name: name, want: h, commit: h}, nil
}

// highestTag is the tag with the highest version in the range; "" when none
// is.
func highestTag(rng string, adv advertised) (string, error) {
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return "", fmt.Errorf("--semver %q is not a version range: %w", rng, err)
	}
	var best *semver.Version
	bestName := ""
	for full := range adv.refs {
		name, ok := strings.CutPrefix(full, "refs/tags/")
		if !ok {
			continue
		}
		v, err := semver.NewVersion(name)
		if err != nil || !c.Check(v) {
			continue
		}
		// Equal versions (v1.2.3 and 1.2.3): the greater name, so that
		// the choice does not depend on map order.
		if best == nil || v.GreaterThan(best) || v.Equal(best) && name > bestName {
			best, bestName = v, name
		}
	}
	return bestName, nil
}

// names lists up to ten ref names under prefix, sorted, for messages.
func names(adv advertised, prefix string) []string {
	var out []string
	for full := range adv.refs {
		if n, ok := strings.CutPrefix(full, prefix); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], "…")
	}
	if len(out) == 0 {
		if prefix == "refs/tags/" {
			return []string{"no tags"}
		}
		return []string{"no branches"}
	}
	return out
}
