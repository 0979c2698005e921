// Package e2e holds the browser test: the walking skeleton (an access request walked end to end by
// clicking, a citizen and a clerk) and the walk of the citizen's side in Finnish, Swedish and English
// (every right through the form to its reply, with axe-core on every page state and a check that
// each page is in its language), in headless Chromium against the whole platform running in-process
// (devstack). It lives in the devstack module, with the embedded servers it links, outside the
// production module. axe-core comes from npm: `npm ci` here, which the test runs when it is missing.
package e2e
