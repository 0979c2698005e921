module kirjaamo.dev/adapters/demo

go 1.26.8

require (
	kirjaamo.dev/adapters/sdk v0.0.0
	kirjaamo.dev/contracts v0.0.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/nats-io/nats.go v1.55.0 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	kirjaamo.dev/devkit v0.0.0
)

replace (
	kirjaamo.dev/adapters/sdk => ../sdk
	kirjaamo.dev/contracts => ../../contracts
	kirjaamo.dev/devkit => ../../devkit
)
