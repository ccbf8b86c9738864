package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), logFile)
	old := "line from an earlier run\n"
	var b strings.Builder
	b.WriteString(old)
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	b.WriteString(strings.Repeat("x", 1000) + "\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := logTail(path, int64(len(old)), 5)
	lines := strings.Split(got, "\n")
	if len(lines) != 5 {
		t.Fatalf("tail has %d lines, want 5:\n%s", len(lines), got)
	}
	if lines[0] != "    line 27" || lines[3] != "    line 30" {
		t.Errorf("tail is not the last lines, indented:\n%s", got)
	}
	if n := len(lines[4]); n > 4+400+len("…") {
		t.Errorf("a long line is %d bytes in the tail, want it cut", n)
	}

	if got := logTail(path, int64(len(old)), 100); strings.Contains(got, "earlier run") {
		t.Errorf("tail reaches before the offset:\n%s", got)
	}
	if got := logTail(filepath.Join(t.TempDir(), "none"), 0, 5); got != "" {
		t.Errorf("tail of a missing log = %q, want empty", got)
	}
}
