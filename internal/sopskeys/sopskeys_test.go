package sopskeys

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct{ addr, network, dial string }{
		{"tcp://127.0.0.1:5000", "tcp", "127.0.0.1:5000"},
		{"tcp://sops-keyservice.sops.svc:5000", "tcp", "sops-keyservice.sops.svc:5000"},
		{"tcp://[::1]:5000", "tcp", "[::1]:5000"},
		{"unix:///run/sops/keyservice.sock", "unix", "/run/sops/keyservice.sock"},
	} {
		network, dial, err := ParseAddress(tc.addr)
		if err != nil || network != tc.network || dial != tc.dial {
			t.Errorf("%s: %s %s %v, want %s %s", tc.addr, network, dial, err, tc.network, tc.dial)
		}
	}
	for _, bad := range []string{"127.0.0.1:5000", "tcp://host", "http://host:5000", "unix://relative.sock", "tcp://host:5000/path", ""} {
		if _, _, err := ParseAddress(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDefaultKeysFile follows sops' getUserConfigDir.
func TestDefaultKeysFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "xdg"))
	got, err := DefaultKeysFile()
	if err != nil || got != filepath.Join(home, "xdg", "sops", "age", "keys.txt") {
		t.Errorf("with XDG_CONFIG_HOME: %s %v", got, err)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	want := filepath.Join(home, ".config", "sops", "age", "keys.txt")
	if runtime.GOOS == "darwin" {
		want = filepath.Join(home, "Library", "Application Support", "sops", "age", "keys.txt")
	}
	if got, err := DefaultKeysFile(); err != nil || got != want {
		t.Errorf("without XDG_CONFIG_HOME: %s %v, want %s", got, err, want)
	}
}

// TestKMSKeyEncodingIsStable: the encryption context goes out in key
// order, so a request is the same bytes every time.
func TestKMSKeyEncodingIsStable(t *testing.T) {
	ctx := map[string]string{"b": "2", "a": "1", "c": "3"}
	first := string(KMSKey("arn", "", ctx, "").msg)
	for range 20 {
		if got := string(KMSKey("arn", "", ctx, "").msg); got != first {
			t.Fatal("the KMS key encodes differently from one call to the next")
		}
	}
}
