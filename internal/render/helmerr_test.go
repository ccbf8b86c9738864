package render

import (
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/errs"
)

// A chart that fails while a value holds a secret: the error names the
// template and its location, and never the value.
func TestHelmErrorsDoNotQuoteValues(t *testing.T) {
	const secret = "helm-values-canary-2718"
	tests := []struct {
		name     string
		template string
		want     []string
	}{
		{
			name:     "fail with a message built from a value",
			template: "{{ fail (printf \"cannot use password %s\" .Values.password) }}\n",
			want:     []string{"demo/templates/bad.yaml:1", "fail or required", "withheld"},
		},
		{
			name:     "a function whose error quotes its argument",
			template: "replicas: {{ atoi .Values.password | int }}\n{{ $x := index .Values.password 99 }}\n",
			want:     []string{"demo/templates/bad.yaml:", "withheld"},
		},
		{
			name:     "required with a literal message keeps it",
			template: "{{ required \"set .Values.missing\" .Values.missing }}\n",
			want:     []string{"demo/templates/bad.yaml:1", "set .Values.missing"},
		},
		{
			name:     "required in a named template keeps its literal message",
			template: "{{- define \"demo.password\" -}}\n{{ required \"set .Values.missing\" .Values.missing }}\n{{- end -}}\nvalue: {{ include \"demo.password\" . }}\n",
			want:     []string{"demo/templates/bad.yaml:4", "set .Values.missing"},
		},
		{
			name:     "fail built from a value in a named template, beside a literal required",
			template: "{{- define \"demo.check\" -}}\n{{ fail (printf \"bad password %s\" .Values.password) }}\n{{- end -}}\n{{ required \"set .Values.password\" .Values.password }}{{ include \"demo.check\" . }}\n",
			want:     []string{"demo/templates/bad.yaml:4", "fail or required", "withheld"},
		},
		{
			name:     "YAML made invalid by a value",
			template: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: {{ .Values.password }}: [\n",
			want:     []string{"demo/templates/bad.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyFixture(t)
			write(t, dir, "values/leak.yaml", "password: "+secret+"\n")
			write(t, dir, "charts/demo/templates/bad.yaml", tt.template)
			_, err := renderFixture(t, dir, func(o *Options) {
				h := o.Environment.Component("demo").Helm
				h.ValuesFiles = append(h.ValuesFiles, "values/leak.yaml")
			})
			if err == nil {
				t.Fatal("render succeeded, want an error")
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("error kind %v, want input", errs.KindOf(err))
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if strings.Contains(msg, secret) {
				t.Errorf("the error quotes a value:\n%s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not say %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestHelmErrorMessage(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{
			in:   `template: demo/templates/x.yaml:3:12: executing "demo/templates/x.yaml" at <.Values.a.b>: nil pointer evaluating interface {}.b`,
			want: `template demo/templates/x.yaml:3:12: executing <.Values.a.b>: nil pointer evaluating interface {}.b`,
		},
		{
			in:   `template: demo/templates/x.yaml:1:14: executing "demo/templates/x.yaml" at <atoi .Values.p>: error calling atoi: strconv.Atoi: parsing "s3cret": invalid syntax`,
			want: `template demo/templates/x.yaml:1:14: executing <atoi .Values.p>: error calling atoi: ` + withheld,
		},
		{
			in:   `YAML parse error on demo/templates/x.yaml: error converting YAML to JSON: yaml: line 6: found "s3cret"`,
			want: `YAML parse error on demo/templates/x.yaml ` + withheld,
		},
		{
			in:   `YAML parse error on demo/templates/x.yaml: error converting YAML to JSON: yaml: line 6: mapping values are not allowed in this context`,
			want: `YAML parse error on demo/templates/x.yaml: error converting YAML to JSON: yaml: line 6: mapping values are not allowed in this context`,
		},
		{
			in:   `parse error at (demo/templates/x.yaml:2): unexpected "}" in operand`,
			want: `parse error at (demo/templates/x.yaml:2): unexpected "}" in operand`,
		},
	}
	for _, tt := range tests {
		if got := helmErrorMessage(tt.in, nil); got != tt.want {
			t.Errorf("helmErrorMessage(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
