package engine

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/config"
)

// The flags of Policy. Each command binds those it takes with
// Policy.Bind, so that a flag has one name, one parsing and one meaning
// wherever it appears.
const (
	FlagComponent      = "component"
	FlagTimeout        = "timeout"
	FlagForceConflicts = "force-conflicts"
	FlagForceRecreate  = "force-recreate"
	FlagForcePrune     = "force-prune"
	FlagNoPrune        = "no-prune"
	FlagNoWait         = "no-wait"
	FlagAdopt          = "adopt"
	FlagPruneRemoved   = "prune-removed"
	FlagPruneEmpty     = "prune-empty"
	FlagPruneCRDs      = "prune-crds"
)

// ReconcileFlags are the policy flags of the commands that reconcile.
var ReconcileFlags = []string{FlagComponent, FlagTimeout, FlagForceConflicts, FlagForceRecreate, FlagForcePrune,
	FlagPruneRemoved, FlagPruneEmpty, FlagPruneCRDs, FlagNoPrune, FlagNoWait, FlagAdopt}

var policyUsage = map[string]string{
	FlagComponent:      "only these components (repeat or comma-separate); prune is limited to them too",
	FlagTimeout:        "time each component has to become healthy (default: the component's timeout, then apply.timeout)",
	FlagForceConflicts: "take over fields owned by other field managers",
	FlagForceRecreate:  "delete and recreate objects whose change touches an immutable field",
	FlagForcePrune:     "lift every prune guard at once: delete the objects of removed and of empty components, what an empty render or more than prune.maxFraction of the inventory would delete, and CRDs whose custom resources envctl does not manage, with those resources",
	FlagPruneRemoved:   "confirm the removal of these components from the environment (repeat or comma-separate): their objects are pruned; every other guard keeps holding",
	FlagPruneEmpty:     "prune what a component, or the whole run, that renders nothing applied before (prune.maxFraction still holds)",
	FlagPruneCRDs:      "prune CustomResourceDefinitions even while custom resources of them exist that envctl does not manage, which are deleted with them",
	FlagNoPrune:        "do not delete objects that are no longer declared",
	FlagNoWait:         "do not wait for components to become healthy (hooks are still waited for); prune then runs once every apply succeeded, without a health check",
	FlagAdopt:          "take over objects labelled for another environment, an environment applied from another repository, and a kind cluster envctl created whose record is lost",
}

// Bind binds the named flags of p to fs, each defaulting to p's current
// value. usage replaces the usual help of a flag whose meaning the command
// narrows (what --timeout bounds, say).
func (p *Policy) Bind(fs *pflag.FlagSet, usage map[string]string, names ...string) {
	for _, name := range names {
		help := policyUsage[name]
		if u, ok := usage[name]; ok {
			help = u
		}
		switch name {
		case FlagComponent:
			config.BindList(fs, &p.Components, name, help)
		case FlagTimeout:
			fs.DurationVar(&p.Timeout, name, p.Timeout, help)
		case FlagForceConflicts:
			fs.BoolVar(&p.ForceConflicts, name, p.ForceConflicts, help)
		case FlagForceRecreate:
			fs.BoolVar(&p.ForceRecreate, name, p.ForceRecreate, help)
		case FlagForcePrune:
			fs.BoolVar(&p.ForcePrune, name, p.ForcePrune, help)
		case FlagPruneRemoved:
			config.BindList(fs, &p.PruneRemoved, name, help)
		case FlagPruneEmpty:
			fs.BoolVar(&p.PruneEmpty, name, p.PruneEmpty, help)
		case FlagPruneCRDs:
			fs.BoolVar(&p.PruneCRDs, name, p.PruneCRDs, help)
		case FlagNoPrune:
			fs.BoolVar(&p.NoPrune, name, p.NoPrune, help)
		case FlagNoWait:
			fs.BoolVar(&p.NoWait, name, p.NoWait, help)
		case FlagAdopt:
			fs.BoolVar(&p.Adopt, name, p.Adopt, help)
		default:
			panic(fmt.Sprintf("Policy.Bind: no policy flag %q", name))
		}
	}
}
