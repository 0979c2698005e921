// Package schemas publishes the JSON Schemas of Kirjaamo's messages, so that register owners writing
// in other languages, and the services that serve the schemas, read the same files the tests check.
package schemas

import "embed"

// FS holds every schema, by file name, e.g. "declaration.v1.schema.json".
//
//go:embed *.json
var FS embed.FS
