package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Bounds of aliasExpansion. A document whose aliases expand it more than
// aliasGrowth times, to more than aliasMinNodes nodes, is refused: a
// "billion laughs" of nine nested aliases of nine would otherwise be
// expanded by kustomize into hundreds of millions of nodes, taking minutes
// and gigabytes before any error. Documents without aliases never grow.
const (
	aliasGrowth   = 10
	aliasMinNodes = 100_000
)

// checkAliases refuses a YAML file whose aliases expand it out of bounds,
// naming the file. A file that does not parse is left to its reader, which
// reports it better.
func checkAliases(name string, data []byte) error {
	if !bytes.Contains(data, []byte("*")) || !bytes.Contains(data, []byte("&")) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil
		}
		raw, expanded := aliasExpansion(&doc)
		if expanded > aliasMinNodes && expanded > aliasGrowth*raw {
			return fmt.Errorf("%s: its YAML aliases expand %d nodes to more than %d (a YAML bomb?); refusing to read it", name, raw, expanded)
		}
	}
}

// aliasExpansion counts n's nodes as written and as its aliases expand
// them, stopping early once the expansion is past every bound.
func aliasExpansion(n *yaml.Node) (raw, expanded int64) {
	limit := int64(aliasMinNodes)
	memo := map[*yaml.Node]int64{}
	var size func(*yaml.Node, bool) int64
	size = func(n *yaml.Node, count bool) int64 {
		if n == nil {
			return 0
		}
		if count {
			raw++
		}
		if n.Kind == yaml.AliasNode {
			if v, ok := memo[n.Alias]; ok {
				return v
			}
			// Counted as written where the anchor is; here only expanded.
			v := size(n.Alias, false)
			memo[n.Alias] = v
			return v
		}
		total := int64(1)
		for _, c := range n.Content {
			total += size(c, count)
			if total > limit*aliasGrowth*1000 {
				break // far past any bound; the exact figure does not matter
			}
		}
		if n.Anchor != "" {
			memo[n] = total
		}
		return total
	}
	expanded = size(n, true)
	return raw, expanded
}
