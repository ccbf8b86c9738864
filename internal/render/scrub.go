package render

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
)

// Redacted stands in an error's text for a secret or decrypted value.
const Redacted = "<redacted>"

// Scrub returns err with every one of values replaced by Redacted in its
// text: as written, base64-encoded (a Secret's data) and Go-quoted (an
// error's %q), and each line of a value of several lines. Values shorter
// than minSecretLen are left alone, as the masking of output does. The
// result unwraps to err, so that its kind and causes are kept; nil stays
// nil.
func Scrub(err error, values []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	scrubbed := redact(msg, values)
	if scrubbed == msg {
		return err
	}
	return &scrubbedError{msg: scrubbed, err: err}
}

// redact replaces every one of values in text by Redacted, in the forms
// Scrub lists.
func redact(text string, values []string) string {
	var forms []string
	for _, v := range values {
		if len(v) < minSecretLen {
			continue
		}
		forms = append(forms, v, base64.StdEncoding.EncodeToString([]byte(v)))
		if q := strconv.Quote(v); q[1:len(q)-1] != v {
			forms = append(forms, q[1:len(q)-1])
		}
		if strings.Contains(v, "\n") {
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); len(line) >= minSecretLen {
					forms = append(forms, line)
				}
			}
		}
	}
	// Longest first, so that a value holding another is replaced whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		text = strings.ReplaceAll(text, f, Redacted)
	}
	return text
}

// Redact returns text with every value this render decrypted, and every
// credential's password, replaced by Redacted: for output that shows
// rendered objects other than Secrets (a ConfigMap built from a SOPS
// file), such as a pull request's preview. A nil result redacts nothing.
func (r *Result) Redact(text string) string {
	if r == nil {
		return text
	}
	return redact(text, r.sensitive)
}

// scrubbedError is an error whose text had secret values taken out.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// sensitive are the values this render's errors must not show: what it
// decrypted and the credentials' passwords.
func (r *renderer) sensitive() []string {
	values := r.opts.Credentials.Secrets()
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	for _, s := range r.secrets {
		values = append(values, s...)
	}
	return values
}
