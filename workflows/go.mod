module kirjaamo.dev/workflows

go 1.26.8

require (
	go.temporal.io/api v1.63.5 // indirect
	go.temporal.io/sdk v1.50.0 // indirect
	kirjaamo.dev/contracts v0.0.0
	kirjaamo.dev/rules v0.0.0
)

replace kirjaamo.dev/contracts => ../contracts

replace kirjaamo.dev/rules => ../rules
