package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix starts the name of every environment variable envctl reads
// settings from.
const EnvPrefix = "ENVCTL_"

type valueType int

const (
	typeString valueType = iota
	typeInt
	typeBool
	typeFloat
	typeDuration
)

// setting is one repo-wide setting that a flag or environment variable can
// override. name is its path under spec in config.yaml.
type setting struct {
	name  string
	typ   valueType
	def   any
	usage string
}

// settingTable lists every overridable setting; it is the single source of
// the defaults, the flag and variable names and the help text.
var settingTable = []setting{
	{"defaultEnvironment", typeString, "local", "environment used when a command is given none"},
	{"environmentsDir", typeString, "environments", "directory of environment files, relative to the repository root"},
	{"render.concurrency", typeInt, 4, "how many components render at once"},
	{"render.allowRemoteBases", typeBool, false, "let kustomizations load bases over the network"},
	{"render.allowChartLookup", typeBool, false, "let chart templates call lookup against the cluster"},
	{"render.kubeVersion", typeString, "", "Kubernetes version charts are rendered for (default: the cluster's)"},
	{"apply.fieldManager", typeString, "envctl", "field manager name used for server-side apply"},
	{"apply.concurrency", typeInt, 16, "apply requests in flight within one stage"},
	{"apply.forceConflicts", typeBool, false, "take over fields owned by other field managers"},
	{"apply.timeout", typeDuration, 5 * time.Minute, "default time a component has to become healthy"},
	{"prune.enabled", typeBool, true, "delete objects that are no longer declared"},
	{"prune.maxFraction", typeFloat, 0.5, "refuse a prune deleting more than this fraction of the inventory"},
	{"prune.allowNamespaces", typeBool, false, "let prune delete Namespaces"},
	{"cluster.timeout", typeDuration, 10 * time.Minute, "how long creating the cluster (or starting its stopped nodes) and waiting until it is usable may take"},
	{"cluster.runtimeWait", typeDuration, 30 * time.Second, "how long provider auto waits for an installed container runtime that does not answer yet"},
}

