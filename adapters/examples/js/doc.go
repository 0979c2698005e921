// Package js holds the example register adapter written in JavaScript (index.mjs, on the npm package
// nats, and node:crypto), and the Go tests that check it. There is no Go code to import: the package
// exists so that `go test ./...` in this module runs the JavaScript adapter's checks.
//
// The example shows the whole register protocol of contracts/PROTOCOL.md without the Go SDK:
//
//   - announcing the declaration, heartbeats, the durable task consumer, validation, results with
//     Nats-Msg-Id result/<task id>, ack after the result is stored, and a drain on SIGTERM;
//   - the effect record (bucket register-<id>-done, bound, never created): every task first reads its
//     key and answers a recorded cancellation without doing anything; an erasure creates its claim,
//     renews it with each progress heartbeat, and replaces it with its result at the claim's revision;
//     a recorded result is the answer to a redelivery; another instance's fresh claim is nak'ed with a
//     delay; a claim not renewed for five ack waits, by the server's clock, is taken over;
//   - packages: a lookup's records come from a cursor, inline while their JSON stays within the task's
//     inline limit, and past it streamed as JSON Lines, sealed to the case's key (sealed.mjs: X25519,
//     HKDF-SHA256, AES-256-GCM chunks in the STREAM construction), into the object store bucket
//     register-<id>-packages under the task id, answered with a package reference (records, size and
//     SHA-256 of the plaintext, the ephemeral key and chunk size). Nothing holds more than the inline
//     limit and one chunk.
//
// The tests: TestSealingMatchesTheWorkedExample runs sealed.test.mjs under `node --test`, which
// reproduces contracts/sealed/testdata/vector.json byte for byte from its fixed keys;
// TestJavaScriptAdapterPassesTheConformanceKit runs the kit register owners run; protocol_test.go plays
// the platform on an embedded NATS server, opens packages with kirjaamo.dev/contracts/sealed and
// compares them with the same records inline, and puts each state in the effect record (a
// cancellation, a live claim, a crashed instance's claim, a value that is no outcome).
package js
