package ui

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// VersionInfo is what `envctl version -o json` prints.
type VersionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// NewVersionInfo describes this build of envctl, of release version.
func NewVersionInfo(version string) VersionInfo {
	v := VersionInfo{
		Version:   version,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Revision = s.Value
			}
		}
	}
	return v
}

// WriteVersion prints v as JSON, or as one line for a person.
func WriteVersion(w io.Writer, format string, v VersionInfo) error {
	if IsData(format) {
		return WriteData(w, format, v)
	}
	fmt.Fprintf(w, "envctl %s (%s, %s)\n", v.Version, v.GoVersion, v.Platform)
	return nil
}
