package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ParseDuration parses a duration as written in configuration ("90s", "2m",
// "1h30m"). A bare number is rejected rather than read as nanoseconds,
// because `timeout: 30` almost always means seconds.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return Duration{}, fmt.Errorf("%q is not a duration; write it with a unit, such as 90s, 2m or 1h30m", s)
	}
	return Duration{Duration: d}, nil
}

// String formats d the way people write it: "5m" rather than time's "5m0s".
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalJSON writes d as a string such as "2m", so that `config view -o json`
// prints what a user would write in the file.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a string such as "2m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"90s\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
