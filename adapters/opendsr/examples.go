package opendsr

import "embed"

// Examples are the example configurations of forwarding registers, in examples/: the dev stack runs
// the Kela web analytics vendor from one, with the demo processor's address filled in.
//
//go:embed examples/*.json
var Examples embed.FS
