// Package contracts holds what the parts of Kirjaamo agree on: the messages that cross a process
// boundary (citizen requests, register declarations, register tasks and results), the rules that
// validate them, the NATS subject names, and the JSON Schemas and OpenAPI description published to
// register owners and API clients.
//
// It depends on nothing but the validator, so that an adapter written by a register owner, the
// workflows and the services can all import it without pulling in each other's dependencies.
package contracts
