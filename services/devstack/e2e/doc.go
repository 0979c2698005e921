// Package e2e holds the browser test of the walking skeleton: one access request walked end to end
// by clicking, in headless Chromium, against the whole platform running in-process (devstack). It lives in
// the devstack module, with the embedded servers it links, outside the production module.
package e2e
