package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// checkOutput reports an -o value outside formats ("text", "json") as a
// usage error, so that every command words it alike and exits 2.
func checkOutput(output string, formats ...string) error {
	if slices.Contains(formats, output) {
		return nil
	}
	return usageError(fmt.Errorf("unknown output format %q: want %s or %s", output,
		strings.Join(formats[:len(formats)-1], ", "), formats[len(formats)-1]))
}

// writeJSON writes v as the indented JSON that `-o json` prints for scripts.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
