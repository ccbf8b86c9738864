package sopskeys

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	sopsage "github.com/getsops/sops/v3/age"
)

// AgeLookup opens age-encrypted data keys with the identities sops itself
// would find, by running sops' own age key source: in sops v3.13.3's
// order, SOPS_AGE_SSH_PRIVATE_KEY_FILE, SOPS_AGE_SSH_PRIVATE_KEY_CMD,
// ~/.ssh/id_ed25519, ~/.ssh/id_rsa, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE,
// SOPS_AGE_KEY_CMD and the user's sops/age/keys.txt (Locations). The
// commands come from this process's environment only and run, as sops
// runs them, with SOPS_AGE_RECIPIENT set to the recipient asked for.
//
// Keys are loaded at most once per recipient for the lookup's life; use
// one per render, so that a later render sees rotated keys. It is safe for
// concurrent use.
type AgeLookup struct {
	mu sync.Mutex
	// keys hold, per recipient, a sops master key whose identities sops
	// loaded; none means the lookup found no identity (noKeys says why).
	keys   map[string]*sopsage.MasterKey
	noKeys map[string]error
	// last is the last error sops gave, for messages.
	last error
}

// Decrypt opens enc, a data key encrypted for recipient.
func (l *AgeLookup) Decrypt(recipient, enc string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.noKeys[recipient]; err != nil {
		return nil, err
	}
	// sops would fail on a blank command (it has no program to run).
	for _, name := range []string{EnvAgeKeyCmd, EnvAgeSSHPrivateKeyCmd} {
		if v, ok := os.LookupEnv(name); ok && strings.TrimSpace(v) == "" {
			l.last = errors.New("$" + name + " is set but empty")
			return nil, l.last
		}
	}
	mk := l.keys[recipient]
	if mk == nil {
		mk = &sopsage.MasterKey{Recipient: recipient}
	}
	mk.EncryptedKey = enc
	key, err := mk.Decrypt()
	if err == nil {
		l.remember(recipient, mk)
		return key, nil
	}
	l.last = err
	// sops keeps the identities it loaded on the master key unless it
	// found none; then it would load (and run the commands) again.
	if strings.HasPrefix(err.Error(), "failed to load age identities") {
		if l.noKeys == nil {
			l.noKeys = map[string]error{}
		}
		l.noKeys[recipient] = err
	} else {
		l.remember(recipient, mk)
	}
	return nil, err
}

func (l *AgeLookup) remember(recipient string, mk *sopsage.MasterKey) {
	if l.keys == nil {
		l.keys = map[string]*sopsage.MasterKey{}
	}
	l.keys[recipient] = mk
}

// Detail is what sops last said about a failed lookup (which locations
// held no key, which failed to load), or "".
func (l *AgeLookup) Detail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		return ""
	}
	// Locations lists the places; what sops adds is why they failed.
	d, _, _ := strings.Cut(l.last.Error(), ". Did not find keys in location")
	if d == "failed to load age identities" {
		return ""
	}
	return d
}

// The environment variables sops' age key source reads.
const (
	EnvAgeKey                = sopsage.SopsAgeKeyEnv
	EnvAgeKeyFile            = sopsage.SopsAgeKeyFileEnv
	EnvAgeKeyCmd             = sopsage.SopsAgeKeyCmdEnv
	EnvAgeSSHPrivateKeyFile  = sopsage.SopsAgeSshPrivateKeyFileEnv
	EnvAgeSSHPrivateKeyCmd   = sopsage.SopsAgeSshPrivateKeyCmdEnv
	EnvAgeRecipient          = sopsage.SopsAgeRecipientEnv
	defaultKeysUnderConfig   = sopsage.SopsAgeKeyUserConfigPath
	envXDGConfigHome         = "XDG_CONFIG_HOME"
	locationNotSet           = "not set"
	locationAbsent           = "absent"
	locationUndeterminedHome = "no home directory"
)

// Location is one place sops' age lookup reads, and what is there now.
type Location struct {
	// Name is an environment variable ($NAME) or a file.
	Name string
	// State is "" when set or present, else why it holds no key: "not
	// set", "absent", "no home directory".
	State string
}

func (l Location) String() string {
	if l.State == "" {
		return l.Name
	}
	return l.Name + " (" + l.State + ")"
}

// Locations are the places sops' age lookup reads, in its order, with
// what is there in this process's environment.
func Locations() []Location {
	env := func(name string) Location {
		if _, ok := os.LookupEnv(name); ok {
			return Location{Name: "$" + name}
		}
		return Location{Name: "$" + name, State: locationNotSet}
	}
	file := func(path string, err error) Location {
		if err != nil || path == "" {
			return Location{Name: path, State: locationUndeterminedHome}
		}
		if _, err := os.Stat(path); err != nil {
			return Location{Name: path, State: locationAbsent}
		}
		return Location{Name: path}
	}
	home, err := os.UserHomeDir()
	out := []Location{env(EnvAgeSSHPrivateKeyFile), env(EnvAgeSSHPrivateKeyCmd)}
	for _, name := range []string{"id_ed25519", "id_rsa"} {
		p := ""
		if err == nil {
			p = filepath.Join(home, ".ssh", name)
		}
		l := file(p, err)
		if p == "" {
			l.Name = "~/.ssh/" + name
		}
		out = append(out, l)
	}
	out = append(out, env(EnvAgeKey), env(EnvAgeKeyFile), env(EnvAgeKeyCmd))
	p, err := DefaultKeysFile()
	l := file(p, err)
	if p == "" {
		l.Name = "sops/age/keys.txt in the user configuration directory"
	}
	return append(out, l)
}

// DefaultKeysFile is the keys file sops reads without being told:
// $XDG_CONFIG_HOME/sops/age/keys.txt, else ~/.config/sops/age/keys.txt on
// Linux and ~/Library/Application Support/sops/age/keys.txt on macOS
// (where sops, unlike Go, honours XDG_CONFIG_HOME too).
func DefaultKeysFile() (string, error) {
	dir := os.Getenv(envXDGConfigHome)
	if runtime.GOOS != "darwin" || dir == "" {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return "", err
		}
	}
	if dir == "" {
		return "", errors.New("no user configuration directory")
	}
	return filepath.Join(dir, filepath.FromSlash(defaultKeysUnderConfig)), nil
}
