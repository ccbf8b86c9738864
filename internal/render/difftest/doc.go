// Package difftest holds the differential test of envctl's decoding: every
// mutation of internal/render/decodecases goes through envctl (a manifests
// directory, a kustomization, a chart template) and through kubectl's own
// decoding to a server-side dry-run on a real API server, and the verdicts
// and the objects sent are compared. It lives apart from package render so
// that render's own tests and fuzz targets do not link the embedded control
// plane.
package difftest
