package contracts

import _ "embed"

// OpenAPI is the description of the portal's and the office's JSON APIs.
//
//go:embed openapi.yaml
var OpenAPI []byte
