package testenv

import "testing"

func TestNamePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"TestApply":                "testapply-",
		"TestApply/prunes_CRDs":    "testapply-prunes-crds-",
		"Test_Under_Score/ünïcode": "test-under-score-n-code-",
		"///":                      "test-",
		"TestAVeryLongNameThatGoesOnAndOnAndOnAndOn": "testaverylongnamethatgoesonandonandonand-",
	} {
		if got := namePrefix(in); got != want {
			t.Errorf("namePrefix(%q) = %q, want %q", in, got, want)
		}
		if len(namePrefix(in)) > 41 {
			t.Errorf("namePrefix(%q) is longer than 41 characters", in)
		}
	}
}
