// Package js holds the example register adapter written in JavaScript (index.mjs, on the npm package
// nats), and the Go test that runs the conformance kit against it. There is no Go code to import: the
// package exists so that `go test ./...` in this module runs the JavaScript adapter's check.
package js