// flagName derives a setting's flag: the path in kebab case, with the dots
// as dashes (apply.fieldManager -> apply-field-manager).
func (s setting) flagName() string {
	var b strings.Builder
	for _, r := range s.name {
		switch {
		case r == '.':
			b.WriteByte('-')
		case unicode.IsUpper(r):
			b.WriteByte('-')
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// envName derives a setting's variable from its flag, as every flag's
// variable is derived (FlagEnv): apply.fieldManager is
// --apply-field-manager and ENVCTL_APPLY_FIELD_MANAGER.
func (s setting) envName() string {
	return FlagEnv(s.flagName())
}

// legacyEnvName is the variable earlier releases read: the path upper-cased
// with the dots as underscores and camelCase squashed
// (ENVCTL_APPLY_FIELDMANAGER). It is still read, with a deprecation
// warning; "" when it is the same as envName.
func (s setting) legacyEnvName() string {
	old := EnvPrefix + strings.ToUpper(strings.ReplaceAll(s.name, ".", "_"))
	if old == s.envName() {
		return ""
	}
	return old
}

func (s setting) defaultString() string {
	return formatValue(s.def)
}

func formatValue(v any) string {
	switch v := v.(type) {
	case time.Duration:
		return Duration{Duration: v}.String()
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// Key describes one overridable setting, for help text and documentation.
type Key struct {
	// Name is the path under spec in config.yaml, such as apply.concurrency.
	Name string
	// Flag is the flag name without dashes, such as apply-concurrency.
	Flag string
	// Env is the environment variable, such as ENVCTL_APPLY_CONCURRENCY.
	Env string
	// Default is the default value as it would be written in config.yaml.
	Default string
	// Usage says what the setting does.
	Usage string
}

// Keys lists the overridable settings in the order config.yaml documents them.
func Keys() []Key {
	out := make([]Key, len(settingTable))
	for i, s := range settingTable {
		out[i] = Key{Name: s.name, Flag: s.flagName(), Env: s.envName(), Default: s.defaultString(), Usage: s.usage}
	}
	return out
}

// BindFlags adds the override flags for the named settings (all of them
// when none are named) to fs. A command calls it while building its flags
// and passes the same FlagSet to Load as LoadOptions.Flags; only flags the
// user set override the file. Naming an unknown setting is a programming
// error and panics.
func BindFlags(fs *pflag.FlagSet, names ...string) {
	selected := settingTable
	if len(names) > 0 {
		selected = nil
		for _, n := range names {
			s, ok := lookupSetting(n)
			if !ok {
				panic(fmt.Sprintf("config.BindFlags: unknown setting %q", n))
			}
			selected = append(selected, s)
		}
	}
	for _, s := range selected {
		name := s.flagName()
		if fs.Lookup(name) != nil {
			continue
		}
		usage := fmt.Sprintf("%s (config spec.%s, env %s)", s.usage, s.name, s.envName())
		switch s.typ {
		case typeString:
			fs.String(name, s.def.(string), usage)
		case typeInt:
			fs.Int(name, s.def.(int), usage)
		case typeBool:
			fs.Bool(name, s.def.(bool), usage)
		case typeFloat:
			fs.Float64(name, s.def.(float64), usage)
		case typeDuration:
			fs.Duration(name, s.def.(time.Duration), usage)
		}
	}
}

func lookupSetting(name string) (setting, bool) {
	for _, s := range settingTable {
		if s.name == name {
			return s, true
		}
	}
	return setting{}, false
}

// parseEnv parses an environment variable's value as the setting's type.
func (s setting) parseEnv(val string) (any, error) {
	val = strings.TrimSpace(val)
	switch s.typ {
	case typeInt:
		i, err := strconv.Atoi(val)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", val)
		}
		return i, nil
	case typeBool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", val)
		}
		return b, nil
	case typeFloat:
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", val)
		}
		return f, nil
	case typeDuration:
		d, err := ParseDuration(val)
		if err != nil {
			return nil, err
		}
		return d.Duration, nil
	default:
		return val, nil
	}
}

// field returns the Settings field a setting names, found by json tags.
func (s setting) field(st *Settings) reflect.Value {
	v := reflect.ValueOf(st).Elem()
	for _, part := range strings.Split(s.name, ".") {
		t := v.Type()
		found := false
		for i := range t.NumField() {
			if jsonName(t.Field(i)) == part {
				v = v.Field(i)
				found = true
				break
			}
		}
		if !found {
			panic(fmt.Sprintf("config: setting %q has no field in Settings", s.name))
		}
	}
	return v
}

// get reads the setting's value from st as the plain Go value viper holds.
func (s setting) get(st *Settings) any {
	f := s.field(st)
	switch {
	case f.Type() == durationType:
		return f.Interface().(Duration).Duration
	case f.Kind() == reflect.Pointer:
		if f.IsNil() {
			return nil
		}
		return f.Elem().Interface()
	default:
		return f.Interface()
	}
}

// read returns the setting's effective value from v as its Go type.
func (s setting) read(v *viper.Viper) any {
	switch s.typ {
	case typeInt:
		return v.GetInt(s.name)
	case typeBool:
		return v.GetBool(s.name)
	case typeFloat:
		return v.GetFloat64(s.name)
	case typeDuration:
		return v.GetDuration(s.name)
	default:
		return v.GetString(s.name)
	}
}

// setValue stores val, of the setting's Go type, into st.
func (s setting) setValue(st *Settings, val any) {
	f := s.field(st)
	switch val := val.(type) {
	case time.Duration:
		f.Set(reflect.ValueOf(Duration{Duration: val}))
	case bool:
		if f.Kind() == reflect.Pointer {
			f.Set(reflect.ValueOf(&val))
		} else {
			f.SetBool(val)
		}
	default:
		f.Set(reflect.ValueOf(val))
	}
}

// setNested stores val at a dotted path in m, creating maps on the way.
func setNested(m map[string]any, path string, val any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = val
}
