module kirjaamo.dev/contracts

go 1.26.8
