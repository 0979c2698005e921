package opendsr

import "embed"

// Examples are the example configurations of forwarding registers, in examples/: the dev stack runs
// the Kela web analytics vendor from one, with the demo processor's address filled in.
//
//go:embed examples/*.json
var Examples embed.FS

// SpecExamples are the example messages of the OpenDSR documents themselves (testdata/spec, each
// file's source in its SOURCE.md), which the tests of both roles pass through the platform.
//
//go:embed testdata/spec/*.json
var SpecExamples embed.FS
