// Package sdk is what a register owner needs to plug a register into Kirjaamo: in one file, write the
// handlers of the operations the register supports, name them in Operations beside the register's
// declaration, and call Main (or Run). The SDK takes care of the rest: the JetStream consumer,
// decoding and validation, idempotency by task id, progress heartbeats, retry classification,
// announcing the register's declaration, liveness heartbeats and a drain bounded by a grace period.
//
// A register also tells the platform each time it processes a person's data, so that the person sees
// who used it and why: one call, Events.Processing (processing.go), buffered and delivered at least
// once, idempotent by event id, with Events.Backfill for a register's existing log.
//
// It has no Temporal dependency: adapters speak only the wire protocol of kirjaamo.dev/contracts.
//
// # Versions
//
// A register owner's module requires the SDK at a version, like any other dependency:
//
//	go get kirjaamo.dev/adapters/sdk@v0.1.0
//
// Two of the repository's modules are published for owners: kirjaamo.dev/contracts (the directory
// contracts/) and kirjaamo.dev/adapters/sdk (adapters/sdk/, the conformance kit included). Each is
// versioned on its own by semantic versioning, with git tags prefixed by its directory, as the go
// command looks them up for a module in a subdirectory of its repository: contracts/v0.1.0 for
// kirjaamo.dev/contracts v0.1.0, adapters/sdk/v0.1.0 for kirjaamo.dev/adapters/sdk v0.1.0. A v0
// version may still change its API; from v1 on a change that breaks it needs a new major version,
// whose module path ends in /v2 and so on.
//
// The SDK's go.mod requires the version of contracts it is released with, and the adapters modules
// of the repository (demo, examples, sqladapter) require both at their versions too. Their replace
// directives point at the directories beside them, so that inside the repository everything builds
// from the same commit; the go command ignores the replace directives of a module that is a
// dependency, so an owner's build takes the versions required. A release therefore goes: tag
// contracts if it changed, set the SDK's requirement to that version, tag the SDK, and set the
// adapters modules' requirements to the new versions. The repository's other modules are the
// platform's (services, workflows, rules, devkit ...): they are not published and stay at v0.0.0,
// built from the repository only, and the SDK requires none of them, its tests included (they start
// NATS with nats-server's own package).
//
// For the go command to find the modules, https://kirjaamo.dev/PATH?go-get=1 must answer for
// kirjaamo.dev itself and every path beneath it (the go command asks for a package's path and the
// paths above it: kirjaamo.dev/adapters/sdk/conformance, kirjaamo.dev/adapters/sdk ...), over HTTPS
// with a valid certificate, with an HTML page whose head holds the same import meta tag each time:
//
//	<meta name="go-import" content="kirjaamo.dev git https://REPOSITORY-URL">
//
// Its prefix, kirjaamo.dev, is the import path of the repository's root, which is no module itself:
// the go command finds each module in its directory, and its versions by the directory's tags. A
// go-source meta tag besides lets pkg.go.dev link the documentation to the source. If the repository
// is public, proxy.golang.org and sum.golang.org serve and vouch for the versions once fetched; if it
// is not, owners set GOPRIVATE=kirjaamo.dev and need read access to the repository.
//
// TestAnOwnerOutsideTheRepositoryGetsTheSDKAtAVersion (module_test.go) checks this without tags or
// the vanity server: it zips the two modules from their directories into a module proxy of its own,
// and builds and runs an owner's adapter from it.
package sdk
