package casefile

import _ "embed"

// Schema is the JSON Schema of the access package's JSON document (PackageFormat).
//
//go:embed access-package.v2.schema.json
var Schema []byte
