package render

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// validateChartValues checks vals, coalesced with the chart's defaults as
// Helm does, against the values.schema.json of the chart and of each
// subchart that gets values. It differs from Helm's own check in two ways
// that matter here: it never fetches a schema $ref (rendering is offline and
// confined to the repository), and its messages name the failing field and
// the rule it breaks but never the value, which may be a secret.
func validateChartValues(chrt *chart.Chart, vals map[string]any) error {
	coalesced, err := chartutil.CoalesceValues(chrt, vals)
	if err != nil {
		return fmt.Errorf("coalesce values: %w", err)
	}
	var problems []string
	if err := validateTree(chrt, coalesced, chrt.Name(), "", &problems); err != nil {
		return err
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("values do not match values.schema.json:\n  - %s", strings.Join(problems, "\n  - "))
}

// validateTree validates vals against c's schema and recurses into the
// subcharts; chartPath names c (parent/sub) and prefix is where c's values
// sit in the parent's values.
func validateTree(c *chart.Chart, vals map[string]any, chartPath, prefix string, problems *[]string) error {
	if len(c.Schema) > 0 {
		sch, err := compileSchema(c.Schema)
		if err != nil {
			return fmt.Errorf("chart %s: values.schema.json: %w", chartPath, err)
		}
		if err := sch.Validate(vals); err != nil {
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				return fmt.Errorf("chart %s: values.schema.json: %w", chartPath, err)
			}
			var found []string
			collectProblems(ve, prefix, &found)
			slices.Sort(found)
			for _, f := range slices.Compact(found) {
				if chartPath != c.Name() || prefix != "" {
					f = fmt.Sprintf("%s (schema of subchart %s)", f, chartPath)
				}
				*problems = append(*problems, f)
			}
		}
	}
	for _, sub := range c.Dependencies() {
		raw, ok := vals[sub.Name()]
		if !ok || raw == nil {
			continue
		}
		m, ok := raw.(map[string]any)
		if !ok {
			*problems = append(*problems, fmt.Sprintf("%s%s: must be a map of the subchart's values", prefix, sub.Name()))
			continue
		}
		if err := validateTree(sub, m, chartPath+"/"+sub.Name(), prefix+sub.Name()+".", problems); err != nil {
			return err
		}
	}
	return nil
}

// schemaURL is where a chart's schema is registered in the compiler; it is
// never fetched.
const schemaURL = "file:///values.schema.json"

// offlineLoader refuses every schema reference outside the chart's schema.
// Unresolved urn: references become permissive schemas, as Helm treats them.
type offlineLoader struct{}

func (offlineLoader) Load(url string) (any, error) {
	if strings.HasPrefix(url, "urn:") {
		return true, nil
	}
	return nil, fmt.Errorf("schema reference %q is not loaded: rendering is offline and confined to the repository", url)
}

func compileSchema(data []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(offlineLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
}

var printer = message.NewPrinter(language.English)

// collectProblems appends one "field: rule" line per leaf of a validation
// error tree.
func collectProblems(ve *jsonschema.ValidationError, prefix string, out *[]string) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectProblems(c, prefix, out)
		}
		return
	}
	field := fieldPath(prefix, ve.InstanceLocation)
	*out = append(*out, fmt.Sprintf("%s: %s", field, describeKind(ve.ErrorKind)))
}

// fieldPath writes an instance location the way values are addressed on
// Helm's command line: image.tag, ports[0].name.
func fieldPath(prefix string, loc []string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(prefix, "."))
	for _, seg := range loc {
		if _, err := strconv.Atoi(seg); err == nil {
			fmt.Fprintf(&b, "[%s]", seg)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	if b.Len() == 0 {
		return "(top level)"
	}
	return b.String()
}

// describeKind says which rule a value broke. The kinds whose messages quote
// the offending value are rewritten without it.
func describeKind(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Pattern:
		return fmt.Sprintf("does not match pattern %q", k.Want)
	case *kind.Format:
		return fmt.Sprintf("is not a valid %s", k.Want)
	case *kind.ContentEncoding:
		return fmt.Sprintf("is not valid %s", k.Want)
	case *kind.ContentMediaType:
		return fmt.Sprintf("is not valid %s", k.Want)
	case *kind.InvalidJsonValue:
		return "is not a JSON value"
	case *kind.Minimum:
		return fmt.Sprintf("must be at least %s", k.Want.RatString())
	case *kind.Maximum:
		return fmt.Sprintf("must be at most %s", k.Want.RatString())
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("must be greater than %s", k.Want.RatString())
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("must be less than %s", k.Want.RatString())
	case *kind.MultipleOf:
		return fmt.Sprintf("must be a multiple of %s", k.Want.RatString())
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters long", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long", k.Want)
	}
	return k.LocalizedString(printer)
}
