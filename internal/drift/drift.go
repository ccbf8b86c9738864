// Package drift finds the objects of an environment that no longer are as
// envctl applied them, from watches of their metadata alone, and says how
// to take them back.
//
// An object is as envctl left it when it still exists with the
// environment's label, carries the digest envctl wrote, the fields envctl's
// field manager owns hash to what they hashed to after envctl's last write,
// and no kubectl-like manager (kubectl edit, set, scale, patch, label) has
// an entry on it. Every change to a field envctl declares moves that field
// to the writer's manager, so it changes envctl's hash; a change to a field
// envctl does not declare leaves the hash alone and is drift only when a
// person made it through kubectl. What controllers set (an autoscaler's
// replicas, a Deployment's revision annotation, status) is therefore never
// drift, and neither is envctl's own write, which is what the expectation
// is taken from.
//
// Watching metadata only means the watch caches hold no object bodies: no
// Secret data is ever cached, and a thousand objects cost little memory.
// The correction itself applies the object from the in-memory render.
package drift

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"

	"github.com/envctl/envctl/internal/kube"
)

// IgnoreAnnotation set to "ignore", on the declared object or the live
// one, keeps drift correction away from the object.
const IgnoreAnnotation = "envctl.dev/drift"

// Mode is what the loop does about drift.
type Mode string

// Drift modes, as --drift takes them.
const (
	// Correct re-applies a drifted object.
	Correct Mode = "correct"
	// Detect reports drift and changes nothing.
	Detect Mode = "detect"
	// Off does not watch for drift.
	Off Mode = "off"
)

// Modes lists the modes, for flag help and validation.
var Modes = []Mode{Correct, Detect, Off}

// Expected is how envctl left an object: what its last write answered.
type Expected struct {
	// Digest is the envctl.dev/digest annotation envctl wrote.
	Digest string
	// Fields is the hash of the fields envctl's manager owned afterwards.
	Fields string
	// ResourceVersion is the version envctl's write produced; a cached
	// copy older than it has not seen the write yet.
	ResourceVersion string
}

// Reason says what drifted.
type Reason string

// Reasons of drift.
const (
	// Deleted: the object is gone, or no longer carries the environment's
	// label (so the label-selected watch no longer sees it).
	Deleted Reason = "deleted"
	// Edited: a kubectl-like manager changed it.
	Edited Reason = "edited"
	// Changed: another manager changed fields envctl declares, or envctl's
	// digest annotation.
	Changed Reason = "changed"
)

// Verdict is what Check found.
type Verdict struct {
	// Drifted says the object needs correcting.
	Drifted bool
	Reason  Reason
	// By names who changed it, when the managed fields tell.
	By string
	// Stale says the cached copy predates envctl's own last write: no
	// verdict until the watch delivers that write.
	Stale bool
	// Ignored says the live object asks to be left alone.
	Ignored bool
}

// Check judges the cached metadata of an object (nil when the watch does
// not have it) against how envctl left it.
func Check(live *metav1.PartialObjectMetadata, exp Expected, owner string) Verdict {
	if live == nil {
		return Verdict{Drifted: true, Reason: Deleted}
	}
	if live.Annotations[IgnoreAnnotation] == "ignore" {
		return Verdict{Ignored: true}
	}
	if older(live.ResourceVersion, exp.ResourceVersion) {
		return Verdict{Stale: true}
	}
	if ms := kubectlManagers(live.ManagedFields); len(ms) > 0 {
		return Verdict{Drifted: true, Reason: Edited, By: ms[len(ms)-1]}
	}
	if live.Annotations[kube.DigestAnnotation] != exp.Digest || FieldsHash(live.ManagedFields, owner) != exp.Fields {
		return Verdict{Drifted: true, Reason: Changed, By: lastOther(live.ManagedFields, owner)}
	}
	return Verdict{}
}

// older says whether version a comes before b. Versions that are not
// integers (an API server not backed by etcd) are not compared: the copy is
// then judged as it is, at worst one needless correction.
func older(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c < 0
}

// Backoff spaces out the corrections of one object so that a fight with
// another controller does not hammer the API server: the first correction
// is immediate, each further one that follows soon after the previous
// (within Window, or twice the last delay) waits Base, 2×Base, 4×Base, …
// up to Max. The third correction in a row makes it a fight, counted once
// per run of corrections. After GiveUpAfter corrections in a row the
// object is left alone, until Release: envctl stops taking part in a
// fight it cannot win. An object not drifting for a while starts afresh.
type Backoff struct {
	Base, Max, Window time.Duration
	// GiveUpAfter is how many corrections in a row leave an object alone;
	// 0 never does.
	GiveUpAfter int
	objects     map[string]*streak
}

// streak is one object's run of corrections.
type streak struct {
	count int
	last  time.Time
	delay time.Duration
	// alone: GiveUpAfter was reached; no more corrections until Release.
	alone bool
}

// FightAfter is how many corrections in a row make a fight.
const FightAfter = 2

// GiveUpAfter is how many corrections in a row the loop makes before it
// leaves an object alone: with the default delays the tenth comes about
// eight and a half minutes into a fight.
const GiveUpAfter = 10

// NewBackoff returns the backoff the loop uses: 1 s doubling to 5 min,
// with corrections 10 s apart counted as one run, and objects left alone
// after GiveUpAfter corrections in a row.
func NewBackoff() *Backoff {
	return &Backoff{Base: time.Second, Max: 5 * time.Minute, Window: 10 * time.Second, GiveUpAfter: GiveUpAfter, objects: map[string]*streak{}}
}

// Delay says how long to wait before correcting key, which drifted at now,
// and whether this drift starts a fight.
func (b *Backoff) Delay(key string, now time.Time) (time.Duration, bool) {
	s := b.current(key, now)
	if s == nil || s.count == 0 {
		return 0, false
	}
	d := b.Base << (s.count - 1)
	if d > b.Max || d <= 0 {
		d = b.Max
	}
	return d, s.count == FightAfter
}

// Corrected records a correction of key at now, after waiting delay, and
// says whether it was the last: key is left alone from now on.
func (b *Backoff) Corrected(key string, now time.Time, delay time.Duration) bool {
	s := b.current(key, now)
	if s == nil {
		s = &streak{}
		b.objects[key] = s
	}
	s.count++
	s.last = now
	s.delay = delay
	if b.GiveUpAfter > 0 && s.count >= b.GiveUpAfter && !s.alone {
		s.alone = true
		return true
	}
	return false
}

// LeftAlone says whether key is no longer corrected (GiveUpAfter).
func (b *Backoff) LeftAlone(key string) bool {
	s := b.objects[key]
	return s != nil && s.alone
}

// Release lets every object left alone be corrected again, afresh, and
// returns their keys: a new revision, or a reconcile someone asked for.
func (b *Backoff) Release() []string {
	var out []string
	for key, s := range b.objects {
		if s.alone {
			out = append(out, key)
			delete(b.objects, key)
		}
	}
	return out
}

// InFight says whether key's corrections are a fight now.
func (b *Backoff) InFight(key string, now time.Time) bool {
	s := b.current(key, now)
	return s != nil && s.count >= FightAfter
}

// Forget drops key, for an object no longer declared.
func (b *Backoff) Forget(key string) { delete(b.objects, key) }

// current returns key's run, dropping one that has gone quiet.
func (b *Backoff) current(key string, now time.Time) *streak {
	s := b.objects[key]
	if s == nil {
		return nil
	}
	if !s.alone && now.Sub(s.last) > max(b.Window, 2*s.delay) {
		delete(b.objects, key)
		return nil
	}
	return s
}
