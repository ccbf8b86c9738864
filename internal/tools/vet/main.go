// Command vet is the vet tool of `make lint`: go vet's analyzers, run by
// `go vet -vettool`, that analyze envctl's packages only.
//
// go vet analyzes every dependency of the packages it checks too, for the
// facts its printf check carries across packages (which functions wrap
// fmt.Sprintf). Each of the 3,500 dependencies is parsed and type-checked
// again from source for it: 650 of the 2,630 CPU-seconds of a cold
// `make lint` (measured with go vet -debug-trace on 2 cores), and go test
// does it all again with its own vet flags. This tool answers the go
// command's requests for a dependency's facts at once, with none; envctl's
// own packages are analyzed in full, facts included. What is lost is the printf check of
// calls to a dependency's own printf wrappers (klog.Infof, say); calls to
// fmt, log and envctl's wrappers are still checked.
package main

import (
	"encoding/json"
	"os"
	"strings"

	"golang.org/x/tools/go/analysis/passes/appends"
	"golang.org/x/tools/go/analysis/passes/asmdecl"
	"golang.org/x/tools/go/analysis/passes/assign"
	"golang.org/x/tools/go/analysis/passes/atomic"
	"golang.org/x/tools/go/analysis/passes/bools"
	"golang.org/x/tools/go/analysis/passes/buildtag"
	"golang.org/x/tools/go/analysis/passes/cgocall"
	"golang.org/x/tools/go/analysis/passes/composite"
	"golang.org/x/tools/go/analysis/passes/copylock"
	"golang.org/x/tools/go/analysis/passes/defers"
	"golang.org/x/tools/go/analysis/passes/directive"
	"golang.org/x/tools/go/analysis/passes/errorsas"
	"golang.org/x/tools/go/analysis/passes/framepointer"
	"golang.org/x/tools/go/analysis/passes/hostport"
	"golang.org/x/tools/go/analysis/passes/httpresponse"
	"golang.org/x/tools/go/analysis/passes/ifaceassert"
	"golang.org/x/tools/go/analysis/passes/loopclosure"
	"golang.org/x/tools/go/analysis/passes/lostcancel"
	"golang.org/x/tools/go/analysis/passes/nilfunc"
	"golang.org/x/tools/go/analysis/passes/printf"
	"golang.org/x/tools/go/analysis/passes/shift"
	"golang.org/x/tools/go/analysis/passes/sigchanyzer"
	"golang.org/x/tools/go/analysis/passes/slog"
	"golang.org/x/tools/go/analysis/passes/stdmethods"
	"golang.org/x/tools/go/analysis/passes/stdversion"
	"golang.org/x/tools/go/analysis/passes/stringintconv"
	"golang.org/x/tools/go/analysis/passes/structtag"
	"golang.org/x/tools/go/analysis/passes/testinggoroutine"
	"golang.org/x/tools/go/analysis/passes/tests"
	"golang.org/x/tools/go/analysis/passes/timeformat"
	"golang.org/x/tools/go/analysis/passes/unmarshal"
	"golang.org/x/tools/go/analysis/passes/unreachable"
	"golang.org/x/tools/go/analysis/passes/unsafeptr"
	"golang.org/x/tools/go/analysis/passes/unusedresult"
	"golang.org/x/tools/go/analysis/passes/waitgroup"
	"golang.org/x/tools/go/analysis/unitchecker"
)

// module is the import path prefix of the packages analyzed in full.
const module = "github.com/envctl/envctl"

// unit is the part of the go command's per-package configuration file
// this tool reads before unitchecker does.
type unit struct {
	ImportPath string
	VetxOnly   bool
	VetxOutput string
}

func main() {
	if cfg := configFile(os.Args[1:]); cfg != "" {
		if u, ok := readUnit(cfg); ok && u.VetxOnly && !ours(u.ImportPath) {
			// A dependency, asked about only for its facts: it has none
			// here. An empty facts file is what a package without facts
			// gets.
			if err := os.WriteFile(u.VetxOutput, nil, 0o666); err != nil {
				os.Stderr.WriteString("vet: " + err.Error() + "\n")
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	unitchecker.Main(
		appends.Analyzer, asmdecl.Analyzer, assign.Analyzer, atomic.Analyzer, bools.Analyzer,
		buildtag.Analyzer, cgocall.Analyzer, composite.Analyzer, copylock.Analyzer, defers.Analyzer,
		directive.Analyzer, errorsas.Analyzer, framepointer.Analyzer, hostport.Analyzer,
		httpresponse.Analyzer, ifaceassert.Analyzer, loopclosure.Analyzer, lostcancel.Analyzer,
		nilfunc.Analyzer, printf.Analyzer, shift.Analyzer, sigchanyzer.Analyzer, slog.Analyzer,
		stdmethods.Analyzer, stdversion.Analyzer, stringintconv.Analyzer, structtag.Analyzer,
		testinggoroutine.Analyzer, tests.Analyzer, timeformat.Analyzer, unmarshal.Analyzer,
		unreachable.Analyzer, unsafeptr.Analyzer, unusedresult.Analyzer, waitgroup.Analyzer,
	)
}

// configFile is the unit's configuration file among args, the one argument
// the go command passes that ends in .cfg.
func configFile(args []string) string {
	if len(args) == 0 || !strings.HasSuffix(args[len(args)-1], ".cfg") {
		return ""
	}
	return args[len(args)-1]
}

func readUnit(path string) (unit, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return unit{}, false
	}
	var u unit
	if err := json.Unmarshal(data, &u); err != nil {
		return unit{}, false
	}
	return u, true
}

// ours says whether importPath is one of envctl's packages (or its
// test variant, "path [path.test]").
func ours(importPath string) bool {
	return importPath == module || strings.HasPrefix(importPath, module+"/")
}
