package render

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCheckAliases(t *testing.T) {
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	for i, prev := 'b', 'a'; i <= 'i'; i, prev = i+1, i {
		bomb += fmt.Sprintf("%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", i, i, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	var many strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&many, "- {name: item-%d, value: %d}\n", i, i)
	}
	tests := []struct {
		name    string
		data    string
		refused bool
	}{
		{"a billion laughs", bomb, true},
		{"a second document that is a bomb", "a: 1\n---\n" + bomb, true},
		{"anchors used a few times", "base: &b {cpu: 1, memory: 1Gi}\nx: *b\ny: *b\nz: {<<: *b, cpu: 2}\n", false},
		{"a large file without aliases", many.String(), false},
		{"a star in a string", "command: [\"ls *\", \"&&\", \"echo\"]\n", false},
		{"not YAML", "a: [unclosed\n*&", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := checkAliases("overlays/app/x.yaml", []byte(tt.data))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if (err != nil) != tt.refused {
				t.Fatalf("error %v, want refused %v", err, tt.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "overlays/app/x.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
