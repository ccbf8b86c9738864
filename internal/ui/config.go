package ui

import (
	"io"

	"github.com/envctl/envctl/internal/config"
)

// WriteConfigView prints the effective configuration as JSON or YAML;
// origins, when set, comments each setting with where its value came from.
func WriteConfigView(w io.Writer, format string, v config.View, origins *config.Repo) error {
	if format == "json" {
		return WriteJSON(w, v)
	}
	data, err := v.YAML(origins)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
