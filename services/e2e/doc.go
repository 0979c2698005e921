// Package e2e holds the browser test of the walking skeleton: one access request walked end to end
// by clicking, in headless Chromium, against the whole platform running in-process (devstack). The
// test builds only with -tags devstack, as `make test` runs it, because it links the Temporal server.
package e2e
