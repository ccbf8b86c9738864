package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/engine"
)

// The flags of engine.Policy. Each command binds those it takes with
// bindPolicy, so that a flag has one name, one parsing and one meaning
// wherever it appears.
const (
	flagComponent      = "component"
	flagTimeout        = "timeout"
	flagForceConflicts = "force-conflicts"
	flagForceRecreate  = "force-recreate"
	flagForcePrune     = "force-prune"
	flagNoPrune        = "no-prune"
	flagNoWait         = "no-wait"
	flagAdopt          = "adopt"
)

// reconcileFlags are the policy flags of the commands that reconcile.
var reconcileFlags = []string{flagComponent, flagTimeout, flagForceConflicts, flagForceRecreate, flagForcePrune, flagNoPrune, flagNoWait, flagAdopt}

var policyUsage = map[string]string{
	flagComponent:      "only these components (repeat or comma-separate); prune is limited to them too",
	flagTimeout:        "time each component has to become healthy (default: the component's timeout, then apply.timeout)",
	flagForceConflicts: "take over fields owned by other field managers",
	flagForceRecreate:  "delete and recreate objects whose change touches an immutable field",
	flagForcePrune:     "prune even an empty render or more than prune.maxFraction of the inventory",
	flagNoPrune:        "do not delete objects that are no longer declared",
	flagNoWait:         "do not wait for components to become healthy (hooks are still waited for); prune then runs once every apply succeeded, without a health check",
	flagAdopt:          "take over objects labelled for another environment, and an environment applied from another repository",
}

// bindPolicy binds the named flags of p to fs, each defaulting to p's
// current value. usage replaces the usual help of a flag whose meaning the
// command narrows (what --timeout bounds, say).
func bindPolicy(fs *pflag.FlagSet, p *engine.Policy, usage map[string]string, names ...string) {
	for _, name := range names {
		help := policyUsage[name]
		if u, ok := usage[name]; ok {
			help = u
		}
		switch name {
		case flagComponent:
			fs.StringSliceVar(&p.Components, name, p.Components, help)
		case flagTimeout:
			fs.DurationVar(&p.Timeout, name, p.Timeout, help)
		case flagForceConflicts:
			fs.BoolVar(&p.ForceConflicts, name, p.ForceConflicts, help)
		case flagForceRecreate:
			fs.BoolVar(&p.ForceRecreate, name, p.ForceRecreate, help)
		case flagForcePrune:
			fs.BoolVar(&p.ForcePrune, name, p.ForcePrune, help)
		case flagNoPrune:
			fs.BoolVar(&p.NoPrune, name, p.NoPrune, help)
		case flagNoWait:
			fs.BoolVar(&p.NoWait, name, p.NoWait, help)
		case flagAdopt:
			fs.BoolVar(&p.Adopt, name, p.Adopt, help)
		default:
			panic(fmt.Sprintf("bindPolicy: no policy flag %q", name))
		}
	}
}
