module kirjaamo.dev/adapters/demo

go 1.26.8
