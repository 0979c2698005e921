module kirjaamo.dev/adapters/sdk

go 1.26.8
