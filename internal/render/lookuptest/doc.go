// Package lookuptest holds the test of chart lookups against a real API
// server. It lives apart from package render so that render's own tests,
// which need no cluster, do not link the embedded control plane.
package lookuptest
