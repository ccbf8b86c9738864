package credential

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// FromBindings reads the credentials of the command line's bindings, each
// "NAME=HOST"; a name bound to several hosts may go to each of them. The
// user name and password come from the variables EnvName(NAME, ...), read
// with lookup, never from a flag, whose value anyone can see in ps. flag
// names where the bindings came from, for messages. Every problem is
// reported at once, naming variables, never values.
func FromBindings(bindings []string, flag string, lookup func(string) (string, bool)) (Set, error) {
	set := Set{}
	var problems []error
	for _, b := range bindings {
		name, host, ok := strings.Cut(strings.TrimSpace(b), "=")
		if !ok {
			problems = append(problems, fmt.Errorf("%s %q: want NAME=HOST, such as charts=charts.example.com", flag, b))
			continue
		}
		if err := CheckName(name); err != nil {
			problems = append(problems, fmt.Errorf("%s %q: %w", flag, b, err))
			continue
		}
		h, err := Host(host)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s %q: %w", flag, b, err))
			continue
		}
		c, ok := set[name]
		if !ok {
			c = &Credential{Name: name,
				From: fmt.Sprintf("%s %s with $%s and $%s", flag, name, EnvName(name, PartUsername), EnvName(name, PartPassword))}
			set[name] = c
		}
		if !c.Bound(h) {
			c.Hosts = append(c.Hosts, h)
		}
	}
	for _, name := range set.Names() {
		c := set[name]
		for _, v := range []struct {
			part string
			dst  *string
		}{{PartUsername, &c.Username}, {PartPassword, &c.Password}} {
			val, _ := lookup(EnvName(name, v.part))
			if val == "" {
				problems = append(problems, fmt.Errorf("%s binds credential %q, but %s is not set", flag, name, EnvName(name, v.part)))
			}
			*v.dst = val
		}
		if file, _ := lookup(EnvName(name, PartCAFile)); file != "" {
			ca, err := readCA(file)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", EnvName(name, PartCAFile), err))
			}
			c.CA = ca
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return set, nil
}

// readCA reads a PEM bundle that must hold a certificate.
func readCA(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return data, nil
}

// The form of a credentials file.
const (
	APIVersion = "envctl.dev/v1alpha1"
	Kind       = "HelmCredentials"
)

// File is a credentials file: --helm-credentials-file, and the daemon's
// Secret key that holds its bindings.
//
//	apiVersion: envctl.dev/v1alpha1
//	kind: HelmCredentials
//	credentials:
//	  - name: charts
//	    hosts: [charts.example.com]
//	    username: robot
//	    password: s3cret
//	    ca: |            # optional PEM, trusted for these hosts
type File struct {
	APIVersion  string  `json:"apiVersion"`
	Kind        string  `json:"kind"`
	Credentials []Entry `json:"credentials"`
}

// Entry is one credential of a File.
type Entry struct {
	Name     string   `json:"name"`
	Hosts    []string `json:"hosts"`
	Username string   `json:"username"`
	Password string   `json:"password"`
	CA       string   `json:"ca,omitempty"`
}

// ReadFile reads a credentials file. Its errors name the file and the
// entry, never a value.
func ReadFile(path string) (Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes a credentials file strictly; file names it in messages.
func Parse(data []byte, file string) (Set, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		// The decoder's messages name fields and lines, not values.
		return nil, fmt.Errorf("%s: not a %s file: %v", file, Kind, err)
	}
	var problems []error
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: %s", file, fmt.Sprintf(format, args...)))
	}
	if f.APIVersion != APIVersion || f.Kind != Kind {
		add("want apiVersion %s and kind %s, got %q and %q", APIVersion, Kind, f.APIVersion, f.Kind)
	}
	set := Set{}
	for i, e := range f.Credentials {
		at := fmt.Sprintf("credentials[%d]", i)
		if err := CheckName(e.Name); err != nil {
			add("%s.name: %v", at, err)
			continue
		}
		at = fmt.Sprintf("credential %q", e.Name)
		if _, dup := set[e.Name]; dup {
			add("%s is given twice", at)
			continue
		}
		c := &Credential{Name: e.Name, Username: e.Username, Password: e.Password, From: file}
		if len(e.Hosts) == 0 {
			add("%s: hosts: give the hosts it may be sent to", at)
		}
		for _, h := range e.Hosts {
			n, err := Host(h)
			if err != nil {
				add("%s: hosts: %v", at, err)
				continue
			}
			if !c.Bound(n) {
				c.Hosts = append(c.Hosts, n)
			}
		}
		if e.Username == "" || e.Password == "" {
			add("%s: both username and password are required", at)
		}
		if e.CA != "" {
			if !x509.NewCertPool().AppendCertsFromPEM([]byte(e.CA)) {
				add("%s: ca holds no PEM certificate", at)
			}
			c.CA = []byte(e.CA)
		}
		set[e.Name] = c
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return set, nil
}

// Marshal writes s as a credentials file, the credentials sorted by name.
func Marshal(s Set) ([]byte, error) {
	f := File{APIVersion: APIVersion, Kind: Kind, Credentials: []Entry{}}
	for _, name := range s.Names() {
		c := s[name]
		f.Credentials = append(f.Credentials, Entry{Name: name, Hosts: c.Hosts, Username: c.Username, Password: c.Password, CA: string(c.CA)})
	}
	return yaml.Marshal(f)
}
