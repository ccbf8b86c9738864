package errs

import (
	"errors"
	"testing"
)

func TestObjects(t *testing.T) {
	conflict := Conflict(errors.New("apply ConfigMap ml/a: conflict"))
	input := Input(errors.New("apply ConfigMap ml/b: invalid\nsecond line"))
	tests := []struct {
		name     string
		list     []error
		wantNil  bool
		wantMsg  string
		wantKind Kind
	}{
		{name: "none", wantNil: true},
		{name: "one is itself", list: []error{input}, wantMsg: input.Error(), wantKind: KindInput},
		{
			name:     "several, one per line, classified by the first",
			list:     []error{conflict, input},
			wantMsg:  "2 objects failed:\n  apply ConfigMap ml/a: conflict\n  apply ConfigMap ml/b: invalid\n  second line",
			wantKind: KindConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Objects("failed", tt.list)
			if tt.wantNil {
				if err != nil {
					t.Fatalf("Objects = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantMsg {
				t.Errorf("Objects = %q, want %q", err, tt.wantMsg)
			}
			if k := KindOf(err); k != tt.wantKind {
				t.Errorf("KindOf = %v, want %v", k, tt.wantKind)
			}
			for _, e := range tt.list {
				if !errors.Is(err, e) {
					t.Errorf("errors.Is(%v) = false", e)
				}
			}
		})
	}
}
